import { expect } from 'chai';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { FINAL_REQUEST_STATUSES } from '../../src/ledger/ledger-types.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { testPostgresUrl } from '../support/postgres.js';
import { pause } from './chaos-harness.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const SUBJECTS = 60;
const PEOPLE = 24;
const EVERY_MS = 4000;
const WINDOW_MS = 2500;
const DOWN_MS = 4000;

describe('Chaos: Redis restarted while shared batch windows are open', () => {
  const dataDir = makeTestTempDir('erasure-chaos-batches-');
  let redis: EmbeddedRedis;
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    redis = await startEmbeddedRedis({ dataDir, appendOnly: true });
    service = await startTestService({
      subjects: SUBJECTS,
      database: (await testPostgresUrl()) ? 'postgres' : 'pglite',
      file: {
        redisUrl: redis.url,
        reconciler: { everyMs: EVERY_MS, staleAfterMs: 30_000 },
        sandbox: { subjects: SUBJECTS, clockSpeed: 1, vendorOverrides: { s3: { batchWindowMs: WINDOW_MS } } },
      },
    });
  });
  after(async () => {
    await service?.close();
    await redis?.stop();
  });

  it(`ends every task within 2 × reconciler.everyMs (${(2 * EVERY_MS) / 1000} s) of the restart: no wake lost with Redis waits for the fallback`, async function () {
    this.timeout(120_000);
    const submitted = await service.api('/v1/requests', {
      body: {
        requests: Array.from({ length: PEOPLE }, (_, i) => ({
          subject: { email: `user${i}@example.com` },
          vendors: ['s3'],
        })),
      },
    });
    expect(submitted.status, JSON.stringify(submitted.body.summary)).to.equal(202);
    const ids: string[] = submitted.body.results.map((r: { id: string }) => r.id);
    expect(ids).to.have.length(PEOPLE);

    // Every task has joined its location's batch and sleeps until the batch wakes it: the windows are open.
    await waitFor(async () => {
      const tasks = (await Promise.all(ids.map((id) => service.ledger.tasks.getTasks(id)))).flat();
      return tasks.length > 0 && tasks.every((t) => t.state === 'waiting_vendor');
    }, 30_000);
    // Slow S3 down so that a scan is still running when Redis goes: it ends in the ledger while
    // Redis is away, and its wake of the members is what a restart can lose.
    service.sandbox!.faults.set('s3', { latencyMs: 150 });
    const batches = new BatchLedger(service.db);
    await waitFor(async () => (await batches.unfinished(10)).some((b) => b.state === 'running'), 30_000, 20);
    await redis.stop();
    await waitFor(async () => (await batches.unfinished(10)).every((b) => b.state !== 'running'), 60_000, 50);
    service.sandbox!.faults.set('s3', { latencyMs: 0 });
    await pause(DOWN_MS);
    redis = await startEmbeddedRedis({ dataDir, port: redis.port, appendOnly: true });
    const restartedAt = Date.now();

    const requests = await waitFor(
      async () => {
        const all = await Promise.all(ids.map((id) => service.ledger.requests.getRequest(id)));
        return all.every((r) => r && FINAL_REQUEST_STATUSES.includes(r.status)) ? all : undefined;
      },
      60_000,
      200,
    );
    expect(requests.map((r) => r!.status)).to.deep.equal(Array(PEOPLE).fill('completed'));
    const tasks = (await Promise.all(ids.map((id) => service.ledger.tasks.getTasks(id)))).flat();
    const latest = Math.max(...tasks.map((t) => t.finishedAt!.getTime()));
    expect(latest - restartedAt, 'the last task ended this long after the restart (ms)').to.be.at.most(2 * EVERY_MS);
  });
});
