import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FlowProducer, Queue, type FlowJob } from 'bullmq';
import { Redis } from 'ioredis';
import { planTasks } from '../src/planner/plan-tasks.js';
import { buildRequestFlow } from '../src/planner/build-flow.js';
import { normaliseSubject } from '../src/privacy/subject.js';
import { availableVendors } from '../src/planner/plan-tasks.js';
import { seedPerson } from '../src/sandbox/seed.js';
import { freshBenchPrefix, startBenchService, type BenchService } from './bench-service.js';
import { round, type Scenario } from './scenario.js';
import { redisConnection } from '../src/infrastructure/queue-set.js';
import { redisBytes } from './redis-bytes.js';

const RATIO_TARGET = 0.5;
const BULK = 1000;
/** README "Redis footprint": a million requests in flight fit in 8 GB. */
const REDIS_BYTES_TARGET = 8000;
/** Flat: the per-request figure at the larger backlog may exceed the smaller one's by this much at most. */
const FLAT_TOLERANCE = 0.1;
/** In-flight backlogs at which Redis bytes per request are measured: the throughput figure is taken over the first. */
const BACKLOGS = { smoke: [50, 500], full: [5000, 50_000] } as const;

interface RedisFootprint {
  perRequest: number[];
  keysPerRequest: number;
  met: boolean;
}

/** Submits up to each backlog in turn (no workers: all stay in flight) and measures Redis bytes per request at each. */
async function measureFootprint(
  service: BenchService,
  redis: Redis,
  backlogs: readonly number[],
  submitted: number,
): Promise<RedisFootprint> {
  const perRequest: number[] = [];
  let keys = 0;
  for (const backlog of backlogs) {
    if (backlog > submitted) {
      const accepted = await service.submitBulk(bodies(backlog - submitted, submitted), BULK);
      if (accepted !== backlog - submitted) throw new Error(`intake: ${accepted} of ${backlog - submitted} accepted`);
      submitted = backlog;
    }
    const held = await redisBytes(redis, service.config.queuePrefix);
    perRequest.push(Math.round(held.bytes / backlog));
    keys = held.keys / backlog;
  }
  const flat = perRequest.at(-1)! <= perRequest[0] * (1 + FLAT_TOLERANCE);
  return { perRequest, keysPerRequest: keys, met: flat && perRequest.every((b) => b <= REDIS_BYTES_TARGET) };
}

/** People by user id and e-mail, to every vendor: the common upstream request. */
function bodies(n: number, from = 0): Array<{ subject: { userId: string; email: string } }> {
  return Array.from({ length: n }, (_, i) => {
    const p = seedPerson(from + i);
    return { subject: { userId: p.userId, email: p.email } };
  });
}

/** `intake`: accepted requests/s through bulk `POST /v1/requests` vs `FlowProducer.addBulk` of the same flows alone. */
export const intakeScenario: Scenario = {
  name: 'intake',
  summary:
    'accepted requests/s via bulk POST /v1/requests (ledger commit + the flows its queues admit) vs FlowProducer.addBulk of every flow; Redis bytes per in-flight request at each backlog',
  async run(context) {
    const backlogs = BACKLOGS[context.size];
    const n = backlogs[0];
    // No workers: every accepted request stays in flight, so Redis holds exactly what intake wrote.
    const service = await startBenchService({
      context,
      name: 'intake',
      roles: { api: true, workers: [] },
      file: { sandbox: { subjects: 100, clockSpeed: 1 } },
    });
    const redis = new Redis(context.redisUrl);
    try {
      const requestBodies = bodies(n);
      const started = performance.now();
      const accepted = await service.submitBulk(requestBodies, BULK);
      const ourSeconds = (performance.now() - started) / 1000;
      if (accepted !== n) throw new Error(`intake: ${accepted} of ${n} accepted`);

      // The same flows (same planner, same shape and options), added with nothing else around them.
      const prefix = freshBenchPrefix('intake-bare');
      const vendors = availableVendors(service.config);
      const flows: FlowJob[] = requestBodies.map((body) => {
        const requestId = randomUUID();
        const tasks = planTasks(
          { requestId, subject: normaliseSubject(body.subject), vendors, vendorsExplicit: false },
          service.config,
        );
        return buildRequestFlow(
          requestId,
          tasks.filter((t) => !t.initialState),
          service.queues.definitions,
        );
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
      // Then the backlog grows (still no workers) and Redis is weighed at each size.
      const footprint = await measureFootprint(service, redis, backlogs, n);
      const ourRate = n / ourSeconds;
      const bareRate = n / bareSeconds;
      const jobsPerRequest = flows.reduce((k, f) => k + 1 + (f.children?.length ?? 0), 0) / n;
      const bytesAt = (i: number) => `${footprint.perRequest[i]} at ${backlogs[i].toLocaleString('en')}`;
      context.log(
        `intake: ours ${round(ourRate, 1)} requests/s, addBulk ${round(bareRate, 1)} flows/s; Redis bytes per in-flight request ${backlogs.map((_, i) => bytesAt(i)).join(', ')}`,
      );
      const ratio = ourRate / bareRate;
      const redisTarget = `<= ${REDIS_BYTES_TARGET} at each backlog, the last within +${FLAT_TOLERANCE * 100} % of the first`;
      return {
        measured: {
          requests: n,
          requests_per_s: round(ourRate, 1),
          seconds: round(ourSeconds),
          jobs_per_request: round(jobsPerRequest, 2),
          redis_bytes_per_inflight_request: footprint.perRequest[0],
          redis_keys_per_request: round(footprint.keysPerRequest, 2),
          redis_bytes: {
            ...Object.fromEntries(backlogs.map((b, i) => [`per_request_at_${b}`, footprint.perRequest[i]])),
            admission_ready_jobs_per_queue: service.config.jobs.admission.readyJobsPerQueue,
            target: redisTarget,
            met: footprint.met,
          },
        },
        baseline: {
          flows: n,
          flows_per_s: round(bareRate, 1),
          seconds: round(bareSeconds),
          redis_bytes_per_flow: Math.round(bare.bytes / n),
        },
        ratio: round(ratio),
        headline: {
          measured: `${round(ourRate, 0)} requests/s (${round(jobsPerRequest, 0)} jobs each); Redis bytes per in-flight request ${backlogs.map((_, i) => bytesAt(i)).join(', ')}`,
          baseline: `addBulk ${round(bareRate, 0)} flows/s, ${Math.round(bare.bytes / n)} bytes per flow`,
        },
        target: `ratio >= ${RATIO_TARGET}; Redis bytes per in-flight request ${redisTarget}`,
        met: ratio >= RATIO_TARGET && footprint.met,
      };
    } finally {
      redis.disconnect();
      await service.close();
    }
  },
};
