import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import { largestRoom, type BulkEnqueuer, type RequestEnqueuer } from '../planner/request-enqueuer.js';
import { startDueWorkScheduler } from './due-work-scheduler.js';
import type { RequestJobData, TaskJobData } from '../planner/build-flow.js';
import type { ResolvedQueue } from '../../queues/queue-definition.js';
import { requestsQueue } from '../../queues/requests-queue.js';
import { finalizeRequest } from '../../jobs/finalize-request.js';
import type { WorkerClients } from '../connectors/processor-contract.js';
import type { BatchLedger } from '../ledger/batch-ledger.js';
import { createTaskRunner } from './task-runner.js';
import { createBatchRunner } from './batch-runner.js';
import { createBatchCoordinator, type BatchJobData } from './batch-coordinator.js';
import { keepReconcilerScheduled, reconcile } from './reconciler.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import type { ProjectDeletionJobData } from '../planner/project-deletion-job.js';
import { processorsOfKind, type ConnectorJobs, type JobKind } from '../connectors/connector.js';
import { createProjectDeletionRunner } from './project-deletion-runner.js';
import { createWithdrawalRunner } from './withdrawal-runner.js';
import { WITHDRAW_TASK, type WithdrawalJobData } from '../operations/withdrawal-job.js';
import { redisConnection, type QueueSet } from '../infrastructure/queue-set.js';
import type { CallbackOutbox } from '../callbacks/callback-outbox.js';
import { breakerWaitingReason, type VendorBreaker } from '../infrastructure/vendor-breaker.js';
import { failedJobReason, recordJobFailure, type FailedJob } from './record-job-failure.js';

export interface WorkerPoolDeps {
  config: Config;
  redisUrl: string;
  queues: QueueSet;
  /** Which queues this process works on (`erasure worker --queues pinpoint,s3`). */
  run: ResolvedQueue[];
  ledger: Ledger;
  /** The vendor clients by vendor name: each processor gets its own vendor's (scope jobs, which may span vendors, get the built-ins' bag). */
  clients: WorkerClients;
  /** Every vendor job the workers run, by job name: its kind picks the runner (src/connectors/connector.ts). */
  /** Admits requests waiting in the ledger for room in their queues (src/workers/due-work-scheduler.ts); unset: the reconciler alone does, every sweep. */
  enqueueMany?: BulkEnqueuer;
  jobs: ConnectorJobs;
  batches: BatchLedger;
  enqueue: RequestEnqueuer;
  logger: Logger;
  /** Project deletions (whole Pinpoint apps): run from the Pinpoint queue, recovered by the reconciler. */
  projectDeletions?: ProjectDeletionLedger;
  /** Processors of queues that carry neither tasks nor request parents (e.g. `callbacks`), by queue name. */
  queueProcessors?: Readonly<Record<string, (job: Job) => Promise<unknown>>>;
  /** Status callbacks whose enqueue failed after their commit; the reconciler sweeps them. */
  callbackOutbox?: CallbackOutbox;
  /** The vendors' circuit breakers: a configuration fault or a 5xx storm pauses that vendor's queue. */
  breaker?: VendorBreaker;
}

export interface WorkerPool {
  workers: Worker[];
  /** Stops fetching, waits up to `graceMs` for running jobs, then cancels what is left. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Half-open probes: a breaker opened by a 5xx/timeout storm lets its queue run again after
 * `breaker.probeAfterMs`; the next success closes it, the next failure opens it again.
 * Tasks planned while a vendor is paused never run, so they are told why they wait here.
 */
function startBreakerProbes(deps: WorkerPoolDeps): NodeJS.Timeout | undefined {
  const { config, ledger, logger } = deps;
  const breakerTick = async (breaker: VendorBreaker) => {
    await breaker.probeDue();
    for (const state of await breaker.states()) {
      if (state.state === 'open') await ledger.tasks.deferVendorTasks(state.vendor, breakerWaitingReason(state));
    }
  };
  const breaker = deps.breaker;
  const probeTimer = breaker
    ? setInterval(
        () =>
          void breakerTick(breaker).catch((e: unknown) =>
            logger.warn('breaker check failed', { errorName: errorName(e) }),
          ),
        Math.max(100, Math.min(5000, Math.round(config.breaker.probeAfterMs / 4))),
      )
    : undefined;
  probeTimer?.unref();
  return probeTimer;
}

/** One Worker per queue, each with the queue's limiter and concurrency from config. */
export async function startWorkers(deps: WorkerPoolDeps): Promise<WorkerPool> {
  const { config, logger } = deps;
  const connection = redisConnection(deps.redisUrl, true);
  const runVendorJob = vendorJobRunner(deps, createBatchCoordinator({ batches: deps.batches, queues: deps.queues }));
  const workers: Worker[] = [];

  for (const queue of deps.run) {
    const isRequests = queue.name === requestsQueue.name;
    const own = deps.queueProcessors?.[queue.name];
    const processor = own ? own : isRequests ? requestsQueueProcessor(deps) : runVendorJob;
    const worker = new Worker(queue.name, processor as (job: Job) => Promise<unknown>, {
      connection,
      prefix: deps.queues.prefix,
      concurrency: queue.concurrency,
      limiter: queue.limiter ? { max: queue.limiter.max, duration: queue.limiter.durationMs } : undefined,
      lockDuration: config.jobs.lockDurationMs,
      stalledInterval: config.jobs.stalledIntervalMs,
      maxStalledCount: 2,
      metrics: { maxDataPoints: 60 * 24 * 7 },
    });
    // BullMQ's own errors (a lost job lock, a failed Redis script, a stalled-job check): their text names
    // job ids and Redis keys, never job data, and it is what tells on-call which one it was. The
    // logger scrubs identifier-shaped text from every line (src/logger.ts).
    worker.on('error', (err) =>
      logger.error('worker error', { queue: queue.name, errorName: err.name, error: err.message.slice(0, 500) }),
    );
    if (!isRequests && !own) {
      recordFailuresOutsideProcessor(worker, deps);
    }
    workers.push(worker);
  }

  const stopScheduling = await startScheduling(deps);
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  const probeTimer = startBreakerProbes(deps);

  return {
    workers,
    async close(graceMs = 10_000) {
      stopScheduling();
      if (probeTimer) clearInterval(probeTimer);
      await Promise.all(workers.map((worker) => closeWithin(worker, graceMs)));
    },
  };
}

/** The requests queue's jobs: the reconciler's sweep, and each request's parent (finalize). */
function requestsQueueProcessor(deps: WorkerPoolDeps) {
  const { config, ledger, logger } = deps;
  return async (job: Job<RequestJobData>) => {
    if (job.name === 'reconcile') {
      return reconcile(
        {
          ledger,
          queues: deps.queues,
          enqueue: deps.enqueue,
          logger,
          batches: deps.batches,
          projectDeletions: deps.projectDeletions,
          callbacks: deps.callbackOutbox,
        },
        {
          enqueueGraceMs: 10_000,
          staleAfterMs: config.reconciler.staleAfterMs,
          identityRetentionDays: config.retention.identityDays,
        },
      );
    }
    return finalizeRequest(job, { ledger });
  };
}

function recordFailuresOutsideProcessor(worker: Worker, deps: WorkerPoolDeps): void {
  const { ledger, logger } = deps;
  // Failures that happen outside the processor (a job stalled too often) still end the task.
  // Batches: the reconciler fails a batch whose job failed, and its members join a new one.
  worker.on('failed', (job, err) => {
    const failed = job ? failedJobOf(job as VendorJob, deps.jobs[job.name]?.kind) : undefined;
    if (!job || !failed) return;
    void (async () => {
      if ((await job.getState()) !== 'failed') return;
      if (failed.kind === 'task' && (await ledger.tasks.getTask(failed.taskId))?.state === 'failed') return;
      await recordJobFailure({ ledger, projectDeletions: deps.projectDeletions, logger }, failed, failedJobReason(err));
    })().catch((e: unknown) =>
      logger.error('could not record a failed job', { jobId: job.id, errorName: errorName(e) }),
    );
  });
}

/** The reconciler's repeatable sweep and the due-work scheduler, where this process runs the requests queue. Returns their stop. */
async function startScheduling(deps: WorkerPoolDeps): Promise<() => void> {
  const { config, ledger, logger } = deps;
  let stopScheduling: () => void = () => undefined;
  if (deps.run.some((q) => q.name === requestsQueue.name)) {
    const stopReconciler = await keepReconcilerScheduled(
      deps.queues.queue(requestsQueue.name),
      config.reconciler.everyMs,
      logger,
    );
    const stopAdmitting = deps.enqueueMany
      ? startDueWorkScheduler(
          {
            ledger,
            enqueueMany: deps.enqueueMany,
            room: () => largestRoom(deps.queues, config.jobs.admission.readyJobsPerQueue),
            logger,
          },
          config.jobs.admission.everyMs,
        )
      : () => undefined;
    stopScheduling = () => {
      stopReconciler();
      stopAdmitting();
    };
  }
  return stopScheduling;
}

/** Closes a worker, letting running jobs finish for `graceMs`, then cancels what is left. */
async function closeWithin(worker: Worker, graceMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const graceful = worker.close();
  const timedOut = await Promise.race([
    graceful.then(() => false),
    new Promise<boolean>(
      (resolve) =>
        (timer = setTimeout(() => {
          resolve(true);
        }, graceMs)),
    ),
  ]);
  clearTimeout(timer);
  if (timedOut) {
    worker.cancelAllJobs('shutdown');
    await worker.close(true);
  }
}

type VendorJob = Job<TaskJobData | BatchJobData | ProjectDeletionJobData>;
type JobRunner = (job: VendorJob, token?: string, signal?: AbortSignal) => Promise<unknown>;

/**
 * Runs a vendor queue's job by its name: the connector declared the name's kind, and each kind has
 * one runner. A name no connector declares fails for good (a job left by an older release).
 */
function vendorJobRunner(deps: WorkerPoolDeps, coordinator: ReturnType<typeof createBatchCoordinator>): JobRunner {
  const { ledger, logger, clients, breaker } = deps;
  const deletions = deps.projectDeletions;
  // Withdrawals at cancel are every vendor's job, not a connector's: one runner, by the job's name.
  const runners: Record<JobKind | 'withdrawal', JobRunner> = {
    withdrawal: ((job: Job<WithdrawalJobData>, token?: string) =>
      createWithdrawalRunner({ ledger, config: deps.config, clients, logger })(job, token)) as JobRunner,
    task: createTaskRunner({
      ledger,
      batches: coordinator,
      processors: processorsOfKind(deps.jobs, 'task'),
      clients,
      logger,
      breaker,
    }) as JobRunner,
    batch: createBatchRunner({
      ledger,
      batches: deps.batches,
      queues: deps.queues,
      processors: processorsOfKind(deps.jobs, 'batch'),
      clients,
      logger,
      breaker,
    }) as JobRunner,
    scope: deletions
      ? (createProjectDeletionRunner({
          deletions,
          ledger,
          processors: processorsOfKind(deps.jobs, 'scope'),
          clients,
          logger,
        }) as JobRunner)
      : () => Promise.reject(new UnrecoverableError('project deletions are not wired in this worker')),
  };
  return (job, token, signal) => {
    const kind = job.name === WITHDRAW_TASK ? 'withdrawal' : deps.jobs[job.name]?.kind;
    if (!kind) return Promise.reject(new UnrecoverableError(`no processor for job ${job.name}`));
    return runners[kind](job, token, signal);
  };
}

/** Whose failure a failed vendor job is, by its kind; a batch's is the reconciler's to record. */
function failedJobOf(job: VendorJob, kind: JobKind | undefined): FailedJob | undefined {
  if (kind === 'scope')
    return { kind: 'scope', projectDeletionId: (job.data as ProjectDeletionJobData).projectDeletionId, jobId: job.id };
  if (kind !== 'task') return undefined;
  const data = job.data as TaskJobData;
  return { kind: 'task', requestId: data.requestId, taskId: data.taskId, jobId: job.id };
}

/** An error's name for a log line (never its message, which may quote a vendor). */
const errorName = (e: unknown): string => (e instanceof Error ? e.name : typeof e);
