import { FlowProducer, Queue, Worker, type FlowJob } from 'bullmq';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { redisConnection } from '../src/infrastructure/queue-set.js';
import { loadConfig } from '../src/config/load-config.js';
import { resolveQueues } from '../queues/registry.js';
import { requestsQueue } from '../queues/requests-queue.js';
import { pinpointQueue } from '../queues/pinpoint-queue.js';
import { freshBenchPrefix, startBenchService, userIdRequests, type BenchService } from './bench-service.js';
import { round, type Scenario, type ScenarioContext } from './scenario.js';
import { profileWhile, shareByPackage } from './cpu-profile.js';
import { runDirectClosedLoop, startDirectPinpoint } from './direct-pinpoint.js';

const RATIO_TARGET = 0.5;
const UNLIMITED = { max: 1_000_000, durationMs: 1000 };
/** The simulator's limits lifted, for ours and for `direct` alike. */
const LIFTED_RATES = { GetUserEndpoints: 1e9, DeleteUserEndpoints: 1e9 };

/**
 * Requests by user id to Pinpoint: the one vendor path that acts per request (the batched vendors'
 * pace is set by their windows and measured by `vendor_limits`). Vendor limits lifted, so the
 * figure is the orchestration's: ledger, flows, runners, the real AWS SDK client against the sandbox.
 */
async function runOurs(
  context: ScenarioContext,
  n: number,
): Promise<{
  seconds: number;
  concurrency: Record<string, number>;
  byStatus: Record<string, number>;
  cpuShare?: Record<string, number>;
}> {
  const service: BenchService = await startBenchService({
    context,
    name: 'pipeline',
    file: { sandbox: { subjects: n, clockSpeed: 1, vendorOverrides: { pinpoint: { rateLimit: UNLIMITED } } } },
    sandbox: { pinpoint: { rates: LIFTED_RATES } },
  });
  try {
    await service.pauseAll();
    const accepted = await service.submitBulk(userIdRequests(n, ['pinpoint']));
    if (accepted !== n) throw new Error(`pipeline: ${accepted} of ${n} requests accepted`);
    const started = performance.now();
    const run = async () => {
      await service.resumeAll();
      return service.waitForFinal(n, 600_000, 50);
    };
    // The service, its workers and the simulator run in this process, so its profile is theirs.
    const profiled = context.profile
      ? await profileWhile(path.join(context.cacheDir, 'pipeline.cpuprofile'), run)
      : undefined;
    const byStatus = profiled ? profiled.result : await run();
    const seconds = (performance.now() - started) / 1000;
    const concurrency = Object.fromEntries(
      service.queues.definitions
        .filter((q) => q.name === requestsQueue.name || q.name === pinpointQueue.name)
        .map((q) => [q.name, q.concurrency]),
    );
    return { seconds, concurrency, byStatus, ...(profiled ? { cpuShare: shareByPackage(profiled.profile) } : {}) };
  } finally {
    await service.close();
  }
}

/**
 * The `direct` baseline (bench/direct-pinpoint.ts): the same three calls per request through the
 * same client against a simulator with the same options, at the Pinpoint queue's concurrency.
 */
async function runDirect(
  context: ScenarioContext,
  n: number,
  concurrency: number,
): Promise<{ seconds: number; found: number; failed: number; cpuShare?: Record<string, number> }> {
  const direct = await startDirectPinpoint({
    subjects: n,
    clockSpeed: 1,
    sandbox: { pinpoint: { rates: LIFTED_RATES } },
  });
  try {
    const run = () => runDirectClosedLoop(direct, n, concurrency);
    const profiled = context.profile
      ? await profileWhile(path.join(context.cacheDir, 'pipeline-direct.cpuprofile'), run)
      : undefined;
    const result = profiled ? profiled.result : await run();
    return { ...result, ...(profiled ? { cpuShare: shareByPackage(profiled.profile) } : {}) };
  } finally {
    await direct.close();
  }
}

/** The same shape as bare BullMQ: a parent in `requests`, one child in `pinpoint`, no-op processors, same concurrency. */
async function runBare(context: ScenarioContext, n: number, concurrency: Record<string, number>): Promise<number> {
  const prefix = freshBenchPrefix('pipeline-bare');
  const connection = redisConnection(context.redisUrl, false);
  const workerConnection = redisConnection(context.redisUrl, true);
  // The same job options as the service's queues (retention, attempts), so Redis does the same work per job.
  const defaults = Object.fromEntries(
    resolveQueues(loadConfig({ env: {}, file: {} })).map((q) => [q.name, q.defaultJobOptions]),
  );
  const queues = [requestsQueue.name, pinpointQueue.name].map((name) => new Queue(name, { connection, prefix }));
  const producer = new FlowProducer({ connection, prefix });
  const workers: Worker[] = [];
  try {
    await Promise.all(queues.map((q) => q.pause()));
    const flows: FlowJob[] = Array.from({ length: n }, (_, i) => ({
      name: 'finalize-request',
      queueName: requestsQueue.name,
      data: { requestId: `bench-${i}` },
      opts: { ...defaults[requestsQueue.name], jobId: `bench-${i}__request` },
      children: [
        {
          name: 'delete-user-endpoints',
          queueName: pinpointQueue.name,
          data: { requestId: `bench-${i}`, taskId: `bench-${i}-pinpoint` },
          opts: { ...defaults[pinpointQueue.name], ignoreDependencyOnFailure: true, jobId: `bench-${i}-pinpoint` },
        },
      ],
    }));
    for (let i = 0; i < flows.length; i += 1000) await producer.addBulk(flows.slice(i, i + 1000));
    for (const name of [requestsQueue.name, pinpointQueue.name]) {
      workers.push(
        new Worker(name, async () => ({ ok: true }), {
          connection: workerConnection,
          prefix,
          concurrency: concurrency[name] ?? 20,
        }),
      );
    }
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    const started = performance.now();
    await Promise.all(queues.map((q) => q.resume()));
    const parents = queues[0];
    for (;;) {
      const { completed = 0 } = await parents.getJobCounts('completed');
      if (completed >= n) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return (performance.now() - started) / 1000;
  } finally {
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all(queues.map((q) => q.obliterate({ force: true }).then(() => q.close())));
    await producer.close();
  }
}

/**
 * `pipeline`: requests completed per second end to end (intake excluded) vs `direct`, the same
 * vendor calls made by a plain script. The no-op BullMQ flow of the same shape is a reference line:
 * it does none of the vendor work, so it is no baseline for the ratio.
 */
export const pipelineScenario: Scenario = {
  name: 'pipeline',
  summary:
    'requests/s completed (Pinpoint by user id, vendor limits lifted, intake excluded) vs direct: the same vendor calls through the same client and concurrency, no queue, no ledger',
  async run(context) {
    const n = context.size === 'full' ? 3000 : 30;
    const ours = await runOurs(context, n);
    const pinpointConcurrency = ours.concurrency[pinpointQueue.name] ?? 20;
    const direct = await runDirect(context, n, pinpointConcurrency);
    const bareSeconds = await runBare(context, n, ours.concurrency);
    const ourRate = n / ours.seconds;
    const directRate = n / direct.seconds;
    const bareRate = n / bareSeconds;
    context.log(
      `pipeline: ours ${round(ourRate, 1)} requests/s, direct ${round(directRate, 1)} requests/s, no-op BullMQ ${round(bareRate, 1)} flows/s (reference)`,
    );
    const ratio = ourRate / directRate;
    const completed = ours.byStatus.completed ?? 0;
    const directCompleted = n - direct.failed;
    return {
      measured: {
        requests: n,
        requests_per_s: round(ourRate, 1),
        seconds: round(ours.seconds),
        ms_per_request: round((ours.seconds * 1000) / n),
        completed,
        statuses: ours.byStatus,
        // Percent of this process's CPU samples per package, from a run slowed by the profiler.
        ...(ours.cpuShare ? { profiled: true, cpu_percent_by_package: ours.cpuShare } : {}),
      },
      baseline: {
        direct: {
          requests: n,
          requests_per_s: round(directRate, 1),
          seconds: round(direct.seconds),
          ms_per_request: round((direct.seconds * 1000) / n),
          completed: directCompleted,
          with_endpoints: direct.found,
          concurrency: pinpointConcurrency,
        },
        ...(direct.cpuShare ? { direct_cpu_percent_by_package: direct.cpuShare } : {}),
        // Reference only: the same flows with no-op processors (not the ratio's denominator).
        noop_bullmq_reference: { flows: n, flows_per_s: round(bareRate, 1), seconds: round(bareSeconds) },
      },
      ratio: round(ratio),
      headline: {
        measured: `${round(ourRate, 0)} requests/s (${completed}/${n} completed)`,
        baseline: `direct ${round(directRate, 0)} requests/s (${directCompleted}/${n}); reference: no-op BullMQ ${round(bareRate, 0)} flows/s`,
      },
      target: `ratio >= ${RATIO_TARGET} of direct, every request completed`,
      met: ratio >= RATIO_TARGET && completed === n && directCompleted === n,
    };
  },
};
