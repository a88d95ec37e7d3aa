import { UnrecoverableError, type Job } from 'bullmq';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { TaskJobData } from '../planner/build-flow.js';
import type { TaskProcessor, VendorClients } from '../../jobs/task-processor.js';
import { delayJob, firstLedgerStep, settleFailure, waitIfLedgerDown } from './job-outcome.js';
import type { BatchCoordinator } from './batch-coordinator.js';
import type { VendorBreaker } from './vendor-breaker.js';

export interface TaskRunnerDeps {
  ledger: RequestLedger;
  batches: BatchCoordinator;
  processors: Readonly<Record<string, TaskProcessor>>;
  clients: VendorClients;
  logger: Logger;
  /** The vendors' circuit breakers; without it a configuration fault just fails the task. */
  breaker?: VendorBreaker;
}

/** What a task job leaves in Redis as its return value: the outcome word, nothing more. */
export interface TaskJobResult {
  outcome: string;
}

/**
 * Runs one task job: opens the person's identifiers for the processor, records its outcome and
 * evidence in the ledger, and settles the request when its last task ends. A task that already
 * settled is not run again (at-least-once delivery, Invariant 3). Failures go through the error
 * taxonomy in job-outcome.ts.
 */
export function createTaskRunner(deps: TaskRunnerDeps) {
  const { ledger, processors, clients } = deps;
  return async (job: Job<TaskJobData>, token?: string, signal?: AbortSignal): Promise<TaskJobResult> => {
    const { requestId, taskId } = job.data;
    const log = deps.logger.child({ requestId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = processors[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job ${job.name}`);
    const outage = { job, token, log, ping: () => ledger.ping() };

    const begun = await firstLedgerStep(outage, () => ledger.beginTask(taskId));
    if (!begun) {
      log.info('task already settled; nothing to do');
      return { outcome: 'already_settled' };
    }
    const { task, subject } = begun;
    const attempt = job.attemptsMade + 1;
    try {
      const result = await processor(
        {
          requestId,
          taskId,
          resource: task.resource,
          subject,
          attempt,
          previous: task.evidence,
          checkpoint: (evidence) => ledger.checkpointTask(taskId, evidence),
          awaitBatch: (request) => deps.batches.awaitBatch({ ...request, vendor: task.vendor, taskId, requestId, taskQueue: job.queueName }),
          signal,
        },
        clients,
      );
      if (result.outcome === 'waiting_vendor') {
        await ledger.deferTask(taskId, { state: 'waiting_vendor', reason: result.reason, nextActionAt: new Date(Date.now() + result.pollAfterMs), evidence: result.evidence });
        log.info('waiting for the vendor', { pollAfterMs: result.pollAfterMs });
        return await delayJob(job, token, result.pollAfterMs);
      }
      // Advisory: a Redis blip here must not cost the work just done.
      await deps.breaker?.recordSuccess(task.vendor).catch(() => undefined);
      await ledger.finishTask(taskId, result.outcome, result.evidence);
      await ledger.settleRequest(requestId);
      log.info('task finished', { outcome: result.outcome, attempt });
      return { outcome: result.outcome };
    } catch (err) {
      await waitIfLedgerDown(err, outage);
      return settleFailure(err, {
        job,
        token,
        vendor: task.vendor,
        log,
        breaker: deps.breaker,
        hooks: {
          paused: async (reason) => {
            await ledger.deferTask(taskId, { state: 'waiting_vendor', reason });
            await ledger.deferVendorTasks(task.vendor, reason);
          },
          rateLimited: (reason, nextActionAt) => ledger.deferTask(taskId, { state: 'rate_limited', reason, nextActionAt }),
          willRetry: (reason) => ledger.deferTask(taskId, { state: 'queued', reason: `retrying after: ${reason}`, error: reason }),
          failed: async (reason) => {
            await ledger.failTask(taskId, reason);
            await ledger.settleRequest(requestId);
          },
        },
      });
    }
  };
}
