import { UnrecoverableError, type Job } from 'bullmq';
import type { BatchLedger } from '../ledger/batch-ledger.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { BatchProcessor, VendorClients } from '../../jobs/task-processor.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { BatchJobData } from './batch-coordinator.js';
import type { QueueSet } from './queue-set.js';
import { delayJob, settleFailure } from './job-outcome.js';

export interface BatchRunnerDeps {
  ledger: RequestLedger;
  batches: BatchLedger;
  queues: QueueSet;
  processors: Readonly<Record<string, BatchProcessor>>;
  clients: VendorClients;
  logger: Logger;
}

/**
 * Runs one shared batch job: closes the batch to new members, opens the members' identifiers,
 * calls the batch processor once for all of them, writes each member's result, and wakes the
 * members' task jobs so they carry on at once. A batch that fails for good detaches its members,
 * which then join a new batch: no request in a failed batch is lost.
 */
export function createBatchRunner(deps: BatchRunnerDeps) {
  const { batches, ledger } = deps;

  async function wakeMembers(queueName: string, taskIds: string[]): Promise<void> {
    const queue = deps.queues.queue(queueName);
    for (const taskId of taskIds) {
      const job = await queue.getJob(taskId);
      if (job && (await job.isDelayed())) await job.promote().catch(() => undefined);
    }
  }

  return async (job: Job<BatchJobData>, token?: string, signal?: AbortSignal): Promise<{ outcome: string; members: number }> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ batchId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = deps.processors[job.name];
    if (!processor) throw new UnrecoverableError(`no batch processor for job ${job.name}`);
    const batch = await batches.start(batchId);
    if (!batch) return { outcome: 'already_ended', members: 0 };
    const members = await batches.members(batchId);
    try {
      const withSubjects = await Promise.all(members.map(async (m) => ({ taskId: m.taskId, requestId: m.requestId, subject: await ledger.loadSubject(m.requestId) })));
      const result = await processor(
        {
          batchId,
          scope: batch.scope,
          members: withSubjects,
          attempt: job.attemptsMade + 1,
          previous: batch.evidence,
          checkpoint: (evidence) => batches.checkpoint(batchId, evidence),
          signal,
        },
        deps.clients,
      );
      if (result.outcome === 'waiting_vendor') {
        await batches.checkpoint(batchId, result.evidence);
        log.info('batch waiting for the vendor', { pollAfterMs: result.pollAfterMs, members: members.length });
        return await delayJob(job, token, result.pollAfterMs);
      }
      await batches.complete(batchId, result.evidence, result.members);
      await wakeMembers(job.queueName, members.map((m) => m.taskId));
      log.info('batch done', { members: members.length });
      return { outcome: 'done', members: members.length };
    } catch (err) {
      return settleFailure(err, {
        job,
        token,
        vendor: batch.vendor as VendorName,
        log,
        hooks: {
          rateLimited: async () => undefined,
          willRetry: async (reason) => batches.checkpoint(batchId, { lastError: reason }),
          failed: async (reason) => {
            await batches.fail(batchId, reason);
            await wakeMembers(job.queueName, members.map((m) => m.taskId));
          },
        },
      });
    }
  };
}
