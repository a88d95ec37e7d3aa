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
import type { BatchProcessor, TaskProcessor, VendorClients } from '../../jobs/task-processor.js';
import type { BatchLedger } from '../ledger/batch-ledger.js';
import { createTaskRunner } from './task-runner.js';
import { createBatchRunner } from './batch-runner.js';
import { createBatchCoordinator, type BatchJobData } from './batch-coordinator.js';
import { keepReconcilerScheduled, reconcile } from './reconciler.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import { isProjectDeletionJob, type ProjectDeletionJobData } from '../planner/project-deletion-job.js';
import { deleteProject } from '../../jobs/delete-project.js';
import { createProjectDeletionRunner } from './project-deletion-runner.js';
import { createWithdrawalRunner } from './withdrawal-runner.js';
import { WITHDRAW_TASK, type WithdrawalJobData } from '../operations/withdrawal-job.js';
import { redisConnection, type QueueSet } from './queue-set.js';
import type { CallbackOutbox } from '../callbacks/callback-outbox.js';
import { breakerWaitingReason, type VendorBreaker } from './vendor-breaker.js';

export interface WorkerPoolDeps {
  config: Config;
  redisUrl: string;
  queues: QueueSet;
  /** Which queues this process works on (`erasure worker --queues pinpoint,s3`). */
  run: ResolvedQueue[];
  ledger: Ledger;
  clients: VendorClients;
  processors: Readonly<Record<string, TaskProcessor>>;
  batchProcessors: Readonly<Record<string, BatchProcessor>>;
  batches: BatchLedger;
  enqueue: RequestEnqueuer;
  /** Admits requests waiting in the ledger for room in their queues (src/workers/due-work-scheduler.ts); unset: the reconciler alone does, every sweep. */
  enqueueMany?: BulkEnqueuer;
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

/** One Worker per queue, each with the queue's limiter and concurrency from config. */
export async function startWorkers(deps: WorkerPoolDeps): Promise<WorkerPool> {
  const { config, ledger, logger } = deps;
  const connection = redisConnection(deps.redisUrl, true);
  const coordinator = createBatchCoordinator({ batches: deps.batches, queues: deps.queues });
  const runTask = createTaskRunner({ ledger, batches: coordinator, processors: deps.processors, clients: deps.clients, logger, breaker: deps.breaker });
  const runBatch = createBatchRunner({ ledger, batches: deps.batches, queues: deps.queues, processors: deps.batchProcessors, clients: deps.clients, logger, breaker: deps.breaker });
  const runProjectDeletion = deps.projectDeletions
    ? createProjectDeletionRunner({ deletions: deps.projectDeletions, processor: deleteProject, clients: deps.clients, logger })
    : async () => {
        throw new UnrecoverableError('project deletions are not wired in this worker');
      };
  const runWithdrawal = createWithdrawalRunner({ ledger, config, clients: deps.clients, logger });
  const workers: Worker[] = [];

  for (const queue of deps.run) {
    const isRequests = queue.name === requestsQueue.name;
    const own = deps.queueProcessors?.[queue.name];
    const processor = own
      ? own
      : isRequests
      ? async (job: Job<RequestJobData>) => {
          if (job.name === 'reconcile') {
            return reconcile({ ledger, queues: deps.queues, enqueue: deps.enqueue, logger, batches: deps.batches, projectDeletions: deps.projectDeletions, callbacks: deps.callbackOutbox }, { enqueueGraceMs: 10_000, staleAfterMs: config.reconciler.staleAfterMs, identityRetentionDays: config.retention.identityDays });
          }
          return finalizeRequest(job, { ledger });
        }
      : (job: Job<TaskJobData | BatchJobData | ProjectDeletionJobData>, token?: string, signal?: AbortSignal) =>
          job.name === WITHDRAW_TASK
            ? runWithdrawal(job as Job<WithdrawalJobData>, token)
            : isProjectDeletionJob(job.data)
            ? runProjectDeletion(job as Job<ProjectDeletionJobData>, token, signal)
            : 'batchId' in job.data
              ? runBatch(job as Job<BatchJobData>, token, signal)
              : runTask(job as Job<TaskJobData>, token, signal);
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
    worker.on('error', (err) => logger.error('worker error', { queue: queue.name, errorName: err.name }));
    if (!isRequests && !own) {
      // Failures that happen outside the processor (a job stalled too often) still end the task.
      worker.on('failed', (job, err) => {
        // A withdrawal that failed recorded that itself, and its task runs on (src/workers/withdrawal-runner.ts).
        if (!job || 'batchId' in (job.data as object) || job.name === WITHDRAW_TASK) return;
        void (async () => {
          if ((await job.getState()) !== 'failed') return;
          if (isProjectDeletionJob(job.data)) {
            await deps.projectDeletions?.fail(job.data.projectDeletionId, err.name === 'UnrecoverableError' || err.name.endsWith('VendorError') ? err.message : `job ended: ${err.message}`);
            return;
          }
          const data = job.data as TaskJobData;
          const task = await ledger.tasks.getTask(data.taskId);
          if (task && task.state !== 'failed') {
            const failed = await ledger.tasks.failTask(data.taskId, err.name === 'UnrecoverableError' || err.name.endsWith('VendorError') ? err.message : `job ended: ${err.message}`);
            // Lost: the task had ended (a cancel withdrew it, another run finished it); its writer settles.
            if (!failed.applied) logger.info('a failed job’s task had already ended; nothing recorded', { requestId: data.requestId, jobId: job.id, state: failed.state ?? 'missing' });
            else await ledger.requests.settleRequest(data.requestId);
          }
        })().catch((e: Error) => logger.error('could not record a failed job', { jobId: job.id, errorName: e.name }));
      });
    }
    workers.push(worker);
  }

  let stopScheduling: () => void = () => undefined;
  if (deps.run.some((q) => q.name === requestsQueue.name)) {
    const stopReconciler = await keepReconcilerScheduled(deps.queues.queue(requestsQueue.name), config.reconciler.everyMs, logger);
    const stopAdmitting = deps.enqueueMany ? startDueWorkScheduler({ ledger, enqueueMany: deps.enqueueMany, room: () => largestRoom(deps.queues, config.jobs.admission.readyJobsPerQueue), logger }, config.jobs.admission.everyMs) : () => undefined;
    stopScheduling = () => {
      stopReconciler();
      stopAdmitting();
    };
  }
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Half-open probes: a breaker opened by a 5xx/timeout storm lets its queue run again after
  // `breaker.probeAfterMs`; the next success closes it, the next failure opens it again.
  // Tasks planned while a vendor is paused never run, so they are told why they wait here.
  const breakerTick = async (breaker: VendorBreaker) => {
    await breaker.probeDue();
    for (const state of await breaker.states()) {
      if (state.state === 'open') await ledger.tasks.deferVendorTasks(state.vendor, breakerWaitingReason(state));
    }
  };
  const probeTimer = deps.breaker
    ? setInterval(() => void breakerTick(deps.breaker!).catch((e: Error) => logger.warn('breaker check failed', { errorName: e.name })), Math.max(100, Math.min(5000, Math.round(config.breaker.probeAfterMs / 4))))
    : undefined;
  probeTimer?.unref();

  return {
    workers,
    async close(graceMs = 10_000) {
      stopScheduling();
      if (probeTimer) clearInterval(probeTimer);
      await Promise.all(
        workers.map(async (worker) => {
          let timer: NodeJS.Timeout | undefined;
          const graceful = worker.close();
          const timedOut = await Promise.race([
            graceful.then(() => false),
            new Promise<boolean>((resolve) => (timer = setTimeout(() => { resolve(true); }, graceMs))),
          ]);
          clearTimeout(timer);
          if (timedOut) {
            worker.cancelAllJobs('shutdown');
            await worker.close(true);
          }
        }),
      );
    },
  };
}
