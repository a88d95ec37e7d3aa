import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { startTestService, waitFor, type TestDatabase, type TestService } from '../support/test-service.js';
import { redisClient } from '../support/redis.js';
import { NO_POSTGRES, testPostgresUrl } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { parentJobId } from '../../src/planner/build-flow.js';
import { createBulkEnqueuer, createRequestEnqueuer } from '../../src/planner/request-enqueuer.js';
import { admitDueWork } from '../../src/workers/due-work-scheduler.js';
import { reconcile } from '../../src/workers/reconciler.js';
import { redisBytes } from '../../bench/redis-bytes.js';

/** README "Redis footprint": at most this many Redis bytes per request in flight. */
const BYTES_PER_REQUEST_TARGET = 8000;

/** The common upstream request: a person by user id and e-mail, to every vendor. */
const everyVendor = (i: number) => ({ subject: { userId: seedPerson(i).userId, email: seedPerson(i).email } });
/** A person by user id to Pinpoint only: one task, in one queue. */
const pinpointOnly = (i: number) => ({ subject: { userId: seedPerson(i).userId }, vendors: ['pinpoint'] });

/** Submits in one bulk call; returns the requests' ids and the status each was answered with. */
async function submitBulk(service: TestService, bodies: unknown[]): Promise<{ ids: string[]; answered: string[] }> {
  const res = await service.api('/v1/requests', { body: { requests: bodies } });
  expect(res.status).to.equal(202);
  const results = (res.body as { results: Array<{ id: string; status: string }> }).results;
  return { ids: results.map((r) => r.id), answered: results.map((r) => r.status) };
}

async function statuses(service: TestService): Promise<Record<string, number>> {
  return (await service.ledger.queries.countRequestsByStatus()).byStatus;
}

for (const database of ['pglite', 'postgres'] as TestDatabase[]) {
  describe(`Redis footprint of in-flight requests (ledger on ${database})`, function () {
    this.timeout(120_000);
    let redis: Redis | undefined;

    before(async function () {
      if (database === 'postgres' && !(await testPostgresUrl())) skipBecause(this, NO_POSTGRES);
    });
    beforeEach(async () => {
      redis = await redisClient();
    });
    afterEach(() => {
      redis?.disconnect();
    });
    const keysOf = async (prefix: string) => redisBytes(redis ?? (await redisClient()), prefix);

    it(`holds at most ${BYTES_PER_REQUEST_TARGET} Redis bytes per in-flight request, and the requests beyond what the queues admit hold none`, async () => {
      // No workers: every accepted request stays in flight.
      const service = await startTestService({
        database,
        roles: { api: true, workers: [] },
        file: {
          intake: { maxBulk: 1000 },
          jobs: {
            attempts: 3,
            backoffMs: 100,
            lockDurationMs: 5000,
            stalledIntervalMs: 2000,
            admission: { readyJobsPerQueue: 150, everyMs: 250 },
          },
        },
      });
      try {
        await submitBulk(
          service,
          Array.from({ length: 250 }, (_, i) => everyVendor(i % 30)),
        );
        const at250 = await keysOf(service.config.queuePrefix);
        await submitBulk(
          service,
          Array.from({ length: 250 }, (_, i) => everyVendor(i % 30)),
        );
        const at500 = await keysOf(service.config.queuePrefix);

        expect(at500.bytes / 500, 'bytes per in-flight request at 500').to.be.at.most(BYTES_PER_REQUEST_TARGET);
        // Flat: the second 250 requests wait in the ledger and add (almost) nothing to Redis.
        expect(at500.bytes, 'Redis bytes after 500 requests vs after 250').to.be.at.most(at250.bytes * 1.1);
        const byStatus = await statuses(service);
        expect(byStatus.received + byStatus.in_progress).to.equal(500);
        expect(byStatus.received, 'requests waiting in the ledger for room').to.be.greaterThan(400);
        // Every queued request has its flow; a waiting one has no job at all.
        const waiting = await service.ledger.queries.requestsAwaitingEnqueue(new Date(Date.now() + 60_000), 1000);
        expect(waiting).to.have.length(byStatus.received);
        expect(await service.queues.queue('requests').getJob(parentJobId(waiting[0].id))).to.equal(undefined);
        const parents = await service.queues.queue('requests').getJobCounts('waiting-children');
        expect(parents['waiting-children']).to.equal(byStatus.in_progress);
      } finally {
        await service.close();
      }
    });

    it('admits a waiting request when its queue has room, and after a wipe of its Redis keys, so every request completes', async () => {
      const service = await startTestService({
        database,
        file: {
          jobs: {
            attempts: 3,
            backoffMs: 100,
            lockDurationMs: 5000,
            stalledIntervalMs: 2000,
            admission: { readyJobsPerQueue: 1, everyMs: 100 },
          },
        },
      });
      const pinpoint = service.queues.queue('pinpoint');
      const enqueueMany = createBulkEnqueuer({ ledger: service.ledger, queues: service.queues, readyJobsPerQueue: 1 });
      try {
        // The Pinpoint worker is held back (its limiter, for 10 s): the job stays ready, the queue is
        // full, so the two other requests wait in the ledger.
        await pinpoint.rateLimit(10_000);
        const first = await submitBulk(service, [0, 1, 2].map(pinpointOnly));
        expect(await statuses(service)).to.deep.equal({ in_progress: 1, received: 2 });
        expect(first.answered, 'the answer says which wait for room').to.deep.equal([
          'in_progress',
          'received',
          'received',
        ]);
        expect(
          await admitDueWork({ ledger: service.ledger, enqueueMany }, new Date(Date.now() + 60_000)),
          'no room yet',
        ).to.equal(0);
        expect(await service.queues.queue('requests').getJob(parentJobId(first.ids[1]))).to.equal(undefined);

        await waitFor(async () => (await statuses(service)).completed === 3, 60_000);

        // The same backlog again, then every key of this service's queues is wiped.
        await pinpoint.rateLimit(10_000);
        await submitBulk(service, [3, 4, 5].map(pinpointOnly));
        expect((await statuses(service)).received).to.equal(2);
        const client = redis ?? (await redisClient());
        await client.del(...(await client.keys(`${service.config.queuePrefix}:*`)));
        // The ledger still knows who waits: the scheduler admits them into the empty queue, and the
        // reconciler re-creates the job the wipe took from the request that was already queued.
        const report = await reconcile(
          {
            ledger: service.ledger,
            queues: service.queues,
            enqueue: createRequestEnqueuer({ ledger: service.ledger, queues: service.queues, readyJobsPerQueue: 1 }),
            logger: service.logger,
          },
          { enqueueGraceMs: 60_000, staleAfterMs: 1000, identityRetentionDays: service.config.retention.identityDays },
          new Date(Date.now() + 120_000),
        );
        expect(report.jobsRecreated).to.be.at.least(1);
        await waitFor(async () => (await statuses(service)).completed === 6, 60_000);
      } finally {
        await service.close();
      }
    });

    it('does not let a paused vendor queue hold back the requests that follow', async () => {
      const service = await startTestService({
        database,
        roles: { api: true, workers: [] },
        file: {
          jobs: {
            attempts: 3,
            backoffMs: 100,
            lockDurationMs: 5000,
            stalledIntervalMs: 2000,
            admission: { readyJobsPerQueue: 1, everyMs: 100 },
          },
        },
      });
      try {
        await service.queues.queue('pinpoint').pause();
        await submitBulk(service, [0, 1, 2].map(pinpointOnly));
        expect(await statuses(service), 'a paused queue is its vendor’s backlog, as before admission').to.deep.equal({
          in_progress: 3,
        });
        await service.queues.queue('pinpoint').resume();
        await submitBulk(service, [3, 4].map(pinpointOnly));
        expect(
          await statuses(service),
          'a running queue that is full holds the next requests in the ledger',
        ).to.deep.equal({ in_progress: 3, received: 2 });
      } finally {
        await service.close();
      }
    });
  });
}
