import { UnrecoverableError, type Job } from 'bullmq';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import { KeyNotLoadedError } from '../privacy/identity-cipher.js';
import type { TaskJobData } from '../planner/build-flow.js';
import {
  processorDeps,
  type TaskProcessor,
  type TaskResult,
  type WorkerClients,
} from '../connectors/processor-contract.js';
import {
  TaskSupersededError,
  type FailureHooks,
  delayJob,
  firstLedgerStep,
  settleFailure,
  supersededRun,
  waitIfLedgerDown,
} from './job-outcome.js';
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

/** What one run of a task job works with: its job, its ledger writes' context and its log. */
interface TaskRun {
  deps: TaskRunnerDeps;
  job: Job<TaskJobData>;
  token: string | undefined;
  log: Logger;
  outage: Parameters<typeof firstLedgerStep>[0];
}

type BegunTask = NonNullable<Awaited<ReturnType<Ledger['tasks']['beginTask']>>>;

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
    const run: TaskRun = { deps, job, token, log, outage: { job, token, log, ping: () => ledger.ping() } };
    const begun = await beginRun(run);
    if (!('task' in begun)) return begun;
    const { task, subject } = begun;
    const handOff = trackBatchWaits(
      (request) =>
        deps.batches.awaitBatch({ ...request, vendor: task.vendor, taskId, requestId, taskQueue: job.queueName }),
      log,
    );
    try {
      const checkpoint = async (evidence: Record<string, unknown>) => {
        const saved = await ledger.tasks.checkpointTask(taskId, evidence);
        if (!saved.applied) throw new TaskSupersededError(saved.state);
      };
      const input = {
        requestId,
        taskId,
        resource: task.resource,
        subject,
        attempt: job.attemptsMade + 1,
        previous: task.evidence,
        checkpoint,
        awaitBatch: handOff.awaitBatch,
        signal,
      };
      const result = await processor(input, processorDeps(clients, task.vendor));
      if (result.outcome === 'waiting_vendor') return await parkForVendor(run, result, () => handOff.afterPark(job));
      return await recordOutcome(run, task, result);
    } catch (err) {
      if (err instanceof TaskSupersededError) return supersededRun(log, 'checkpoint', err.state);
      await waitIfLedgerDown(err, run.outage);
      const hooks = taskFailureHooks({ ledger, log, job, vendor: task.vendor });
      return settleFailure(err, { job, token, vendor: task.vendor, log, breaker: deps.breaker, hooks });
    }
  };
}

/**
 * Begins the run in the ledger: the task and its person's identifiers, or what the job returns
 * when there is nothing to run (the task already settled) or the identity's key is not here.
 */
async function beginRun(run: TaskRun): Promise<BegunTask | TaskJobResult> {
  const { deps, job, log, outage } = run;
  let begun: Awaited<ReturnType<Ledger['tasks']['beginTask']>>;
  try {
    begun = await firstLedgerStep(outage, () => deps.ledger.tasks.beginTask(job.data.taskId));
  } catch (err) {
    if (!(err instanceof KeyNotLoadedError)) throw err;
    try {
      return await deferForKey(run, err);
    } catch (deferring) {
      await waitIfLedgerDown(deferring, outage);
      throw deferring;
    }
  }
  if (!begun) {
    log.info('task already settled; nothing to do');
    return { outcome: 'already_settled' };
  }
  return begun;
}

/** The processor waits for the vendor (an async job there): the task says so and its job is delayed. */
async function parkForVendor(
  run: TaskRun,
  result: Extract<TaskResult, { outcome: 'waiting_vendor' }>,
  afterPark: () => Promise<void>,
): Promise<TaskJobResult> {
  const { deps, job, token, log } = run;
  const deferred = await deps.ledger.tasks.deferTask(job.data.taskId, {
    state: 'waiting_vendor',
    reason: result.reason,
    nextActionAt: new Date(Date.now() + result.pollAfterMs),
    evidence: result.evidence,
  });
  if (!deferred.applied) return supersededRun(log, 'waiting_vendor', deferred.state);
  log.info('waiting for the vendor', { pollAfterMs: result.pollAfterMs });
  return delayJob(job, token, result.pollAfterMs, afterPark);
}

/** The task ends with its outcome and evidence; the request settles when it was its last open task. */
async function recordOutcome(
  run: TaskRun,
  task: BegunTask['task'],
  result: Exclude<TaskResult, { outcome: 'waiting_vendor' }>,
): Promise<TaskJobResult> {
  const { deps, job, log } = run;
  const { ledger } = deps;
  // Advisory: a Redis blip here must not cost the work just done.
  await deps.breaker?.recordSuccess(task.vendor).catch(() => undefined);
  const finished = await ledger.tasks.finishTask(job.data.taskId, result.outcome, result.evidence);
  if (!finished.applied) return supersededRun(log, result.outcome, finished.state);
  // Its own finish saw every task of the request ended: settle without reading them first.
  await (finished.lastOpen
    ? ledger.requests.settleEnded(job.data.requestId)
    : ledger.requests.settleRequest(job.data.requestId));
  log.info('task finished', { outcome: result.outcome, attempt: job.attemptsMade + 1 });
  return { outcome: result.outcome };
}

/**
 * Invariant 12: the person's identities are sealed with a key this process does not hold (a
 * rolling key rotation, README Operations). Not the task's fault: it waits, visibly
 * (`key_not_loaded`), and runs again with a doubling delay, spending no attempt, until a process
 * that holds the key (this one after its restart, or another) runs it.
 */
async function deferForKey(run: TaskRun, err: KeyNotLoadedError): Promise<never> {
  const { deps, job, token, log } = run;
  const waits = (job.data as KeyWaitJobData).keyWaits ?? 0;
  const base =
    typeof job.opts.backoff === 'object' && job.opts.backoff.delay
      ? Math.min(job.opts.backoff.delay, KEY_WAIT_FIRST_MS)
      : KEY_WAIT_FIRST_MS;
  const delayMs = Math.round(Math.min(KEY_WAIT_MAX_MS, base * 2 ** Math.min(waits, 16)) * (1 + Math.random() * 0.2));
  await job.updateData({ ...job.data, keyWaits: waits + 1 } as KeyWaitJobData);
  await deps.ledger.tasks.deferTask(job.data.taskId, {
    state: 'queued',
    reason: `${KEY_NOT_LOADED}: sealed with key ${err.keyId}, which this process does not hold`,
    nextActionAt: new Date(Date.now() + delayMs),
  });
  log.warn('identity sealed with a key this process does not hold; task deferred', {
    keyId: err.keyId,
    delayMs,
    waits: waits + 1,
  });
  return delayJob(job, token, delayMs);
}

/** What the error taxonomy does to the ledger when a task run fails (job-outcome.ts settleFailure). */
function taskFailureHooks(ctx: {
  ledger: Ledger;
  log: Logger;
  job: Job<TaskJobData>;
  vendor: VendorName;
}): FailureHooks {
  const { ledger, log, job, vendor } = ctx;
  const { requestId, taskId } = job.data;
  return {
    paused: async (reason) => {
      const parked = await ledger.tasks.deferTask(taskId, { state: 'waiting_vendor', reason });
      await ledger.tasks.deferVendorTasks(vendor, reason);
      return parked;
    },
    rateLimited: (reason, nextActionAt) =>
      ledger.tasks.deferTask(taskId, { state: 'rate_limited', reason, nextActionAt }),
    willRetry: (reason) =>
      ledger.tasks.deferTask(taskId, { state: 'queued', reason: `retrying after: ${reason}`, error: reason }),
    failed: (reason) =>
      recordJobFailure({ ledger, logger: log }, { kind: 'task', requestId, taskId, jobId: job.id }, reason),
  };
}

/** The waiting reason of a task deferred for a key its process does not hold (Invariant 12). */
export const KEY_NOT_LOADED = 'key_not_loaded';

/** Task job data, plus how many times the task has waited for a key (opaque count, no identifier). */
type KeyWaitJobData = TaskJobData & { keyWaits?: number };
