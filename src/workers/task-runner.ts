import { UnrecoverableError, type Job } from 'bullmq';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { TaskJobData } from '../planner/build-flow.js';
import type { TaskProcessor, VendorClients } from '../../jobs/task-processor.js';
import { TaskSupersededError, delayJob, firstLedgerStep, settleFailure, supersededRun, waitIfLedgerDown } from './job-outcome.js';
import type { BatchCoordinator } from './batch-coordinator.js';

export interface TaskRunnerDeps {
  ledger: RequestLedger;
  batches: BatchCoordinator;
  processors: Readonly<Record<string, TaskProcessor>>;
  clients: VendorClients;
  logger: Logger;
}

/** What a task job leaves in Redis as its return value: the outcome word, nothing more. */
export interface TaskJobResult {
  outcome: string;
}

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
          checkpoint: async (evidence) => {
            const saved = await ledger.checkpointTask(taskId, evidence);
            if (!saved.applied) throw new TaskSupersededError(saved.state);
          },
          awaitBatch: (request) => deps.batches.awaitBatch({ ...request, vendor: task.vendor, taskId, requestId, taskQueue: job.queueName }),
          signal,
        },
        clients,
      );
      if (result.outcome === 'waiting_vendor') {
        const deferred = await ledger.deferTask(taskId, { state: 'waiting_vendor', reason: result.reason, nextActionAt: new Date(Date.now() + result.pollAfterMs), evidence: result.evidence });
        if (!deferred.applied) return supersededRun(log, 'waiting_vendor', deferred.state);
        log.info('waiting for the vendor', { pollAfterMs: result.pollAfterMs });
        return await delayJob(job, token, result.pollAfterMs);
      }
      const finished = await ledger.finishTask(taskId, result.outcome, result.evidence);
      if (!finished.applied) return supersededRun(log, result.outcome, finished.state);
      await ledger.settleRequest(requestId);
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
        hooks: {
          rateLimited: (reason, nextActionAt) => ledger.deferTask(taskId, { state: 'rate_limited', reason, nextActionAt }),
          willRetry: (reason) => ledger.deferTask(taskId, { state: 'queued', reason: `retrying after: ${reason}`, error: reason }),
          failed: async (reason) => {
            const failed = await ledger.failTask(taskId, reason);
            if (failed.applied) await ledger.settleRequest(requestId);
            return failed;
          },
        },
      });
    }
  };
}
