import type { ProjectDeletionRecord } from '../ledger/project-deletion-ledger.js';
import type { ChainEntry } from '../receipts/audit-chain.js';

/** A project deletion as the API shows it: what, when it runs, whether it can still be cancelled, what happened. */
export function projectDeletionView(deletion: ProjectDeletionRecord, trail?: ChainEntry[], now = new Date()) {
  return {
    id: deletion.id,
    vendor: deletion.vendor,
    appId: deletion.appId,
    status: deletion.status,
    outcome: deletion.outcome,
    reason: deletion.reason,
    requestedBy: deletion.requestedBy,
    requestedAt: deletion.createdAt.toISOString(),
    gracePeriodDays: deletion.gracePeriodDays,
    runAt: deletion.runAt.toISOString(),
    /** Seconds until the grace period ends (0 once it has). */
    runsInSeconds:
      deletion.status === 'scheduled' ? Math.max(0, Math.ceil((deletion.runAt.getTime() - now.getTime()) / 1000)) : 0,
    cancellable: deletion.status === 'scheduled',
    s3Locations: deletion.s3Locations,
    attempts: deletion.attempts,
    evidence: deletion.evidence,
    error: deletion.error,
    cancelledBy: deletion.cancelledBy,
    cancelReason: deletion.cancelReason,
    cancelledAt: deletion.cancelledAt?.toISOString() ?? null,
    startedAt: deletion.startedAt?.toISOString() ?? null,
    finishedAt: deletion.finishedAt?.toISOString() ?? null,
    ...(trail
      ? { audit: trail.map((e) => ({ at: e.at, actor: e.actor, action: e.action, detail: e.detail, hash: e.hash })) }
      : {}),
  };
}

/** Why a deletion can no longer be cancelled, in one sentence an operator can act on. */
export function whyNotCancellable(deletion: ProjectDeletionRecord): string {
  const at = (d: Date | null) => d?.toISOString() ?? 'an unknown time';
  switch (deletion.status) {
    case 'running':
      return `the deletion of app ${deletion.appId} already started at ${at(deletion.startedAt)} and cannot be cancelled`;
    case 'completed':
      return `the deletion of app ${deletion.appId} already ran: it completed at ${at(deletion.finishedAt)} with outcome ${deletion.outcome}`;
    case 'failed':
      return `the deletion of app ${deletion.appId} already ran and failed at ${at(deletion.finishedAt)}: ${deletion.error ?? 'no reason recorded'}`;
    case 'cancelled':
      return `the deletion of app ${deletion.appId} was already cancelled at ${at(deletion.cancelledAt)} by ${deletion.cancelledBy ?? 'someone'}`;
    default:
      return `the deletion is ${deletion.status}`;
  }
}
