import type { AppCenterBatching } from '../src/vendors/appcenter-settings.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import type { TaskInput, TaskResult } from './task-processor.js';

/**
 * How long a member waits before looking again on its own. The batch runner wakes members as
 * soon as their batch ends, so this is only the fallback (e.g. after a Redis wipe).
 */
export const MEMBER_FALLBACK_POLL_MS = 5 * 60_000;

/**
 * The member side of an App Center shared batch: join the app's open batch of `kind`, wait while
 * it runs, and hand back the batch's result for this member. A member the batch marked failed
 * fails with the batch's (identifier-free) reason.
 */
export async function awaitAppCenterBatch(
  input: TaskInput,
  options: { kind: string; batching: AppCenterBatching; waitingReason: string },
): Promise<{ state: 'waiting'; result: TaskResult } | { state: 'done'; batchId: string; result: Record<string, unknown> }> {
  const outcome = await input.awaitBatch({ kind: options.kind, scope: input.resource, windowMs: options.batching.windowMs, maxMembers: options.batching.maxMembers });
  if (outcome.state === 'waiting') {
    return {
      state: 'waiting',
      result: { outcome: 'waiting_vendor', evidence: { batchId: outcome.batchId }, pollAfterMs: MEMBER_FALLBACK_POLL_MS, reason: options.waitingReason },
    };
  }
  if (outcome.state === 'failed') {
    const code = typeof outcome.result.code === 'string' ? outcome.result.code : undefined;
    // The batch's reason is written by the batch processor (never vendor text): it says why, e.g. an unexpected export format.
    const reason = typeof outcome.result.reason === 'string' ? outcome.result.reason : 'failed for this request in the shared batch';
    throw new PermanentVendorError({ vendor: 'appcenter', operation: options.kind, code }, reason);
  }
  return { state: 'done', batchId: outcome.batchId, result: outcome.result };
}

/** Evidence when App Center answered 404/410 for the app: retired, or the app is gone. Recorded, not an error. */
export function goneEvidence(action: string, app: string, result: Record<string, unknown>): Record<string, unknown> {
  return {
    action,
    app,
    vendorAnswer: result.vendorStatus === 410 ? 'gone' : 'not_found',
    vendorStatus: result.vendorStatus,
    reason: 'App Center answered that the app (or the service) no longer exists: retired or deleted',
  };
}
