import { expect } from 'chai';
import { Queue, Worker } from 'bullmq';
import { resolveQueue } from '../../queues/queue-definition.js';
import { pinpointConnector } from '../../src/connectors/pinpoint-connector.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { testConfig } from '../support/test-service.js';

/**
 * Invariant 12, the job-rate half: a vendor queue's limiter (`vendors.<v>.rateLimit`, given to each
 * Worker by src/workers/start-workers.ts) is kept in Redis per queue, so two worker processes
 * together start no more jobs per window than one would.
 */
describe('A vendor queue’s job limiter holds across worker processes', () => {
  it('two workers with the configured limiter start 12 jobs in three windows of 4, not two windows of 8', async function () {
    this.timeout(30_000);
    const config = await testConfig({
      file: {
        vendors: { pinpoint: { region: 'us-east-1', appIds: ['app'], rateLimit: { max: 4, durationMs: 1000 } } },
      },
    });
    const queue = resolveQueue(pinpointConnector.queue, config);
    expect(queue.limiter).to.deep.equal({ max: 4, durationMs: 1000 });
    const url = (await testRedis()).url;
    const prefix = freshPrefix();
    const producer = new Queue(queue.name, { connection: redisConnection(url, false), prefix });
    const starts: number[] = [];
    const workers: Worker[] = [];
    const done = new Promise<void>((resolve) => {
      const processor = async () => {
        starts.push(Date.now());
        if (starts.length === 12) resolve();
      };
      // Two Worker instances on their own connections, as two processes would run them.
      workers.push(
        ...[0, 1].map(
          () =>
            new Worker(queue.name, processor, {
              connection: redisConnection(url, true),
              prefix,
              concurrency: 10,
              limiter: { max: queue.limiter!.max, duration: queue.limiter!.durationMs },
            }),
        ),
      );
    });
    try {
      await producer.addBulk(Array.from({ length: 12 }, (_, i) => ({ name: 'delete-user-endpoints', data: { i } })));
      await done;
      starts.sort((a, b) => a - b);
      // Windows of 4 jobs: the 9th job cannot start before two windows have passed (a slow machine only adds time).
      expect(starts[8] - starts[0]).to.be.at.least(1900);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
      await producer.obliterate({ force: true }).catch(() => undefined);
      await producer.close();
    }
  });
});
