import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { TaskJobData } from '../planner/build-flow.js';
import { PermanentVendorError, RateLimitedError, TransientVendorError, isVendorError } from '../vendors/vendor-errors.js';
import type { TaskProcessor, VendorClients } from '../../jobs/task-processor.js';

export interface TaskRunnerDeps {
  ledger: RequestLedger;
  processors: Readonly<Record<string, TaskProcessor>>;
  clients: VendorClients;
  logger: Logger;
}

/** What a task job leaves in Redis as its return value: the outcome word, nothing more. */
export interface TaskJobResult {
  outcome: string;
}

/** Random extra wait so throttled jobs do not all come back in the same millisecond. */
const jitter = (ms: number) => Math.round(ms * (1 + Math.random() * 0.2));

/**
 * Wraps a processor with the ledger and the error taxonomy: the one place where vendor answers
 * become BullMQ behaviour (DESIGN.md, How we write code).
 * - success / not_found → task settled with its evidence;
 * - waiting_vendor → job delayed until the next poll (no attempt spent, no worker held);
 * - RateLimitedError → job delayed by the vendor's hint (no attempt spent);
 * - TransientVendorError (and unknown errors) → thrown, so BullMQ retries with backoff, or fails on the last attempt;
 * - PermanentVendorError → UnrecoverableError: failed at once.
 * Every message that reaches Redis or the logs is built by us and holds no identifier.
 */
export function createTaskRunner(deps: TaskRunnerDeps) {
  const { ledger, processors, clients } = deps;
  return async (job: Job<TaskJobData>, token?: string, signal?: AbortSignal): Promise<TaskJobResult> => {
    const { requestId, taskId } = job.data;
    const log = deps.logger.child({ requestId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = processors[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job ${job.name}`);

    const task = await ledger.beginTask(taskId);
    if (!task) {
      log.info('task already settled; nothing to do');
      return { outcome: 'already_settled' };
    }
    const attempt = job.attemptsMade + 1;
    const lastAttempt = attempt >= (job.opts.attempts ?? 1);
    try {
      const subject = await ledger.loadSubject(requestId);
      const result = await processor(
        {
          requestId,
          taskId,
          resource: task.resource,
          subject,
          attempt,
          previous: task.evidence,
          checkpoint: (evidence) => ledger.checkpointTask(taskId, evidence),
          signal,
        },
        clients,
      );
      if (result.outcome === 'waiting_vendor') {
        await ledger.checkpointTask(taskId, result.evidence);
        await ledger.deferTask(taskId, { state: 'waiting_vendor', reason: result.reason, nextActionAt: new Date(Date.now() + result.pollAfterMs) });
        await job.moveToDelayed(Date.now() + result.pollAfterMs, token);
        log.info('waiting for the vendor', { pollAfterMs: result.pollAfterMs });
        throw new DelayedError();
      }
      await ledger.finishTask(taskId, result.outcome, result.evidence);
      await ledger.settleRequest(requestId);
      log.info('task finished', { outcome: result.outcome, attempt });
      return { outcome: result.outcome };
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof RateLimitedError) {
        const delay = jitter(err.retryAfterMs);
        await ledger.deferTask(taskId, { state: 'rate_limited', reason: err.message, nextActionAt: new Date(Date.now() + delay) });
        await job.moveToDelayed(Date.now() + delay, token);
        log.warn('vendor throttled; delayed without spending an attempt', { delayMs: delay });
        throw new DelayedError();
      }
      const failure = isVendorError(err) ? err : new TransientVendorError({ vendor: task.vendor, operation: job.name, code: (err as Error)?.name ?? 'Error' }, 'failed unexpectedly');
      if (!isVendorError(err)) log.error('unexpected error in processor', { errorName: (err as Error)?.name, stack: stackWithoutMessage(err) });
      if (failure instanceof PermanentVendorError || lastAttempt) {
        await ledger.failTask(taskId, failure.message);
        await ledger.settleRequest(requestId);
        log.warn('task failed', { reason: failure.message, attempt });
        throw failure instanceof PermanentVendorError ? failure : new UnrecoverableError(failure.message);
      }
      await ledger.deferTask(taskId, { state: 'queued', reason: `retrying after: ${failure.message}`, error: failure.message });
      log.warn('task will be retried', { reason: failure.message, attempt });
      throw failure;
    }
  };
}

/** A stack trace without its first line, which is the (possibly identifier-bearing) message. */
function stackWithoutMessage(err: unknown): string | undefined {
  const stack = (err as Error | undefined)?.stack;
  return stack?.split('\n').slice(1, 6).join('\n');
}
