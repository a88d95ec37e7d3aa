import type { AppCenterBatching } from '../src/vendors/appcenter-settings.js';
import { PermanentVendorError, TransientVendorError } from '../src/vendors/vendor-errors.js';
import { isGone, type AppCenterClient } from '../src/vendors/appcenter-client.js';
import { scopeGone } from '../src/receipts/verification.js';
import type { TaskInput, TaskResult } from '../src/connectors/processor-contract.js';
import type { ScopeSightings } from '../src/ledger/scope-sightings.js';

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
): Promise<
  { state: 'waiting'; result: TaskResult } | { state: 'done'; batchId: string; result: Record<string, unknown> }
> {
  const outcome = await input.awaitBatch({
    kind: options.kind,
    scope: input.resource,
    windowMs: options.batching.windowMs,
    maxMembers: options.batching.maxMembers,
  });
  if (outcome.state === 'waiting') {
    return {
      state: 'waiting',
      result: {
        outcome: 'waiting_vendor',
        evidence: { batchId: outcome.batchId },
        pollAfterMs: MEMBER_FALLBACK_POLL_MS,
        reason: options.waitingReason,
      },
    };
  }
  if (outcome.state === 'failed') {
    const code = typeof outcome.result.code === 'string' ? outcome.result.code : undefined;
    // The batch's reason is written by the batch processor (never vendor text): it says why, e.g. an unexpected export format.
    const reason =
      typeof outcome.result.reason === 'string' ? outcome.result.reason : 'failed for this request in the shared batch';
    throw new PermanentVendorError({ vendor: 'appcenter', operation: options.kind, code }, reason);
  }
  return { state: 'done', batchId: outcome.batchId, result: outcome.result };
}

/** When App Center Push was retired (Push_* routes answer 404/410 while the rest of App Center answers). */
export const APPCENTER_PUSH_END_OF_SUPPORT = '2020-12-31';

/**
 * App Center answered 404/410 about an app: never trusted alone (README "Verification values"). The app is
 * looked up (AppCenterClient.confirmApp): a mistyped owner or app throws a MisconfiguredVendorError
 * naming the config key; App Center answering as retired, or Push answering as retired for an app
 * that exists, gives the batch result that members record as `scope_gone`, with the answer and date.
 */
export async function confirmGoneApp(
  client: AppCenterClient,
  app: string,
  status: number,
  options: { push: boolean; signal?: AbortSignal; sightings?: ScopeSightings },
): Promise<Record<string, unknown>> {
  const answer = await client.confirmApp(app, options.signal, options.sightings);
  // An app seen before (src/ledger/scope-sightings.ts) that App Center no longer lists: gone, with when it was last seen.
  if (isGone(answer) && 'lastSeenAt' in answer)
    return { appGone: true, vendorStatus: status, vendorAnswer: answer.vendorAnswer, lastSeenAt: answer.lastSeenAt };
  if (isGone(answer))
    return {
      appGone: true,
      vendorStatus: status,
      vendorAnswer: answer.vendorAnswer,
      endOfSupportAt: answer.endOfSupportAt,
    };
  if (options.push)
    return {
      appGone: true,
      vendorStatus: status,
      vendorAnswer: `Push ${status} while Apps_Get 200: App Center Push is retired`,
      endOfSupportAt: APPCENTER_PUSH_END_OF_SUPPORT,
    };
  throw new TransientVendorError(
    { vendor: 'appcenter', operation: 'Apps_Get', status: 200, code: 'AppStillDescribed' },
    `answered ${status} for an app it still describes`,
  );
}

/** Evidence when App Center answered as retired (confirmed by confirmGoneApp): `scope_gone`, with the vendor's answer and the date. */
export function goneEvidence(action: string, app: string, result: Record<string, unknown>): Record<string, unknown> {
  return {
    action,
    app,
    vendorAnswer:
      typeof result.vendorAnswer === 'string' ? result.vendorAnswer : `status ${String(result.vendorStatus)}`,
    vendorStatus: result.vendorStatus,
    ...(typeof result.endOfSupportAt === 'string' ? { endOfSupportAt: result.endOfSupportAt } : {}),
    ...(typeof result.lastSeenAt === 'string' ? { lastSeenAt: result.lastSeenAt } : {}),
    reason:
      typeof result.lastSeenAt === 'string'
        ? `the app, seen before (last seen ${result.lastSeenAt}), answers as gone`
        : `App Center is past its end of support${typeof result.endOfSupportAt === 'string' ? ` (${result.endOfSupportAt})` : ''}: the app answers as gone`,
    ...scopeGone(),
  };
}
