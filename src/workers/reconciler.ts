import type { Job, Queue } from 'bullmq';
import type { Ledger } from '../ledger/ledger.js';
import { TERMINAL_TASK_STATES, type TaskRecord } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import type { RequestEnqueuer } from '../planner/request-enqueuer.js';
import { childJob, parentJobId } from '../planner/build-flow.js';
import { requestsQueue } from '../../queues/requests-queue.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { BatchLedger } from '../ledger/batch-ledger.js';
import { addBatchJob, batchJobId } from './batch-coordinator.js';
import { openMembers } from './batch-runner.js';
import type { CallbackOutbox } from '../callbacks/callback-outbox.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import { addProjectDeletionJob, projectDeletionJobId } from '../planner/project-deletion-job.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { eachConcurrently } from './each-concurrently.js';
import { recordJobFailure } from './record-job-failure.js';
import { recreateLostWithdrawals } from '../operations/lost-withdrawals.js';

/** Stale tasks checked at once: each check is a few Redis and ledger round trips. */
const STALE_TASK_CONCURRENCY = 16;

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
  batchesRecovered: number;
  /** Project deletions whose lost job was put back, or whose failed job was recorded. */
  projectDeletionsRecovered: number;
  tasksFailed: number;
  settled: number;
  shredded: number;
  /** Status callbacks left in the outbox (the enqueue after their commit failed) and queued now. */
  callbacksQueued: number;
  /** Members of ended batches still asleep (their wake was lost, e.g. while Redis was down), woken now. */
  membersWoken: number;
  /** Withdrawal jobs of cancelled requests' started tasks that were missing from Redis, added again. */
  withdrawalsRecreated: number;
}

export interface ReconcileDeps {
  ledger: Ledger;
  queues: QueueSet;
  enqueue: RequestEnqueuer;
  logger: Logger;
  batches?: BatchLedger;
  projectDeletions?: ProjectDeletionLedger;
  callbacks?: CallbackOutbox;
}

/** One sweep's inputs and the report its steps add to. */
interface Sweep {
  deps: ReconcileDeps;
  options: ReconcileOptions;
  now: Date;
  batch: number;
  report: ReconcileReport;
  requestsQueueHandle: Queue;
}

/**
 * Invariant 4, "nothing acknowledged is lost": the ledger is the truth and Redis only carries
 * jobs. Each sweep re-enqueues requests that never reached Redis, re-creates the job of any open
 * task whose job is gone (a Redis wipe, an eviction), records tasks whose job failed outside our
 * processor (stalled too often), settles requests whose tasks have all ended, and shreds the
 * identifiers of requests that ended longer ago than the retention window.
 */
export async function reconcile(
  deps: ReconcileDeps,
  options: ReconcileOptions,
  now = new Date(),
): Promise<ReconcileReport> {
  const batch = options.batch ?? 500;
  const report: ReconcileReport = {
    enqueued: 0,
    jobsRecreated: 0,
    batchesRecovered: 0,
    projectDeletionsRecovered: 0,
    tasksFailed: 0,
    settled: 0,
    shredded: 0,
    callbacksQueued: 0,
    membersWoken: 0,
    withdrawalsRecreated: 0,
  };

  const requestsQueueHandle = deps.queues.queue(requestsQueue.name);
  const sweep: Sweep = { deps, options, now, batch, report, requestsQueueHandle };
  await enqueueUnqueuedRequests(sweep);
  await recreateLostTaskJobs(sweep);
  await recoverBatches(sweep);
  await wakeLostSleepers(sweep);

  report.withdrawalsRecreated = await recreateLostWithdrawals(deps, batch);
  if (report.withdrawalsRecreated > 0)
    deps.logger.warn('re-created lost withdrawal jobs of cancelled requests', { jobs: report.withdrawalsRecreated });

  if (deps.projectDeletions)
    report.projectDeletionsRecovered = await recoverProjectDeletions(
      deps.ledger,
      deps.projectDeletions,
      deps.queues,
      deps.logger,
      options,
      now,
      batch,
    );

  for (const requestId of await deps.ledger.queries.unsettledRequests(batch)) {
    if (await deps.ledger.requests.settleRequest(requestId)) report.settled += 1;
  }
  // Rows younger than the grace are still being queued by the process that committed them.
  if (deps.callbacks)
    report.callbacksQueued = await deps.callbacks.sweep(new Date(now.getTime() - options.enqueueGraceMs), batch);
  report.shredded = await deps.ledger.vault.shredIdentities(
    new Date(now.getTime() - options.identityRetentionDays * 86_400_000),
    batch,
  );
  return report;
}

/** Requests committed but never confirmed in Redis are enqueued again. */
async function enqueueUnqueuedRequests(sweep: Sweep): Promise<void> {
  const { deps, options, now, batch, report } = sweep;
  for (const request of await deps.ledger.queries.requestsAwaitingEnqueue(
    new Date(now.getTime() - options.enqueueGraceMs),
    batch,
  )) {
    // Its queues are full (jobs.admission): it and those after it wait in the ledger for room.
    if (!(await deps.enqueue(request, now))) break;
    report.enqueued += 1;
  }
}

/** Open tasks that have not moved: a failed job is recorded, a lost one re-created. */
async function recreateLostTaskJobs(sweep: Sweep): Promise<void> {
  const { deps, options, now, batch, report, requestsQueueHandle } = sweep;
  // Tasks are independent of one another: check them a few at a time, and mark them looked at in one statement.
  const staleTasks = await deps.ledger.queries.staleOpenTasks(new Date(now.getTime() - options.staleAfterMs), batch);
  const lookedAt: string[] = [];
  await eachConcurrently(staleTasks, STALE_TASK_CONCURRENCY, async (task) => {
    const queue = deps.queues.queue(task.queue);
    const job = await queue.getJob(task.id);
    const state = job ? await job.getState() : 'missing';
    if (state === 'failed') {
      const failed = await recordJobFailure(
        deps,
        { kind: 'task', requestId: task.requestId, taskId: task.id, jobId: task.id },
        job?.failedReason ? `job failed: ${job.failedReason}` : 'job failed',
      );
      // Lost: the task ended (or was withdrawn by a cancel) since the list was read; its writer settles.
      if (!failed.applied) return;
      if (failed.settled) report.settled += 1;
      report.tasksFailed += 1;
    } else if (state === 'missing' || state === 'unknown' || state === 'completed') {
      // The list was read before the job: a task that ended or moved since (its job then completes
      // or is removed) has not lost its job. Only a task still open and unchanged now has.
      const current = await deps.ledger.tasks.getTask(task.id);
      if (
        !current ||
        TERMINAL_TASK_STATES.includes(current.state) ||
        current.updatedAt.getTime() !== task.updatedAt.getTime()
      )
        return;
      await recreateTaskJob(task, queue, job, requestsQueueHandle);
      deps.logger.warn('re-created a lost job', { requestId: task.requestId, jobId: task.id, previousState: state });
      report.jobsRecreated += 1;
    } else if (
      state === 'delayed' &&
      job &&
      task.nextActionAt &&
      Math.max(job.timestamp, job.processedOn ?? 0) + job.delay > task.nextActionAt.getTime() + options.staleAfterMs
    ) {
      // The ledger's look is long due but the job sleeps on (a member set aside from its batch whose
      // wake was lost): it runs now rather than at its fallback look. The job's due time is at least
      // its last start (or creation) plus its delay.
      if (
        await job.promote().then(
          () => true,
          () => false,
        )
      )
        report.membersWoken += 1;
    }
    lookedAt.push(task.id);
  });
  await deps.ledger.queries.touchTasks(lookedAt);
}

async function recoverBatches(sweep: Sweep): Promise<void> {
  const { deps, now, batch, report } = sweep;
  // A shared batch whose job is gone is re-added; one whose job failed outside the batch runner
  // (stalled too often) is failed in the ledger so its members wake up and join a new batch.
  const batchLedger = deps.batches;
  for (const open of batchLedger ? await batchLedger.unfinished(batch) : []) {
    const queue = deps.queues.queue(open.vendor);
    const job = await queue.getJob(batchJobId(open.id));
    const state = job ? await job.getState() : 'missing';
    if (state === 'failed') {
      const detached =
        (await batchLedger?.fail(
          open.id,
          job?.failedReason ? `batch job failed: ${job.failedReason}` : 'batch job failed',
        )) ?? [];
      for (const taskId of await openMembers(deps.ledger, detached)) {
        const memberJob = await queue.getJob(taskId);
        if (memberJob && (await memberJob.isDelayed())) await memberJob.promote().catch(() => undefined);
      }
      report.batchesRecovered += 1;
    } else if (state === 'missing' || state === 'unknown') {
      await addBatchJob(queue, open, now.getTime());
      deps.logger.warn('re-created a lost batch job', { batchId: open.id, previousState: state });
      report.batchesRecovered += 1;
    }
  }
}

async function wakeLostSleepers(sweep: Sweep): Promise<void> {
  const { deps, now, batch, report, requestsQueueHandle } = sweep;
  // A batch wakes its members when it ends (src/workers/batch-runner.ts); a wake lost with Redis
  // would leave them asleep until their fallback look (minutes). The ledger knows who still sleeps.
  const sleepers = deps.batches ? await deps.batches.sleepersOfEndedBatches(batch, now) : [];
  await eachConcurrently(sleepers, STALE_TASK_CONCURRENCY, async ({ taskId, queue }) => {
    const handle = deps.queues.queue(queue);
    const job = await handle.getJob(taskId);
    const state = job ? await job.getState() : 'missing';
    if (
      state === 'delayed' &&
      job &&
      (await job.promote().then(
        () => true,
        () => false,
      ))
    )
      report.membersWoken += 1;
    // Parked in the ledger, but its job ended instead of sleeping (two runs of it around a Redis
    // restart: one parked the task, the other's end completed the job): nothing would wake it
    // before its fallback look, minutes away. Its job is added again, due now.
    if (state !== 'missing' && state !== 'completed' && state !== 'unknown') return;
    const task = await deps.ledger.tasks.getTask(taskId);
    if (!task || TERMINAL_TASK_STATES.includes(task.state)) return;
    await recreateTaskJob(task, handle, job, requestsQueueHandle);
    deps.logger.warn('re-created the ended job of a member still asleep', {
      requestId: task.requestId,
      jobId: taskId,
      previousState: state,
    });
    report.jobsRecreated += 1;
  });
  if (report.membersWoken > 0)
    deps.logger.warn('woke members of ended batches still asleep (a lost wake)', { members: report.membersWoken });
}

/** Adds an open task's job again (after removing `job`, what is left of the old one), under its request's parent while that waits. */
async function recreateTaskJob(
  task: TaskRecord,
  queue: Queue,
  job: Job | undefined,
  requestsQueueHandle: Queue,
): Promise<void> {
  const parent = await requestsQueueHandle.getJob(parentJobId(task.requestId));
  const parentWaiting = parent ? (await parent.getState()) === 'waiting-children' : false;
  const child = childJob({ ...task, requestId: task.requestId }, 'ignore', queue.defaultJobOptions);
  if (job) await job.remove().catch(() => undefined);
  await queue.add(child.name, child.data, {
    ...child.opts,
    ...(parentWaiting ? { parent: { id: parentJobId(task.requestId), queue: requestsQueueHandle.qualifiedName } } : {}),
  });
}

/**
 * A project deletion's delayed job can be lost with Redis while the grace period runs (days):
 * every open deletion in the ledger must have its job. A missing one is added again, due when the
 * grace period ends (at once if it has); one that failed outside the runner (stalled too often) is
 * recorded as failed; one that completed while the ledger still says open, and has not moved for
 * `staleAfterMs`, ran without recording anything and is added again (the runner re-checks the ledger).
 */
async function recoverProjectDeletions(
  ledger: Ledger,
  deletions: ProjectDeletionLedger,
  queues: QueueSet,
  logger: Logger,
  options: ReconcileOptions,
  now: Date,
  batch: number,
): Promise<number> {
  const queue = queues.queue(pinpointQueue.name);
  let recovered = 0;
  for (const deletion of await deletions.open(batch)) {
    const job = await queue.getJob(projectDeletionJobId(deletion.id));
    const state = job ? await job.getState() : 'missing';
    if (state === 'failed') {
      await recordJobFailure(
        { ledger, projectDeletions: deletions, logger },
        { kind: 'scope', projectDeletionId: deletion.id, jobId: job?.id },
        job?.failedReason ? `job failed: ${job.failedReason}` : 'job failed',
      );
      recovered += 1;
      continue;
    }
    // Just requested: its job may be on its way from the API (adding it twice would add it once anyway).
    if (deletion.createdAt.getTime() > now.getTime() - options.enqueueGraceMs) continue;
    const stale = deletion.updatedAt.getTime() < now.getTime() - options.staleAfterMs;
    if (state === 'missing' || state === 'unknown' || (state === 'completed' && stale)) {
      if (job) await job.remove().catch(() => undefined);
      await addProjectDeletionJob(queues, deletion, now);
      await deletions.noteJobRecreated(deletion.id, { previousState: state, runAt: deletion.runAt.toISOString() });
      logger.warn('re-created a lost project deletion job', { projectDeletionId: deletion.id, previousState: state });
      recovered += 1;
    }
  }
  return recovered;
}

/**
 * Installs the reconciler's job scheduler on the `requests` queue and keeps it installed. The
 * scheduler lives in Redis, so a wipe (FLUSHALL, a failover to an empty replica) removes it along
 * with the jobs it is there to recover, and nothing would sweep again until a process restarted.
 * Every process that runs the `requests` worker looks every `everyMs` and puts it back when it is
 * gone. Returns the function that stops looking.
 */
export async function keepReconcilerScheduled(queue: Queue, everyMs: number, logger: Logger): Promise<() => void> {
  const install = () =>
    // removeOnComplete: true removes only the sweep itself; a `count` would trim the whole queue's
    // completed set, flow parents included.
    queue.upsertJobScheduler(
      'reconciler',
      { every: everyMs },
      { name: 'reconcile', data: {}, opts: { removeOnComplete: true } },
    );
  await install();
  const timer = setInterval(() => {
    void (async () => {
      if (await queue.getJobScheduler('reconciler')) return;
      await install();
      logger.warn('the reconciler schedule was gone from Redis (a wipe?); re-created it');
    })().catch(() => undefined); // Redis unreachable: look again next time
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
