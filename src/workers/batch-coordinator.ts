import type { Job, Queue } from 'bullmq';
import type { BatchLedger, BatchRecord } from '../ledger/batch-ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { BatchOutcome, BatchRequest } from '../connectors/processor-contract.js';
import { PermanentVendorError } from '../vendors/vendor-errors.js';

export interface BatchJobData {
  batchId: string;
}

export const batchJobId = (batchId: string) => `batch__${batchId}`;

/**
 * Puts a batch's job in its vendor queue, delayed until the batch closes. Adding it again is a
 * no-op (deterministic job id), so joiners, the runner and the reconciler may all call it.
 */
export function addBatchJob(
  queue: Queue,
  batch: Pick<BatchRecord, 'id' | 'kind' | 'closesAt'>,
  now = Date.now(),
): Promise<Job> {
  const data: BatchJobData = { batchId: batch.id };
  return queue.add(batch.kind, data, {
    jobId: batchJobId(batch.id),
    delay: Math.max(0, batch.closesAt.getTime() - now),
  });
}

/**
 * The task side of shared batches: join the open batch in the ledger, make sure its job is in the
 * vendor's queue (delayed until the batch closes, promoted when it fills up), and report where the
 * membership stands. Deterministic job ids make every step safe to repeat.
 */
export function createBatchCoordinator(deps: { batches: BatchLedger; queues: QueueSet }) {
  /** `mayPromote`: only an open batch that is due may be started early; a running one waits for its own poll. */
  async function ensureJob(vendorQueue: string, batch: BatchRecord, mayPromote: boolean): Promise<void> {
    const job = await addBatchJob(deps.queues.queue(vendorQueue), batch);
    if (mayPromote && batch.closesAt.getTime() <= Date.now() && (await job.isDelayed()))
      await job.promote().catch(() => undefined);
  }

  return {
    async awaitBatch(
      input: BatchRequest & { vendor: VendorName; taskId: string; requestId: string; taskQueue: string },
    ): Promise<BatchOutcome> {
      const maxRebatches = input.maxRebatches ?? 3;
      const joined = await deps.batches.join({ ...input, maxRebatches });
      if (!joined) {
        // Say why: "failed 4 times" alone sends on-call to the logs (issue 17).
        const cause = await deps.batches.lastFailure(input.taskId, input.kind).catch(() => undefined);
        throw new PermanentVendorError(
          { vendor: input.vendor, operation: input.kind },
          `shared batch failed ${maxRebatches + 1} times${cause ? `; last cause: ${cause}` : ''}`,
        );
      }
      const { batch, member } = joined;
      if (member.state === 'done') return { state: 'done', batchId: batch.id, result: member.result ?? {} };
      if (member.state === 'failed') return { state: 'failed', batchId: batch.id, result: member.result ?? {} };
      if (batch.state === 'open' || batch.state === 'running')
        await ensureJob(input.taskQueue, batch, batch.state === 'open');
      return { state: 'waiting', batchId: batch.id, closesAt: batch.closesAt };
    },
  };
}

export type BatchCoordinator = ReturnType<typeof createBatchCoordinator>;
