import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FlowProducer, Queue, type FlowJob } from 'bullmq';
import { Redis } from 'ioredis';
import { planTasks } from '../src/planner/plan-tasks.js';
import { buildRequestFlow } from '../src/planner/build-flow.js';
import { normaliseSubject } from '../src/privacy/subject.js';
import { availableVendors } from '../src/planner/plan-tasks.js';
import { seedPerson } from '../src/sandbox/seed.js';
import { freshBenchPrefix, startBenchService } from './bench-service.js';
import { round, type Scenario } from './scenario.js';
import { redisConnection } from '../src/infrastructure/queue-set.js';

const RATIO_TARGET = 0.5;
const BULK = 1000;

/** Bytes Redis holds under a key prefix (SCAN + MEMORY USAGE). */
async function redisBytes(redis: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.memory('USAGE', key);
    for (const [, size] of (await pipeline.exec()) ?? []) bytes += Number(size ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { bytes, keys };
}

/** People by user id and e-mail, to every vendor: the common upstream request. */
function bodies(n: number): Array<{ subject: { userId: string; email: string } }> {
  return Array.from({ length: n }, (_, i) => {
    const p = seedPerson(i);
    return { subject: { userId: p.userId, email: p.email } };
  });
}

/** `intake`: accepted requests/s through bulk `POST /v1/requests` vs `FlowProducer.addBulk` of the same flows alone. */
export const intakeScenario: Scenario = {
  name: 'intake',
  summary: 'accepted requests/s via bulk POST /v1/requests (ledger commit + flows) vs FlowProducer.addBulk of the same flows; Redis bytes per in-flight request',
  async run(context) {
    const n = context.size === 'full' ? 5000 : 50;
    // No workers: every accepted request stays in flight, so Redis holds exactly what intake wrote.
    const service = await startBenchService({ context, name: 'intake', roles: { api: true, workers: [] }, file: { sandbox: { subjects: 100, clockSpeed: 1 } } });
    const redis = new Redis(context.redisUrl);
    try {
      const requestBodies = bodies(n);
      const started = performance.now();
      const accepted = await service.submitBulk(requestBodies, BULK);
      const ourSeconds = (performance.now() - started) / 1000;
      if (accepted !== n) throw new Error(`intake: ${accepted} of ${n} accepted`);
      const ours = await redisBytes(redis, service.config.queuePrefix);

      // The same flows (same planner, same shape and options), added with nothing else around them.
      const prefix = freshBenchPrefix('intake-bare');
      const vendors = availableVendors(service.config);
      const flows: FlowJob[] = requestBodies.map((body) => {
        const requestId = randomUUID();
        const tasks = planTasks({ requestId, subject: normaliseSubject(body.subject), vendors, vendorsExplicit: false }, service.config);
        return buildRequestFlow(requestId, tasks.filter((t) => !t.initialState), service.queues.definitions);
      });
      // The bench's Redis has a password (the embedded one always does): the connection takes it from the URL.
      const connection = redisConnection(context.redisUrl, false);
      const producer = new FlowProducer({ connection, prefix });
      const bareStarted = performance.now();
      for (let i = 0; i < flows.length; i += BULK) await producer.addBulk(flows.slice(i, i + BULK));
      const bareSeconds = (performance.now() - bareStarted) / 1000;
      const bare = await redisBytes(redis, prefix);
      await producer.close();
      for (const name of new Set(flows.flatMap((f) => [f.queueName, ...(f.children ?? []).map((c) => c.queueName)]))) {
        const q = new Queue(name, { connection, prefix });
        await q.obliterate({ force: true });
        await q.close();
      }
      const ourRate = n / ourSeconds;
      const bareRate = n / bareSeconds;
      const jobsPerRequest = flows.reduce((k, f) => k + 1 + (f.children?.length ?? 0), 0) / n;
      context.log(`intake: ours ${round(ourRate, 1)} requests/s, addBulk ${round(bareRate, 1)} flows/s, ${round(ours.bytes / n, 0)} Redis bytes per in-flight request`);
      const ratio = ourRate / bareRate;
      return {
        measured: { requests: n, requests_per_s: round(ourRate, 1), seconds: round(ourSeconds), jobs_per_request: round(jobsPerRequest, 2), redis_bytes_per_inflight_request: Math.round(ours.bytes / n), redis_keys_per_request: round(ours.keys / n, 2) },
        baseline: { flows: n, flows_per_s: round(bareRate, 1), seconds: round(bareSeconds), redis_bytes_per_flow: Math.round(bare.bytes / n) },
        ratio: round(ratio),
        headline: {
          measured: `${round(ourRate, 0)} requests/s (${round(jobsPerRequest, 0)} jobs each), ${Math.round(ours.bytes / n)} Redis bytes per in-flight request`,
          baseline: `addBulk ${round(bareRate, 0)} flows/s, ${Math.round(bare.bytes / n)} bytes per flow`,
        },
        target: `ratio >= ${RATIO_TARGET}`,
        met: ratio >= RATIO_TARGET,
      };
    } finally {
      redis.disconnect();
      await service.close();
    }
  },
};
