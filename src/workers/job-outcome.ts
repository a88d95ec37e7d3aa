import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { VendorName } from '../vendors/vendor-name.js';
import {
  MisconfiguredVendorError,
  PermanentVendorError,
  RateLimitedError,
  TransientVendorError,
  isVendorError,
  isVendorOutage,
} from '../vendors/vendor-errors.js';
import { breakerWaitingReason, type VendorBreaker } from '../infrastructure/vendor-breaker.js';

/** What a guarded ledger write did (src/ledger/task-transitions.ts): lost when another writer got there first. */
export interface LedgerWrite {
  applied: boolean;
  /** The state the record is in now. */
  state?: string;
}

/**
 * What the ledger records for each way a run can end without finishing. A hook whose write is
 * lost (the task was cancelled or ended meanwhile, Invariant 9) makes the run stop there.
 */
/** A hook's ledger write, or nothing when the hook records no guarded write (a batch's or a withdrawal's). */
type HookWrite = Promise<LedgerWrite> | Promise<void>;

export interface FailureHooks {
  rateLimited(reason: string, nextActionAt: Date): HookWrite;
  willRetry(reason: string): HookWrite;
  failed(reason: string): HookWrite;
  /** The vendor's breaker is open (its queue paused): the run waits for the resume, no attempt spent. */
  paused?(reason: string): HookWrite;
}

/**
 * How soon a job parked by an open breaker looks again. Its queue is paused, so it then sits in
 * the paused queue until the breaker closes (operator resume, or a half-open probe).
 */
export const BREAKER_PARK_MS = 1000;

/** A run that stopped because its record was cancelled or ended by another writer: its job completes, nothing more. */
export interface SupersededRun {
  outcome: 'superseded';
}

/**
 * Ends a run whose ledger write was lost: no delay, no retry, no failure, so the job is not run
 * again for a record that another writer (a cancel, another run of the job) has ended. Logs the
 * state it found, never an identifier.
 */
export function supersededRun(log: Logger, step: string, state: string | undefined): SupersededRun {
  log.info('its record was cancelled or ended by another writer; this run stops', { step, state: state ?? 'missing' });
  return { outcome: 'superseded' };
}

/**
 * Thrown by a task's `checkpoint` when the ledger refused it: the task was cancelled or ended
 * meanwhile. It stops the processor before its next vendor call (evidence is written ahead,
 * Invariant 11); the runner ends the run as superseded.
 */
export class TaskSupersededError extends Error {
  override readonly name = 'TaskSupersededError';
  constructor(readonly state: string | undefined) {
    super(`the task is ${state ?? 'missing'} now; this run stops`);
  }
}

const lost = (write: Awaited<HookWrite>): write is LedgerWrite => write !== undefined && !write.applied;

/** The `name` of whatever was thrown (anything can be), when it has one. */
function thrownName(thrown: unknown): string | undefined {
  if (typeof thrown !== 'object' || thrown === null || !('name' in thrown)) return undefined;
  return typeof thrown.name === 'string' ? thrown.name : undefined;
}

/** Random extra wait so throttled jobs do not all come back in the same millisecond. */
const jitter = (ms: number) => Math.round(ms * (1 + Math.random() * 0.2));

/**
 * Puts the running job back to `delayed` for `ms` (no attempt spent, no worker held) and ends this
 * run. `afterMove` runs once the job is delayed (a batch member's hand-off: src/workers/batch-hand-off.ts).
 */
export async function delayJob(
  job: Job,
  token: string | undefined,
  ms: number,
  afterMove?: () => Promise<void>,
): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  await afterMove?.();
  throw new DelayedError();
}

/**
 * The error taxonomy applied to a run that threw: the one place where vendor answers become
 * BullMQ behaviour (README "Errors, retries and rate limits").
 * - RateLimitedError → delayed by the vendor's hint, no attempt spent;
 * - PermanentVendorError → UnrecoverableError: failed now;
 * - TransientVendorError and anything unknown → thrown again, so BullMQ retries with backoff,
 *   or failed for good on the last attempt.
 * With a breaker (src/infrastructure/vendor-breaker.ts): a MisconfiguredVendorError (credentials rejected,
 * configured scope missing) opens the vendor's breaker, as does the N-th consecutive 5xx/timeout;
 * the job then waits for the resume without spending an attempt. Without one, a
 * MisconfiguredVendorError fails the job at once like any PermanentVendorError.
 * Unknown errors are replaced by a message of our own: theirs may carry an identifier.
 * When a hook's ledger write is lost, the run ends as superseded instead (see `supersededRun`).
 */
export async function settleFailure(
  err: unknown,
  ctx: { job: Job; token?: string; vendor: VendorName; log: Logger; hooks: FailureHooks; breaker?: VendorBreaker },
): Promise<SupersededRun> {
  const { job, log, hooks } = ctx;
  if (err instanceof DelayedError) throw err;
  if (err instanceof RateLimitedError) {
    const delay = jitter(err.retryAfterMs);
    const deferred = await hooks.rateLimited(err.message, new Date(Date.now() + delay));
    if (lost(deferred)) return supersededRun(log, 'rate_limited', deferred.state);
    log.warn('vendor throttled; delayed without spending an attempt', { delayMs: delay });
    return delayJob(job, ctx.token, delay);
  }
  if (!isVendorError(err))
    log.error('unexpected error in processor', { errorName: thrownName(err), stack: stackWithoutMessage(err) });
  const failure = isVendorError(err)
    ? err
    : new TransientVendorError(
        { vendor: ctx.vendor, operation: job.name, code: thrownName(err) ?? 'Error' },
        'failed unexpectedly',
      );
  const { breaker } = ctx;
  if (breaker && hooks.paused) {
    // When the breaker's Redis does not answer, the failure is handled as if there were no breaker.
    const opened = await (
      failure instanceof MisconfiguredVendorError
        ? breaker.trip(ctx.vendor, failure.fault, failure.message, failure.configKey).then(() => true)
        : failure instanceof TransientVendorError && isVendorOutage(failure)
          ? breaker.recordTransient(ctx.vendor, failure.message)
          : Promise.resolve(false)
    ).catch((e: unknown) => {
      log.warn('circuit breaker unavailable', { errorName: thrownName(e) });
      return false;
    });
    if (opened) {
      const state = await breaker.state(ctx.vendor).catch(() => ({ vendor: ctx.vendor, reason: failure.message }));
      const reason = breakerWaitingReason(state, failure.message);
      const parked = await hooks.paused(reason);
      if (lost(parked)) return supersededRun(log, 'paused', parked.state);
      log.warn('vendor breaker open; job parked without spending an attempt', {
        reason,
        attempt: job.attemptsMade + 1,
      });
      return delayJob(job, ctx.token, BREAKER_PARK_MS);
    }
  }
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  if (failure instanceof PermanentVendorError || lastAttempt) {
    const failed = await hooks.failed(failure.message);
    if (lost(failed)) return supersededRun(log, 'failed', failed.state);
    log.warn('failed', { reason: failure.message, attempt: job.attemptsMade + 1 });
    throw failure instanceof PermanentVendorError ? failure : new UnrecoverableError(failure.message);
  }
  const retrying = await hooks.willRetry(failure.message);
  if (lost(retrying)) return supersededRun(log, 'will_retry', retrying.state);
  log.warn('will be retried', { reason: failure.message, attempt: job.attemptsMade + 1 });
  throw failure;
}

/** A stack trace without its first line, which is the (possibly identifier-bearing) message. */
function stackWithoutMessage(err: unknown): string | undefined {
  const stack = (err as Error | undefined)?.stack;
  return stack?.split('\n').slice(1, 6).join('\n');
}
/** How long a job waits for an unreachable ledger before it looks again. */
export const LEDGER_WAIT_MS = 3000;

/**
 * The ledger (Postgres) cannot be reached: nothing can be begun or recorded, and it is not the
 * vendor's fault, so the job goes back to `delayed` without spending an attempt. A restart or
 * failover of the database then delays erasures instead of failing them.
 */
export async function waitForLedger(job: Job, token: string | undefined, log: Logger): Promise<never> {
  log.warn('ledger unreachable; job delayed without spending an attempt', { delayMs: LEDGER_WAIT_MS });
  return delayJob(job, token, Math.round(LEDGER_WAIT_MS * (1 + Math.random() * 0.2)));
}

/** What a runner needs to tell a ledger outage from an ordinary error, and to wait one out. */
export interface LedgerOutageContext {
  job: Job;
  token: string | undefined;
  log: Logger;
  /** Resolves when the ledger answers. */
  ping: () => Promise<void>;
}

/**
 * Called with what a run threw: when the ledger does not answer now, the error was the outage and
 * the job waits it out without spending an attempt (this throws DelayedError). Otherwise it
 * returns, and the caller handles `err` as it would have.
 */
export async function waitIfLedgerDown(err: unknown, context: LedgerOutageContext): Promise<void> {
  if (err instanceof DelayedError) return;
  if (
    await context.ping().then(
      () => true,
      () => false,
    )
  )
    return;
  await waitForLedger(context.job, context.token, context.log);
}

/**
 * A run's first ledger step (beginning its task, batch or deletion): an outage while it runs
 * waits the job out without spending an attempt; any other error is thrown as it was.
 */
export async function firstLedgerStep<T>(context: LedgerOutageContext, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    await waitIfLedgerDown(err, context);
    throw err;
  }
}
