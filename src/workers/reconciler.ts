import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { RequestEnqueuer } from '../planner/request-enqueuer.js';
import { childJob, parentJobId } from '../planner/build-flow.js';
import { requestsQueue } from '../../queues/requests-queue.js';
import type { QueueSet } from './queue-set.js';

export interface ReconcileOptions {
  /** A request still `received` after this long was never confirmed in Redis. */
  enqueueGraceMs: number;
  /** An open task that has not moved for this long gets its job checked. */
  staleAfterMs: number;
  /** Days after a request ends before its identifiers are shredded. */
  identityRetentionDays: number;
  /** Work done per sweep, so one sweep stays short. @defaultValue 500 */
  batch?: number;
}

export interface ReconcileReport {
  enqueued: number;
  jobsRecreated: number;
  tasksFailed: number;
  settled: number;
  shredded: number;
}

/**
 * Invariant 4, "nothing acknowledged is lost": the ledger is the truth and Redis only carries
 * jobs. Each sweep re-enqueues requests that never reached Redis, re-creates the job of any open
 * task whose job is gone (a Redis wipe, an eviction), records tasks whose job failed outside our
 * processor (stalled too often), settles requests whose tasks have all ended, and shreds the
 * identifiers of requests that ended longer ago than the retention window.
 */
export async function reconcile(
  deps: { ledger: RequestLedger; queues: QueueSet; enqueue: RequestEnqueuer; logger: Logger },
  options: ReconcileOptions,
  now = new Date(),
): Promise<ReconcileReport> {
  const batch = options.batch ?? 500;
  const report: ReconcileReport = { enqueued: 0, jobsRecreated: 0, tasksFailed: 0, settled: 0, shredded: 0 };

  for (const request of await deps.ledger.requestsAwaitingEnqueue(new Date(now.getTime() - options.enqueueGraceMs), batch)) {
    await deps.enqueue(request, now);
    report.enqueued += 1;
  }

  const requestsQueueHandle = deps.queues.queue(requestsQueue.name);
  for (const task of await deps.ledger.staleOpenTasks(new Date(now.getTime() - options.staleAfterMs), batch)) {
    const queue = deps.queues.queue(task.queue);
    const job = await queue.getJob(task.id);
    const state = job ? await job.getState() : 'missing';
    if (state === 'failed') {
      await deps.ledger.failTask(task.id, job?.failedReason ? `job failed: ${job.failedReason}` : 'job failed');
      if (await deps.ledger.settleRequest(task.requestId)) report.settled += 1;
      report.tasksFailed += 1;
    } else if (state === 'missing' || state === 'unknown' || state === 'completed') {
      const parent = await requestsQueueHandle.getJob(parentJobId(task.requestId));
      const parentWaiting = parent ? (await parent.getState()) === 'waiting-children' : false;
      const child = childJob({ ...task, requestId: task.requestId }, 'ignore', queue.defaultJobOptions);
      if (job) await job.remove().catch(() => undefined);
      await queue.add(child.name, child.data, {
        ...child.opts,
        ...(parentWaiting ? { parent: { id: parentJobId(task.requestId), queue: requestsQueueHandle.qualifiedName } } : {}),
      });
      deps.logger.warn('re-created a lost job', { requestId: task.requestId, jobId: task.id, previousState: state });
      report.jobsRecreated += 1;
    }
    await deps.ledger.touchTask(task.id);
  }

  for (const requestId of await deps.ledger.unsettledRequests(batch)) {
    if (await deps.ledger.settleRequest(requestId)) report.settled += 1;
  }
  report.shredded = await deps.ledger.shredIdentities(new Date(now.getTime() - options.identityRetentionDays * 86_400_000), batch);
  return report;
}
