import { expect } from 'chai';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { testPostgresUrl } from '../support/postgres.js';
import {
  awaitFinal,
  chaosPeople,
  endpointCounts,
  expectNothingLost,
  pause,
  submitPaced,
  tally,
} from './chaos-harness.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const SUBJECTS = 330;

describe('Chaos: Redis wiped (FLUSHALL) in the middle of a run', () => {
  let redis: EmbeddedRedis;
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    // A Redis of its own: the wipe must not touch anything else.
    redis = await startEmbeddedRedis({ dataDir: makeTestTempDir('erasure-chaos-wipe-'), appendOnly: false });
    service = await startTestService({
      subjects: SUBJECTS,
      database: (await testPostgresUrl()) ? 'postgres' : 'pglite',
      file: { redisUrl: redis.url, reconciler: { everyMs: 2000, staleAfterMs: 5000 } },
    });
  });
  after(async () => {
    await service?.close();
    await redis?.stop();
  });

  it('loses no request: the reconciler re-creates the job of every unfinished task and every request ends final, each person erased once', async function () {
    this.timeout(120_000);
    const pinpoint = service.sandbox!.pinpoint;
    const { submitted, neighbours } = chaosPeople(SUBJECTS);
    const neighbourEndpoints = endpointCounts(pinpoint, neighbours);
    // Slow answers keep jobs in flight (and waiting in the queue) when the wipe comes.
    service.sandbox!.faults.set('pinpoint', { latencyMs: 150 });

    const submitting = submitPaced({
      url: service.url,
      token: service.adminToken,
      scenario: 'redis-wipe',
      people: submitted,
      perSecond: 60,
    });
    await pause(2500);
    const admin = new Redis(redis.url);
    expect(await admin.flushall()).to.equal('OK');
    const wipedAt = Date.now();
    admin.disconnect();
    const submissions = await submitting;
    service.sandbox!.faults.set('pinpoint', { latencyMs: 0 });

    const open = await awaitFinal(service.ledger, submissions.accepted.values(), 60_000);
    const summary = await tally({
      scenario: 'redis-wipe',
      ledger: service.ledger,
      pinpoint,
      submissions,
      neighbourEndpoints,
      sent: submitted,
      notes: { recovered_in_s: ((Date.now() - wipedAt) / 1000).toFixed(1) },
    });
    expectNothingLost(summary, open, submitted);
  });
});
