import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { restartTestPostgres, testPostgresUrl } from '../support/postgres.js';
import { awaitFinal, chaosPeople, endpointCounts, pause, submitPaced, tally } from './chaos-harness.js';

const SUBJECTS = 330;
const DOWN_MS = 3000;

describe('Chaos: Postgres restarted in the middle of a run', () => {
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    if (!(await testPostgresUrl())) this.skip(); // initdb/pg_ctl missing; CI installs them
    service = await startTestService({ subjects: SUBJECTS, database: 'postgres', file: { reconciler: { everyMs: 2000, staleAfterMs: 5000 } } });
  });
  after(async () => {
    await service?.close();
  });

  it('answers 503 at once while the ledger is down, records nothing then, and every accepted request still completes', async function () {
    this.timeout(120_000);
    const pinpoint = service.sandbox!.pinpoint;
    const { submitted, neighbours } = chaosPeople(SUBJECTS);
    const neighbourEndpoints = endpointCounts(pinpoint, neighbours);
    service.sandbox!.faults.set('pinpoint', { latencyMs: 150 });
    const probe = { requestId: 'chaos-postgres-restart-probe', subject: { userId: `user-${neighbours[0]}` }, vendors: ['pinpoint'] };

    const submitting = submitPaced({ url: service.url, token: service.adminToken, scenario: 'postgres-restart', people: submitted, perSecond: 50 });
    await pause(2000);
    let whileDown: { status: number; ms: number } | undefined;
    await restartTestPostgres(async () => {
      await waitFor(async () => !(await service.ledger.ping().then(() => true, () => false)), 5000);
      const started = Date.now();
      const res = await service.api('/v1/requests', { body: probe });
      whileDown = { status: res.status, ms: Date.now() - started };
      await pause(DOWN_MS);
    });
    const submissions = await submitting;
    service.sandbox!.faults.set('pinpoint', { latencyMs: 0 });

    expect(whileDown!.status, 'a submission while Postgres is down').to.equal(503);
    expect(whileDown!.ms, 'the 503 comes at once, not after a timeout').to.be.below(2000);
    const open = await awaitFinal(service.ledger, submissions.accepted.values(), 60_000);
    const summary = await tally({ scenario: 'postgres-restart', ledger: service.ledger, pinpoint, submissions, neighbourEndpoints, sent: submitted, notes: { postgres_down_s: DOWN_MS / 1000 } });
    expect(summary.problems).to.deep.equal([]);
    expect(open, 'requests still open at the end').to.have.length(0);
    expect(summary.lost).to.equal(0);
    expect(summary.harmfulDuplicates).to.equal(0);
    expect(summary.evidenceMismatches).to.equal(0);
    expect(summary.submitted).to.equal(submitted.length);
    expect(summary.failedWithReason, 'a ledger outage delays erasures, it does not fail them').to.equal(0);
    // The 503 recorded nothing: the same idempotency key is new to the ledger now.
    const again = await service.api('/v1/requests', { body: { ...probe, subject: { userId: 'user-0' } } });
    expect(again.status, 'the probe key was not recorded by the refused submission').to.equal(202);
    await service.waitForRequest(again.body.id);
  });
});
