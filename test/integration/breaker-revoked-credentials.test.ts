import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';
import { SETTLED_TASK_STATES } from '../../src/ledger/ledger-types.js';

/**
 * Issue 17, acceptance 2: Pinpoint's credentials are revoked mid-run. Pinpoint's breaker opens and
 * its queue pauses; its tasks wait with the reason, spending no attempt; S3 and App Center finish.
 * After the key is fixed and an operator runs `erasure queues resume pinpoint`, every request
 * finishes: none lost, none failed.
 */
describe('Credentials revoked mid-run (issue 17)', function () {
  this.timeout(240_000);
  const vendors = ['pinpoint', 's3', 'appcenter'];
  let service: TestService;

  before(async () => {
    service = await startTestService({
      subjects: 40,
      file: {
        sandbox: {
          subjects: 40,
          clockSpeed: 1,
          vendorOverrides: { s3: { batchWindowMs: 200 }, appcenter: { sweep: { windowMs: 200, maxMembers: 1000 } } },
        },
      },
    });
  });
  after(async () => service?.close());

  async function submit(i: number): Promise<string> {
    const res = await service.api('/v1/requests', { body: { subject: { userId: `user-${i}` }, vendors } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.id as string;
  }
  const view = async (id: string) => (await service.api(`/v1/requests/${id}`)).body;

  it('pauses Pinpoint only, keeps its tasks waiting with the reason, and finishes everything after the fix and a resume', async () => {
    const before = [await submit(1), await submit(2)];
    for (const id of before) await service.waitForRequest(id, 60_000);
    for (const id of before) expect((await view(id)).status).to.equal('completed');

    service.sandbox!.faults.set('pinpoint', { credentialsRevoked: true });
    const during: string[] = [];
    for (let i = 3; i < 9; i++) during.push(await submit(i));

    const breaker = await waitFor(async () => {
      const state = await service.breaker.state('pinpoint');
      return state.state === 'open' ? state : undefined;
    }, 60_000);
    expect(breaker).to.include({ fault: 'credentials', configKey: 'vendors.pinpoint.credentials' });
    expect(await service.queues.queue('pinpoint').isPaused()).to.equal(true);

    // The other vendors finish every request; Pinpoint's tasks wait, with the reason, and no attempt failed.
    await waitFor(
      async () => {
        for (const id of during) {
          const tasks = (await view(id)).tasks as Array<{ vendor: string; state: string; waitingReason?: string }>;
          if (tasks.some((t) => t.vendor !== 'pinpoint' && !SETTLED_TASK_STATES.includes(t.state as never)))
            return false;
          if (
            tasks.some(
              (t) =>
                t.vendor === 'pinpoint' &&
                !(t.state === 'waiting_vendor' && t.waitingReason?.includes('vendors.pinpoint.credentials')),
            )
          )
            return false;
        }
        return true;
      },
      120_000,
      200,
    );
    for (const id of during) {
      const v = await view(id);
      expect(v.status, 'still open while Pinpoint is paused').to.equal('in_progress');
      for (const t of v.tasks.filter((x: { vendor: string }) => x.vendor !== 'pinpoint'))
        expect(t.state, `${t.vendor} ${t.action}`).to.be.oneOf(['succeeded', 'not_found', 'skipped']);
      for (const t of v.tasks.filter((x: { vendor: string }) => x.vendor === 'pinpoint'))
        expect(t.error ?? null).to.equal(null);
    }
    expect((await service.api('/readyz')).status).to.equal(200);
    // While paused, the admin page names the vendor and the key to fix.
    const page = await fetch(`${service.url}/admin`, { headers: { authorization: `Bearer ${service.adminToken}` } });
    expect(await page.text())
      .to.include('Vendor paused')
      .and.include('vendors.pinpoint.credentials')
      .and.include('erasure queues resume pinpoint');

    // The fix, then the operator's resume through the CLI.
    service.sandbox!.faults.set('pinpoint', { credentialsRevoked: false });
    const resumed = await runCli(['queues', 'resume', 'pinpoint', ...serviceFlags(service)]);
    expect(resumed.code, resumed.stderr).to.equal(0);
    expect((await service.breaker.state('pinpoint')).state).to.equal('closed');

    for (const id of during) await service.waitForRequest(id, 120_000);
    for (const id of [...before, ...during]) {
      const v = await view(id);
      expect(v.status, id).to.equal('completed');
      expect(v.tasks.filter((t: { state: string }) => t.state === 'failed')).to.deep.equal([]);
      const pinpoint = v.tasks.find((t: { vendor: string }) => t.vendor === 'pinpoint');
      expect(pinpoint.evidence.verification).to.equal('verified_absent');
    }
  });
});

describe('A 5xx storm opens the breaker; a half-open probe resumes the queue (issue 17)', function () {
  this.timeout(180_000);
  let service: TestService;
  before(async () => {
    service = await startTestService({
      subjects: 20,
      file: { breaker: { consecutiveFailures: 2, probeAfterMs: 500 } },
    });
  });
  after(async () => service?.close());

  it('pauses Pinpoint during the outage, then finishes every request without an operator and without a failed task', async () => {
    service.sandbox!.faults.set('pinpoint', { outage: true });
    const ids: string[] = [];
    for (const i of [1, 2, 3]) {
      const res = await service.api('/v1/requests', {
        body: { subject: { userId: `user-${i}` }, vendors: ['pinpoint'] },
      });
      ids.push(res.body.id);
    }
    const opened = await waitFor(async () => {
      const state = await service.breaker.state('pinpoint');
      return state.state !== 'closed' ? state : undefined;
    }, 60_000);
    expect(opened.fault).to.equal('transient');
    expect(opened.reason).to.match(
      /consecutive failures; last: pinpoint GetUserEndpoints failed \(503 ServiceUnavailableException\)/,
    );

    service.sandbox!.faults.set('pinpoint', { outage: false });
    for (const id of ids) await service.waitForRequest(id, 60_000);
    for (const id of ids) {
      const view = (await service.api(`/v1/requests/${id}`)).body;
      expect(view.status).to.equal('completed');
      expect(view.tasks[0].state).to.equal('succeeded');
    }
    expect((await service.breaker.state('pinpoint')).state, 'the probe’s success closed it').to.equal('closed');
    expect(await service.queues.queue('pinpoint').isPaused()).to.equal(false);
  });
});
