import { randomBytes } from 'node:crypto';
import { pollRegulation, regulationBatchScope } from '../../jobs/segment-poll-regulation.js';
import { segmentResources } from '../vendors/segment-settings.js';
import type { VendorSettingsMap } from '../vendors/vendor-settings.js';
import type { SegmentClient } from '../vendors/segment-client.js';
import type { VendorCheck } from './vendor-preflight.js';
import type { CanaryInput } from './canary.js';
import { CanaryTimeout, keep, memberResult, shown } from './canary-runs.js';

/** Statuses Segment documents for a regulation and for each destination (vendor-contracts §4.3, jobs/segment-poll-regulation.ts). */
const SEGMENT_STATUSES = new Set([
  'INITIALIZED',
  'RUNNING',
  'FINISHED',
  'FAILED',
  'PARTIAL_SUCCESS',
  'NOT_SUPPORTED',
  'INVALID',
]);
/** Vendor time between two polls of the canary's regulation on the sandbox, and how many polls it gets (≈ 25 hours of vendor time). */
const SEGMENT_CANARY_POLL_MS = 15 * 60_000;
const SEGMENT_CANARY_POLLS = 100;

/**
 * Segment: a SUPPRESS_WITH_DELETE regulation for a synthetic user id in the first configured scope,
 * through `poll-regulation` (the batch job requests use), polled until a final status; the answer
 * must carry what the jobs read: a documented overall status and a status for each destination. An
 * answer without them fails as "unexpected regulation format". With a sandbox clock
 * (`waitForVendor`) the canary polls to the end; on a real workspace, where a regulation takes as
 * long as Segment takes, it starts the regulation, reports it pending (warn), and a later run polls
 * it once more (`carry`) until it ends: no run blocks for days.
 */
export async function segmentCanary(
  input: CanaryInput,
  settings: NonNullable<VendorSettingsMap['segment']>,
  segment: SegmentClient,
): Promise<VendorCheck[]> {
  const resource = segmentResources(settings.scope).at(0);
  if (!resource)
    return [{ vendor: 'segment', check: 'canary', status: 'warn', detail: 'no scope configured for a canary' }];
  const scope = regulationBatchScope(resource, 'SUPPRESS_WITH_DELETE');
  const carried = input.carry?.segment;
  const tag = randomBytes(6).toString('hex');
  const member = { taskId: `canary-${tag}`, requestId: `canary-${tag}`, subject: { userId: `erasure-canary-${tag}` } };
  const evidence: Record<string, unknown> = { ...(carried?.evidence ?? {}) };
  const startedAt = carried?.startedAt ?? new Date().toISOString();
  const waitForVendor = input.waitForVendor;
  const polls = waitForVendor ? SEGMENT_CANARY_POLLS : 1;
  for (let poll = 0; poll < polls; poll++) {
    if (poll > 0 && waitForVendor) await waitForVendor(SEGMENT_CANARY_POLL_MS);
    const result = await pollRegulation(
      {
        batchId: `canary-${tag}`,
        scope,
        members: [member],
        attempt: 1,
        previous: { ...evidence },
        checkpoint: (e) => keep(evidence, e),
        signal: input.signal,
      },
      { client: segment },
    );
    if (result.outcome !== 'done') {
      Object.assign(evidence, result.evidence);
      continue;
    }
    if (input.carry) delete input.carry.segment;
    return [segmentVerdict(memberResult(result.members, member.taskId).result)];
  }
  if (!input.waitForVendor && input.carry) {
    input.carry.segment = { evidence, startedAt };
    return [
      {
        vendor: 'segment',
        check: 'canary',
        status: 'warn',
        detail: `pending: the canary regulation started ${startedAt} is ${shown(evidence.overallStatus, 'INITIALIZED')} at Segment; a later canary run reads its end`,
      },
    ];
  }
  throw new CanaryTimeout(
    `did not end: the regulation was still ${shown(evidence.overallStatus, 'INITIALIZED')} after ${polls} polls`,
  );
}

/** The canary regulation's final answer, judged on its shape first: a drifted answer is never read as an outcome. */
function segmentVerdict(result: Record<string, unknown>): VendorCheck {
  const overall = shown(result.overallStatus, '');
  const destinations = Array.isArray(result.destinations) ? (result.destinations as Array<{ status?: unknown }>) : [];
  const unread = destinations.filter((d) => typeof d.status !== 'string' || !SEGMENT_STATUSES.has(d.status)).length;
  if (!SEGMENT_STATUSES.has(overall) || unread > 0) {
    const what = !SEGMENT_STATUSES.has(overall)
      ? 'no documented overall status'
      : `${unread} of ${destinations.length} destinations without a documented status`;
    return {
      vendor: 'segment',
      check: 'canary',
      status: 'fail',
      detail: `canary unexpected regulation format: ${what}`,
    };
  }
  if (result.reason !== undefined && result.partial !== true)
    return {
      vendor: 'segment',
      check: 'canary',
      status: 'fail',
      detail: `canary regulation ${shown(result.reason, 'failed')}`,
    };
  return {
    vendor: 'segment',
    check: 'canary',
    status: 'ok',
    detail: `a SUPPRESS_WITH_DELETE regulation for a synthetic user id went through poll-regulation and ended ${overall} with ${destinations.length} destination statuses, in the shape the jobs read`,
  };
}
