import type { TaskSpec } from '../ledger/ledger-types.js';
import { createSegmentClient, type SegmentClient } from '../vendors/segment-client.js';
import { segmentResources, segmentSettingsKeys, type SegmentSettings } from '../vendors/segment-settings.js';
import { segmentQueue } from '../../queues/segment-queue.js';
import { REGULATE_USER, regulateUser } from '../../jobs/segment-regulate-user.js';
import { POLL_REGULATION, pollRegulation } from '../../jobs/segment-poll-regulation.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './task-id.js';

/** Manual tasks have no job; the name only fills the task record. */
const MANUAL_JOB = 'manual';

/**
 * Segment jobs are mostly per-request bookkeeping (joining a shared regulation batch, no vendor call; two runs per
 * request), so the queue is not held to Segment's call budget: the client spends `requestsPerSecond` (100) on
 * HTTP calls (docs/vendors/segment.md), and a 429 costs no attempt. Creates are one per batch of up to 5,000 people.
 */
const SEGMENT_QUEUE_DEFAULTS = { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 5000 };

const SEGMENT_JOBS: ConnectorJobs<SegmentClient> = {
  [REGULATE_USER]: { kind: 'task', processor: regulateUser },
  [POLL_REGULATION]: { kind: 'batch', processor: pollRegulation },
};

/**
 * Segment: by user id, one `regulate-user` task per scope (the workspace, or each configured
 * source), which joins a shared regulation batch (`poll-regulation`); plus the manual tasks the
 * config lists for what has no API (source / Unify space / workspace deletion by e-mail).
 */
export const segmentConnector: VendorConnector<SegmentSettings, SegmentClient> = {
  vendor: 'segment',
  queue: connectorQueue(segmentQueue, SEGMENT_JOBS),
  jobs: SEGMENT_JOBS,
  settingsKeys: segmentSettingsKeys,
  queueDefaults: SEGMENT_QUEUE_DEFAULTS,
  createClient: (settings, calls, _clock, budget) => createSegmentClient(settings, calls, budget),
  plan(input, settings) {
    const regulate: TaskSpec[] = segmentResources(settings.scope).map((resource) => ({
      id: taskId(input.requestId, 'segment', REGULATE_USER, resource),
      vendor: 'segment',
      resource,
      action: REGULATE_USER,
      queue: segmentQueue.name,
      jobName: REGULATE_USER,
    }));
    const manual: TaskSpec[] = settings.manualTasks.map((m) => {
      const resource = m.resource ?? 'workspace';
      return {
        id: taskId(input.requestId, 'segment', m.action, resource),
        vendor: 'segment',
        resource,
        action: m.action,
        queue: segmentQueue.name,
        jobName: MANUAL_JOB,
        initialState: 'waiting_manual' as const,
        waitingReason: m.instructions,
      };
    });
    if (input.subject.userId) return [...regulate, ...manual];
    const reason = 'needs a userId: Segment regulations name people by user id';
    if (input.vendorsExplicit) throw new UnplannableVendorError('segment', reason);
    return [
      ...regulate.map((task) => ({ ...task, initialState: 'skipped' as const, waitingReason: reason })),
      ...manual,
    ];
  },
};
