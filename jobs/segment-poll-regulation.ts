import type { SegmentClient } from '../src/vendors/segment-client.js';
import type { RegulationStatus, RegulationTarget } from '../src/vendors/segment-client.js';
import {
  SEGMENT_ERASING_REGULATION_TYPES,
  SEGMENT_MAX_SUBJECT_IDS,
  type SegmentRegulationType,
} from '../src/vendors/segment-settings.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import {
  requireClient,
  type BatchProcessor,
  type BatchResult,
  type Evidence,
  type MemberResult,
} from '../src/connectors/processor-contract.js';

/** The batch job's name in the `segment` queue: creates one regulation for the batch, then polls it. */
export const POLL_REGULATION = 'poll-regulation';

/** Statuses of a regulation Segment is still working on (docs/vendors/segment.md). */
const IN_PROGRESS = new Set(['INITIALIZED', 'RUNNING']);
/** Final statuses that did not erase: the members fail, naming the destinations that did not. */
const NOT_ERASED = new Set(['FAILED', 'NOT_SUPPORTED', 'INVALID']);

/**
 * A batch's scope: the vendor resource and the regulation type, so that only requests bound for
 * the same regulation share a batch, and the batch job needs no settings to know what to create.
 */
export function regulationBatchScope(resource: string, regulationType: SegmentRegulationType): string {
  return `${resource}#${regulationType}`;
}

export function parseRegulationBatchScope(scope: string): {
  resource: string;
  target: RegulationTarget;
  regulationType: SegmentRegulationType;
} {
  const at = scope.lastIndexOf('#');
  const resource = scope.slice(0, at);
  const regulationType = scope.slice(at + 1) as SegmentRegulationType;
  const fail = () =>
    new PermanentVendorError({ vendor: 'segment', operation: POLL_REGULATION }, 'has a batch scope it cannot read');
  if (at < 0 || !SEGMENT_ERASING_REGULATION_TYPES.includes(regulationType)) throw fail();
  if (resource === 'workspace') return { resource, target: { kind: 'workspace' }, regulationType };
  const source = /^source\/([A-Za-z0-9]+)$/.exec(resource);
  if (!source) throw fail();
  return { resource, target: { kind: 'source', sourceId: source[1] }, regulationType };
}

/** The next poll, with jitter so that regulations created together do not poll together. */
export function nextPollMs(intervalMs: number, jitter: number, random = Math.random): number {
  return Math.round(intervalMs * (1 + random() * jitter));
}

/** A status word Segment sent, fit to quote (statuses are upper-case words); anything else is not quoted. */
function quotable(status: string): string {
  return /^[A-Z][A-Z_]{0,39}$/.test(status) ? status : '(unreadable)';
}

const names = (list: Array<{ name: string }>) => [...new Set(list.map((d) => d.name).filter(Boolean))];

/** What every member of a regulation learns: the regulation's outcome, the same for all (Segment does not report per subject). */
export function regulationOutcome(regulation: RegulationStatus, base: Evidence): MemberResult {
  const status = regulation.overallStatus;
  const destinations = regulation.destinations.map((d) => ({
    name: d.name,
    id: d.id,
    status: d.status,
    sourceId: d.sourceId,
  }));
  const failed = names(regulation.destinations.filter((d) => d.status === 'FAILED'));
  const unsupported = names(regulation.destinations.filter((d) => d.status === 'NOT_SUPPORTED'));
  const evidence: Evidence = {
    ...base,
    regulateId: regulation.id,
    overallStatus: quotable(status),
    destinations,
    ...(unsupported.length ? { unsupportedDestinations: unsupported } : {}),
    ...(regulation.finishedAt ? { finishedAt: regulation.finishedAt } : {}),
    // Segment reports a regulation's outcome, not one per user id.
    coverage: 'regulation-wide',
  };
  if (status === 'FINISHED') return { state: 'done', result: evidence };
  if (status === 'PARTIAL_SUCCESS')
    return { state: 'done', result: { ...evidence, partial: true, failedDestinations: failed } };
  // Segment's docs: the overall status turns FAILED when a destination that takes no deletions
  // "fails", even though Segment and every supported destination finished (docs/vendors/segment.md).
  // Segment did erase: the task ends done with errors naming those destinations (they must be asked
  // directly), and nothing is retried, since a new regulation would end the same way.
  if (
    status === 'FAILED' &&
    failed.length === 0 &&
    unsupported.length > 0 &&
    regulation.destinations.every((d) => d.status === 'FINISHED' || d.status === 'NOT_SUPPORTED')
  ) {
    return {
      state: 'done',
      result: {
        ...evidence,
        partial: true,
        failedDestinations: unsupported,
        reason: `ended FAILED only because destinations take no deletions: ${unsupported.join(', ')}`,
      },
    };
  }
  if (NOT_ERASED.has(status)) {
    const culprits =
      status === 'NOT_SUPPORTED'
        ? names(regulation.destinations.filter((d) => d.status === 'NOT_SUPPORTED' || d.status === 'FAILED'))
        : failed;
    const which = culprits.length
      ? `failing destinations: ${culprits.join(', ')}`
      : 'no destination reported the failure';
    return {
      state: 'failed',
      result: { ...evidence, failedDestinations: culprits, reason: `ended ${status} (${which})` },
    };
  }
  return {
    state: 'failed',
    result: {
      ...evidence,
      reason: `reported status ${quotable(status)}, which is not a status Segment documents; the user ids are not counted as erased`,
    },
  };
}

/**
 * The Segment batch job (Invariant 7): its first run creates one regulation for every member's
 * user id (≤ 5,000, exact ids, deduplicated) and checkpoints the regulateId; each run then reads
 * the regulation and, while Segment is still at work, returns `waiting_vendor` so the job sleeps
 * until the next poll (no worker held for the hours or days it takes). A final status gives every
 * member the regulation's outcome with its per-destination statuses.
 */
export const pollRegulation: BatchProcessor<SegmentClient> = async (input, deps): Promise<BatchResult> => {
  const segment = requireClient(deps, 'segment');
  const { resource, target, regulationType } = parseRegulationBatchScope(input.scope);
  const base: Evidence = { regulationType, scope: resource };
  const withUserId = input.members.filter((m) => !!m.subject.userId);

  let regulateId = typeof input.previous.regulateId === 'string' ? input.previous.regulateId : undefined;
  let createdNow = false;
  if (!regulateId) {
    const userIds = [...new Set(withUserId.flatMap((m) => (m.subject.userId ? [m.subject.userId] : [])))];
    if (userIds.length === 0) {
      const members = new Map(
        input.members.map((m) => [
          m.taskId,
          { state: 'failed' as const, result: { reason: 'has no user id to regulate' } },
        ]),
      );
      return { outcome: 'done', evidence: { ...base, subjects: 0 }, members };
    }
    if (userIds.length > SEGMENT_MAX_SUBJECT_IDS) {
      throw new PermanentVendorError(
        { vendor: 'segment', operation: POLL_REGULATION },
        `has ${userIds.length} user ids, more than one regulation takes`,
      );
    }
    ({ regulateId } = await segment.createRegulation({ target, regulationType, userIds, signal: input.signal }));
    createdNow = true;
    // At once: a re-run must poll this regulation, not create a second one.
    await input.checkpoint({ ...base, regulateId, subjects: userIds.length, createdAt: new Date().toISOString() });
  }

  const regulation = await segment.getRegulation(regulateId, input.signal);
  const { pollIntervalMs, pollJitter } = segment.settings;
  if (!regulation && !createdNow) {
    // Segment forgets regulations after 90 days: fail the batch, so its members join a new regulation.
    throw new PermanentVendorError(
      { vendor: 'segment', operation: 'getRegulation', status: 404 },
      'no longer lists the regulation',
    );
  }
  if (!regulation || IN_PROGRESS.has(regulation.overallStatus)) {
    const overallStatus = regulation?.overallStatus ?? 'INITIALIZED';
    return {
      outcome: 'waiting_vendor',
      evidence: { ...base, regulateId, overallStatus, lastPolledAt: new Date().toISOString() },
      pollAfterMs: nextPollMs(pollIntervalMs, pollJitter),
      reason: `Segment regulation ${overallStatus}`,
    };
  }

  const shared = regulationOutcome(regulation, base);
  const members = new Map<string, MemberResult>(
    input.members.map((m) => [
      m.taskId,
      m.subject.userId ? shared : { state: 'failed', result: { reason: 'has no user id to regulate' } },
    ]),
  );
  const evidence: Evidence = {
    ...base,
    regulateId,
    overallStatus: shared.result.overallStatus,
    finishedAt: regulation.finishedAt ?? null,
    members: input.members.length,
  };
  return { outcome: 'done', evidence, members };
};
