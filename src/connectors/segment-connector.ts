import type { TaskSpec } from '../ledger/ledger-types.js';
import { createSegmentClient } from '../vendors/segment-client.js';
import { SEGMENT_DEFAULTS, segmentResources, type SegmentSettings } from '../vendors/segment-settings.js';
import { segmentQueue } from '../../queues/segment-queue.js';
import { REGULATE_USER, regulateUser } from '../../jobs/segment-regulate-user.js';
import { POLL_REGULATION, pollRegulation } from '../../jobs/segment-poll-regulation.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './pinpoint-connector.js';

/** Manual tasks have no job; the name only fills the task record. */
const MANUAL_JOB = 'manual';

const SEGMENT_JOBS: ConnectorJobs = {
  [REGULATE_USER]: { kind: 'task', processor: regulateUser },
  [POLL_REGULATION]: { kind: 'batch', processor: pollRegulation },
};

/**
 * Segment: by user id, one `regulate-user` task per scope (the workspace, or each configured
 * source), which joins a shared regulation batch (`poll-regulation`); plus the manual tasks the
 * config lists for what has no API (source / Unify space / workspace deletion by e-mail).
 */
export const segmentConnector: VendorConnector<SegmentSettings, 'segment'> = {
  vendor: 'segment',
  queue: connectorQueue(segmentQueue, SEGMENT_JOBS),
  jobs: SEGMENT_JOBS,
  clientKey: 'segment',
  createClient: (settings, calls, _clock, budget) => createSegmentClient(settings, calls, budget),
  sandboxSettings(sandbox, queueDefaults) {
    const { baseUrl, credentials } = sandbox.vendors.segment;
    // Segment's time runs `speed` times faster in the sandbox: poll as often as an hour of it passes (at least every second).
    const speed = sandbox.clock.describe().speed;
    return {
      ...queueDefaults,
      ...SEGMENT_DEFAULTS,
      baseUrl,
      token: String(credentials.token),
      // A demo should not wait five minutes for its batch; the config default is for production traffic.
      batchWindowMs: 5_000,
      pollIntervalMs: Math.max(1000, Math.round(SEGMENT_DEFAULTS.pollIntervalMs / speed)),
    };
  },
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
    return [...regulate.map((task) => ({ ...task, initialState: 'skipped' as const, waitingReason: reason })), ...manual];
  },
};
