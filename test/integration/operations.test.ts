import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';

describe('On-call operations through the API', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  async function failedRequest(userId: string): Promise<string> {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['pinpoint'] } });
    await service.waitForRequest(res.body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    return res.body.id as string;
  }

  it('lists the failed tasks of a vendor on a dry run, touching nothing, then retries them with the reason audited', async () => {
    const [a, b] = [await failedRequest('user-20'), await failedRequest('user-21')];
    const dry = await service.api('/v1/retries', {
      body: { vendor: 'pinpoint', reason: 'Pinpoint outage over', dryRun: true },
    });
    expect(dry.status).to.equal(200);
    expect(dry.body.tasks.map((t: { requestId: string }) => t.requestId)).to.include.members([a, b]);
    expect((await service.ledger.requests.getRequest(a))!.status, 'a dry run changes nothing').to.equal('failed');

    const run = await service.api('/v1/retries', { body: { vendor: 'pinpoint', reason: 'Pinpoint outage over' } });
    expect(run.status).to.equal(202);
    for (const id of [a, b]) {
      await waitFor(async () =>
        (await service.ledger.requests.getRequest(id))!.status === 'completed' ? true : undefined,
      );
      const trail = await service.ledger.audit.auditTrail(id);
      expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('Pinpoint outage over');
    }
  });

  it('refuses a bulk retry without a reason, without a filter, or with "all" and a filter', async () => {
    expect((await service.api('/v1/retries', { body: { vendor: 'pinpoint' } })).status).to.equal(400);
    const noFilter = await service.api('/v1/retries', { body: { reason: 'because' } });
    expect(noFilter.status).to.equal(400);
    expect(noFilter.body.error.details[0].problem).to.include('vendor').and.include('all');
    const allAndVendor = await service.api('/v1/retries', {
      body: { reason: 'because', all: true, vendor: 'pinpoint' },
    });
    expect(allAndVendor.status).to.equal(400);
    expect(allAndVendor.body.error.details[0].problem).to.equal('takes only one of: all, vendor');
    expect(
      (await service.api('/v1/retries', { body: { reason: 'because', all: false } })).status,
      'all: false names nothing',
    ).to.equal(400);
  });

  it('lists every failed task, whatever its vendor, on a dry run with all: true', async () => {
    const id = await failedRequest('user-23');
    const dry = await service.api('/v1/retries', {
      body: { all: true, reason: 'every failure since the outage', dryRun: true },
    });
    expect(dry.status).to.equal(200);
    expect(dry.body.tasks.map((t: { requestId: string }) => t.requestId)).to.include(id);
    expect((await service.ledger.requests.getRequest(id))!.status, 'a dry run changes nothing').to.equal('failed');
  });

  it('pauses and resumes a vendor queue, recording who did it', async () => {
    const paused = await service.api('/v1/queues/pinpoint/pause', { body: {} });
    expect(paused.body).to.deep.equal({ queue: 'pinpoint', paused: true });
    const res = await service.api('/v1/requests', { body: { subject: { userId: 'user-22' }, vendors: ['pinpoint'] } });
    const task = (await service.ledger.tasks.getTasks(res.body.id))[0];
    const job = await service.queues.queue('pinpoint').getJob(task.id);
    expect(await job!.getState(), 'nothing runs while paused').to.equal('prioritized');
    const resumed = await service.api('/v1/queues/pinpoint/resume', { body: {} });
    expect(resumed.body.paused).to.equal(false);
    await service.waitForRequest(res.body.id);
    expect((await service.api('/v1/queues/nope/pause', { body: {} })).status).to.equal(404);
  });

  it('extends a deadline by whole days with a reason', async () => {
    const res = await service.api('/v1/requests', { body: { subject: { userId: 'user-23' }, vendors: ['pinpoint'] } });
    const before = new Date(res.body.dueAt).getTime();
    const extended = await service.api(`/v1/requests/${res.body.id}/extend`, {
      body: { days: 30, reason: 'complex request, Art. 12(3)' },
    });
    expect(extended.status).to.equal(200);
    expect(new Date(extended.body.dueAt).getTime() - before).to.equal(30 * 86_400_000);
    expect(
      (await service.api(`/v1/requests/${res.body.id}/extend`, { body: { days: 0, reason: 'x' } })).status,
    ).to.equal(400);
    await service.waitForRequest(res.body.id);
  });
});
