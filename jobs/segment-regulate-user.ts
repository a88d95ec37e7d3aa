import type { SegmentClient } from '../src/vendors/segment-client.js';
import { vendorConfirmed } from '../src/receipts/verification.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import { POLL_REGULATION, regulationBatchScope } from './segment-poll-regulation.js';
import { memberFallbackPollMs, requireClient, type TaskProcessor } from '../src/connectors/processor-contract.js';

/** The member task's job name: one per request and Segment scope (workspace, or each source). */
export const REGULATE_USER = 'regulate-user';

/**
 * Segment, one request: joins the shared regulation batch for its scope and regulation type
 * (Invariant 7: one regulation serves every request of the window, up to 5,000 user ids) and waits
 * without holding a worker. When the regulation ends, the task records the regulation's outcome:
 * FINISHED → succeeded; PARTIAL_SUCCESS → succeeded with `partial: true` (the request ends
 * completed_with_errors) naming the failing destinations, and so does a FAILED whose only failures
 * are destinations that take no deletions (Segment's documented answer); other FAILED, NOT_SUPPORTED, INVALID or a
 * status Segment does not document → failed with the reason, the evidence kept.
 */
export const regulateUser: TaskProcessor<SegmentClient> = async (input, deps) => {
  const segment = requireClient(deps, 'segment');
  if (!input.subject.userId) return { outcome: 'skipped', evidence: { reason: 'no user id for this person' } };
  const { regulationType, batchWindowMs, maxIdsPerRegulation, pollIntervalMs } = segment.settings;

  const batch = await input.awaitBatch({
    kind: POLL_REGULATION,
    scope: regulationBatchScope(input.resource, regulationType),
    windowMs: batchWindowMs,
    maxMembers: maxIdsPerRegulation,
  });
  if (batch.state === 'waiting') {
    const open = batch.closesAt.getTime() > Date.now();
    return {
      outcome: 'waiting_vendor',
      evidence: { batchId: batch.batchId },
      pollAfterMs: memberFallbackPollMs(pollIntervalMs),
      reason: open
        ? 'in a Segment regulation batch that has not been sent yet'
        : 'waiting for Segment to finish the regulation',
    };
  }
  const { reason, ...evidence } = batch.result;
  if (batch.state === 'failed') {
    // Keep what Segment said about each destination, then fail with the reason (no identifiers in either).
    await input.checkpoint({ batchId: batch.batchId, ...evidence });
    throw new PermanentVendorError(
      { vendor: 'segment', operation: 'regulation' },
      typeof reason === 'string' ? reason : 'did not erase',
    );
  }
  // A regulation that erased but names destinations it could not reach keeps why (no identifiers in it).
  // Segment offers no lookup of a regulated user: FINISHED is its word (src/receipts/verification.ts).
  return {
    outcome: 'succeeded',
    evidence: {
      batchId: batch.batchId,
      ...evidence,
      ...(evidence.partial === true && typeof reason === 'string' ? { errors: reason } : {}),
      ...vendorConfirmed(),
    },
  };
};
