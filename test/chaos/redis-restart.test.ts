import { expect } from 'chai';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
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
const DOWN_MS = 4000;

describe('Chaos: Redis stopped and started again (AOF) in the middle of a run', () => {
  const dataDir = makeTestTempDir('erasure-chaos-restart-');
  let redis: EmbeddedRedis;
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    // A Redis of its own, with AOF on, so stopping it affects no other test.
    redis = await startEmbeddedRedis({ dataDir, appendOnly: true });
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

  it('answers 503 and records nothing while Redis is down, never 202 for a request it did not commit, and loses nothing', async function () {
    this.timeout(120_000);
    const pinpoint = service.sandbox!.pinpoint;
    const { submitted, neighbours } = chaosPeople(SUBJECTS);
    const neighbourEndpoints = endpointCounts(pinpoint, neighbours);
    service.sandbox!.faults.set('pinpoint', { latencyMs: 150 });
    const probe = {
      requestId: 'chaos-redis-restart-probe',
      subject: { userId: `user-${neighbours[0]}` },
      vendors: ['pinpoint'],
    };

    const submitting = submitPaced({
      url: service.url,
      token: service.adminToken,
      scenario: 'redis-restart',
      people: submitted,
      perSecond: 50,
    });
    await pause(2000);
    await redis.stop();
    await waitFor(async () => !(await service.queues.isReady()), 5000);
    const whileDown = await service.api('/v1/requests', { body: probe });
    await pause(DOWN_MS);
    redis = await startEmbeddedRedis({ dataDir, port: redis.port, appendOnly: true });
    const restartedAt = Date.now();
    await waitFor(() => service.queues.isReady(), 30_000);
    const readyAgainMs = Date.now() - restartedAt;
    const submissions = await submitting;
    service.sandbox!.faults.set('pinpoint', { latencyMs: 0 });

    expect(whileDown.status, 'a submission while Redis is down').to.equal(503);
    expect(submissions.answered503, 'submissions answered 503 during the outage').to.be.greaterThan(0);
    const open = await awaitFinal(service.ledger, submissions.accepted.values(), 60_000);
    const summary = await tally({
      scenario: 'redis-restart',
      ledger: service.ledger,
      pinpoint,
      submissions,
      neighbourEndpoints,
      sent: submitted,
      notes: { redis_down_s: DOWN_MS / 1000, api_ready_again_s: (readyAgainMs / 1000).toFixed(1) },
    });
    expectNothingLost(summary, open, submitted);
    // The 503 committed nothing: the same idempotency key is new to the ledger now.
    const again = await service.api('/v1/requests', { body: { ...probe, subject: { userId: 'user-0' } } });
    expect(again.status, 'the probe key was not recorded by the refused submission').to.equal(202);
    await service.waitForRequest(again.body.id);
  });
});
