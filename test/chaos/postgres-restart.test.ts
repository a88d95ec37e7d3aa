import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { NO_POSTGRES, restartTestPostgres, testPostgresUrl } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import {
  awaitFinal,
  chaosPeople,
  endpointCounts,
  expectNothingLost,
  pause,
  submitPaced,
  tally,
} from './chaos-harness.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { allVersions, s3Sdk } from '../support/aws-sandbox.js';

const SUBJECTS = 330;
const DOWN_MS = 3000;

describe('Chaos: Postgres restarted in the middle of a run', () => {
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    if (!(await testPostgresUrl())) skipBecause(this, NO_POSTGRES);
    service = await startTestService({
      subjects: SUBJECTS,
      database: 'postgres',
      file: { reconciler: { everyMs: 2000, staleAfterMs: 5000 } },
    });
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
    const probe = {
      requestId: 'chaos-postgres-restart-probe',
      subject: { userId: `user-${neighbours[0]}` },
      vendors: ['pinpoint'],
    };

    const submitting = submitPaced({
      url: service.url,
      token: service.adminToken,
      scenario: 'postgres-restart',
      people: submitted,
      perSecond: 50,
    });
    await pause(2000);
    let whileDown: { status: number; ms: number } | undefined;
    await restartTestPostgres(async () => {
      await waitFor(
        async () =>
          !(await service.ledger.ping().then(
            () => true,
            () => false,
          )),
        5000,
      );
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
    const summary = await tally({
      scenario: 'postgres-restart',
      ledger: service.ledger,
      pinpoint,
      submissions,
      neighbourEndpoints,
      sent: submitted,
      notes: { postgres_down_s: DOWN_MS / 1000 },
    });
    expectNothingLost(summary, open, submitted);
    expect(summary.failedWithReason, 'a ledger outage delays erasures, it does not fail them').to.equal(0);
    // The 503 recorded nothing: the same idempotency key is new to the ledger now.
    const again = await service.api('/v1/requests', { body: { ...probe, subject: { userId: 'user-0' } } });
    expect(again.status, 'the probe key was not recorded by the refused submission').to.equal(202);
    await service.waitForRequest(again.body.id);
  });

  it('lets a shared export batch (Pinpoint by e-mail) wait out a Postgres restart mid-batch: one export, every request completed, no export file left', async function () {
    this.timeout(180_000);
    // A service of its own: the demo clock makes the vendor's export instant; slow Pinpoint calls keep the batch job busy through the outage.
    const batchService = await startTestService({
      subjects: 40,
      database: 'postgres',
      file: { sandbox: { subjects: 40, clockSpeed: 20_000 }, reconciler: { everyMs: 2000, staleAfterMs: 5000 } },
    });
    try {
      const sandbox = batchService.sandbox!;
      sandbox.faults.set('pinpoint', { latencyMs: 700 });
      const people = Array.from({ length: 20 }, (_, i) => i * 2);
      const submitted = await batchService.api('/v1/requests', {
        body: {
          requests: people.map((i) => ({
            requestId: `chaos-batch-outage-${i}`,
            subject: { email: seedPerson(i).email },
            vendors: ['pinpoint'],
          })),
        },
      });
      expect(submitted.status).to.equal(202);
      const ids = (submitted.body.results as Array<{ id: string }>).map((r) => r.id);
      // The batch job has asked for the export: the outage now falls on its polls, scan, purge and checkpoints.
      await waitFor(async () => sandbox.stats.calls('pinpoint', 'CreateExportJob') >= 1, 30_000);
      await restartTestPostgres(() => pause(DOWN_MS));
      sandbox.faults.set('pinpoint', { latencyMs: 0 });

      const open = await awaitFinal(batchService.ledger, ids, 120_000);
      expect(open, 'requests still open at the end').to.have.length(0);
      const statuses = await Promise.all(
        ids.map(async (id) => (await batchService.ledger.requests.getRequest(id))!.status),
      );
      expect(new Set(statuses), 'a ledger outage delays a shared batch, it does not fail it').to.deep.equal(
        new Set(['completed']),
      );
      expect(
        sandbox.stats.calls('pinpoint', 'CreateExportJob'),
        'one export for the whole window, outage or not',
      ).to.equal(1);
      expect(
        await allVersions(s3Sdk(sandbox), S3_SANDBOX_BUCKETS.exports, ''),
        'no export file, version or marker left',
      ).to.deep.equal([]);
      const addresses = new Set(
        [...sandbox.pinpoint.store.app(sandbox.pinpoint.appId).endpoints.values()].map((e) => e.Address),
      );
      expect(
        people.filter((i) => addresses.has(seedPerson(i).email)),
        'people whose e-mail endpoints remain',
      ).to.deep.equal([]);
      expect(
        people.every((i) => addresses.has(seedPerson(i + 1).email)),
        'the neighbours’ endpoints are untouched',
      ).to.equal(true);
    } finally {
      await batchService.close();
    }
  });
});
