import type { Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { BatchOutcome, BatchRequest } from '../connectors/processor-contract.js';

/** The member side of a shared batch's hand-off, for one run of a member task. */
export interface BatchHandOff {
  /** The `awaitBatch` handed to the processor: the same answers, remembered for `afterPark`. */
  readonly awaitBatch: (request: BatchRequest) => Promise<BatchOutcome>;
  /**
   * Called once the member's job has been parked (moved to `delayed`). When this run waited for a
   * batch that has since ended (or no longer holds the member), promotes the job so it carries on
   * at once. Never throws: a member that cannot look keeps its fallback look, and the
   * reconciler wakes members of ended batches still asleep.
   */
  readonly afterPark: (job: Job) => Promise<void>;
}

/**
 * How a batch hands its end to its members without anyone waiting on a timer. The batch runner
 * (src/workers/batch-runner.ts) ends the batch in the ledger, then promotes every member job that
 * is parked. A member still running at that moment is not parked yet, so that promote misses it;
 * the member closes the gap itself: after parking, it reads its membership again. Of the two
 * steps (the batch's ledger write then Redis read; the member's Redis park then ledger read), one
 * always sees the other's write, so every member is handed on by one side or the other, and a
 * promote from both is harmless. Reading again goes through `awaitBatch`, so a member set aside
 * or moved to another batch meanwhile is handled as in its next run.
 */
export function trackBatchWaits(
  awaitBatch: (request: BatchRequest) => Promise<BatchOutcome>,
  log: Logger,
): BatchHandOff {
  let last: { request: BatchRequest; outcome: BatchOutcome } | undefined;
  return {
    awaitBatch: async (request) => {
      const outcome = await awaitBatch(request);
      last = { request, outcome };
      return outcome;
    },
    afterPark: async (job) => {
      if (last?.outcome.state !== 'waiting') return;
      const waitedFor = last.outcome.batchId;
      try {
        const now = await awaitBatch(last.request).catch(() => undefined);
        // Still waiting in the same batch: its runner will promote this (parked) job when it ends.
        if (now?.state === 'waiting' && now.batchId === waitedFor) return;
        await job.promote();
        log.info('its batch had ended or moved on while this run parked; carries on now', { batchId: waitedFor });
      } catch (err) {
        // Already promoted by the batch's wake (it is not delayed any more), or Redis did not answer.
        log.debug('could not hand a parked member on itself', { batchId: waitedFor, errorName: (err as Error).name });
      }
    },
  };
}
