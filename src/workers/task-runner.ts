import { UnrecoverableError, type Job } from 'bullmq';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import { KeyNotLoadedError } from '../privacy/identity-cipher.js';
import type { TaskJobData } from '../planner/build-flow.js';
import { processorDeps, type TaskProcessor, type WorkerClients } from '../connectors/processor-contract.js';
import { TaskSupersededError, type FailureHooks, delayJob, firstLedgerStep, settleFailure, supersededRun, waitIfLedgerDown } from './job-outcome.js';
import type { BatchCoordinator } from './batch-coordinator.js';
import { trackBatchWaits } from './batch-hand-off.js';
import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { recordJobFailure } from './record-job-failure.js';

export interface TaskRunnerDeps {
  ledger: Ledger;
  batches: BatchCoordinator;
  processors: Readonly<Partial<Record<string, TaskProcessor>>>;
  /** The worker's vendor clients; a processor gets its own vendor's only. */
  clients: WorkerClients;
  logger: Logger;
  /** The vendors' circuit breakers; without it a configuration fault just fails the task. */
  breaker?: VendorBreaker;
}

/** What a task job leaves in Redis as its return value: the outcome word, nothing more. */
export interface TaskJobResult {
  outcome: string;
}

/** The first wait for a key this process does not hold, and the longest (they double in between). */
const KEY_WAIT_FIRST_MS = 1000;
const KEY_WAIT_MAX_MS = 60_000;

/**
 * Runs one task job: opens the person's identifiers for the processor, records its outcome and
 * evidence in the ledger, and settles the request when its last task ends. A task that already
 * settled is not run again (at-least-once delivery, Invariant 3). Every write is guarded
 * (src/ledger/task-transitions.ts): when one is lost, because a cancel withdrew the task or
 * another run ended it meanwhile, the run stops there: it neither delays, retries nor fails its
 * job, and does not settle the request (the winner does). Failures go through the error taxonomy in
 * job-outcome.ts.
 */
export function createTaskRunner(deps: TaskRunnerDeps) {
  const { ledger, processors, clients } = deps;
  return async (job: Job<TaskJobData>, token?: string, signal?: AbortSignal): Promise<TaskJobResult> => {
    const { requestId, taskId } = job.data;
    const log = deps.logger.child({ requestId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = processors[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job ${job.name}`);
    const outage = { job, token, log, ping: () => ledger.ping() };

    let begun: Awaited<ReturnType<Ledger['tasks']['beginTask']>>;
    try {
      begun = await firstLedgerStep(outage, () => ledger.tasks.beginTask(taskId));
    } catch (err) {
      if (!(err instanceof KeyNotLoadedError)) throw err;
      try {
        return await deferForKey(job, token, err, log);
      } catch (deferring) {
        await waitIfLedgerDown(deferring, outage);
        throw deferring;
      }
    }
    if (!begun) {
      log.info('task already settled; nothing to do');
      return { outcome: 'already_settled' };
    }
    const { task, subject } = begun;
    const attempt = job.attemptsMade + 1;
    const handOff = trackBatchWaits((request) => deps.batches.awaitBatch({ ...request, vendor: task.vendor, taskId, requestId, taskQueue: job.queueName }), log);
    try {
      const result = await processor(
        {
          requestId,
          taskId,
          resource: task.resource,
          subject,
          attempt,
          previous: task.evidence,
          checkpoint: async (evidence) => {
            const saved = await ledger.tasks.checkpointTask(taskId, evidence);
            if (!saved.applied) throw new TaskSupersededError(saved.state);
          },
          awaitBatch: handOff.awaitBatch,
          signal,
        },
        processorDeps(clients, task.vendor),
      );
      if (result.outcome === 'waiting_vendor') {
        const deferred = await ledger.tasks.deferTask(taskId, { state: 'waiting_vendor', reason: result.reason, nextActionAt: new Date(Date.now() + result.pollAfterMs), evidence: result.evidence });
        if (!deferred.applied) return supersededRun(log, 'waiting_vendor', deferred.state);
        log.info('waiting for the vendor', { pollAfterMs: result.pollAfterMs });
        return await delayJob(job, token, result.pollAfterMs, () => handOff.afterPark(job));
      }
      // Advisory: a Redis blip here must not cost the work just done.
      await deps.breaker?.recordSuccess(task.vendor).catch(() => undefined);
      const finished = await ledger.tasks.finishTask(taskId, result.outcome, result.evidence);
      if (!finished.applied) return supersededRun(log, result.outcome, finished.state);
      await ledger.requests.settleRequest(requestId);
      log.info('task finished', { outcome: result.outcome, attempt });
      return { outcome: result.outcome };
    } catch (err) {
      if (err instanceof TaskSupersededError) return supersededRun(log, 'checkpoint', err.state);
      await waitIfLedgerDown(err, outage);
      return settleFailure(err, {
        job,
        token,
        vendor: task.vendor,
        log,
        breaker: deps.breaker,
        hooks: taskFailureHooks({ ledger, log, job, vendor: task.vendor }),
      });
    }
  };

  /**
   * Invariant 12: the person's identities are sealed with a key this process does not hold (a
   * rolling key rotation, README Operations). Not the task's fault: it waits, visibly
   * (`key_not_loaded`), and runs again with a doubling delay, spending no attempt, until a process
   * that holds the key (this one after its restart, or another) runs it.
   */
  async function deferForKey(job: Job<TaskJobData>, token: string | undefined, err: KeyNotLoadedError, log: Logger): Promise<never> {
    const waits = (job.data as KeyWaitJobData).keyWaits ?? 0;
    const base = typeof job.opts.backoff === 'object' && job.opts.backoff.delay ? Math.min(job.opts.backoff.delay, KEY_WAIT_FIRST_MS) : KEY_WAIT_FIRST_MS;
    const delayMs = Math.round(Math.min(KEY_WAIT_MAX_MS, base * 2 ** Math.min(waits, 16)) * (1 + Math.random() * 0.2));
    await job.updateData({ ...job.data, keyWaits: waits + 1 } as KeyWaitJobData);
    await ledger.tasks.deferTask(job.data.taskId, { state: 'queued', reason: `${KEY_NOT_LOADED}: sealed with key ${err.keyId}, which this process does not hold`, nextActionAt: new Date(Date.now() + delayMs) });
    log.warn('identity sealed with a key this process does not hold; task deferred', { keyId: err.keyId, delayMs, waits: waits + 1 });
    return delayJob(job, token, delayMs);
  }
}

/** What the error taxonomy does to the ledger when a task run fails (job-outcome.ts settleFailure). */
function taskFailureHooks(ctx: { ledger: Ledger; log: Logger; job: Job<TaskJobData>; vendor: VendorName }): FailureHooks {
  const { ledger, log, job, vendor } = ctx;
  const { requestId, taskId } = job.data;
  return {
    paused: async (reason) => {
      const parked = await ledger.tasks.deferTask(taskId, { state: 'waiting_vendor', reason });
      await ledger.tasks.deferVendorTasks(vendor, reason);
      return parked;
    },
    rateLimited: (reason, nextActionAt) => ledger.tasks.deferTask(taskId, { state: 'rate_limited', reason, nextActionAt }),
    willRetry: (reason) => ledger.tasks.deferTask(taskId, { state: 'queued', reason: `retrying after: ${reason}`, error: reason }),
    failed: (reason) => recordJobFailure({ ledger, logger: log }, { kind: 'task', requestId, taskId, jobId: job.id }, reason),
  };
}

/** The waiting reason of a task deferred for a key its process does not hold (Invariant 12). */
export const KEY_NOT_LOADED = 'key_not_loaded';

/** Task job data, plus how many times the task has waited for a key (opaque count, no identifier). */
type KeyWaitJobData = TaskJobData & { keyWaits?: number };
