import type { TaskSpec } from '../ledger/ledger-types.js';
import { createPinpointClient, type PinpointClient } from '../vendors/pinpoint-client.js';
import { taskId } from './task-id.js';
import { pinpointSettingsKeys, type PinpointSettings } from '../vendors/pinpoint-settings.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { deleteUserEndpoints } from '../../jobs/delete-user-endpoints.js';
import { findEndpoint } from '../../jobs/find-endpoint.js';
import { EXPORT_SEGMENT, exportSegment } from '../../jobs/export-segment.js';
import { DELETE_PROJECT, deleteProject } from '../../jobs/delete-project.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';

export { taskId } from './task-id.js';

const BY_USER_ID = 'delete-user-endpoints';
const BY_ADDRESS = 'find-endpoint';

/** Pinpoint quotas are per operation; 300/s covers Get/DeleteUserEndpoints (docs/vendors/pinpoint.md). */
const PINPOINT_QUEUE_DEFAULTS = { rateLimit: { max: 100, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 };

const PINPOINT_JOBS: ConnectorJobs<PinpointClient> = {
  [BY_USER_ID]: { kind: 'task', processor: deleteUserEndpoints },
  [BY_ADDRESS]: { kind: 'task', processor: findEndpoint },
  [EXPORT_SEGMENT]: { kind: 'batch', processor: exportSegment },
  // A whole project (app) once its grace period ends: README "Project deletion".
  [DELETE_PROJECT]: { kind: 'scope', processor: deleteProject },
};

/**
 * Amazon Pinpoint, per configured app: by user id a `delete-user-endpoints` task; by e-mail or
 * phone a `find-endpoint` task, which joins the app's shared `export-segment` batch (one export
 * and one scan for every request in the window) and then deletes each endpoint found.
 */
export const pinpointConnector: VendorConnector<PinpointSettings, PinpointClient> = {
  vendor: 'pinpoint',
  queue: connectorQueue(pinpointQueue, PINPOINT_JOBS),
  jobs: PINPOINT_JOBS,
  settingsKeys: pinpointSettingsKeys,
  queueDefaults: PINPOINT_QUEUE_DEFAULTS,
  createClient: (settings, calls, _clock, budget) => createPinpointClient(settings, calls, budget),
  plan(input, settings) {
    const { userId, email, phone } = input.subject;
    const byAddress = Boolean(email || phone) && settings.addressScan !== undefined;
    const task = (action: string, appId: string): TaskSpec => {
      const resource = `app/${appId}`;
      return {
        id: taskId(input.requestId, 'pinpoint', action, resource),
        vendor: 'pinpoint',
        resource,
        action,
        queue: pinpointQueue.name,
        jobName: action,
      };
    };
    const tasks: TaskSpec[] = settings.appIds.flatMap((appId) => [
      ...(userId ? [task(BY_USER_ID, appId)] : []),
      ...(byAddress ? [task(BY_ADDRESS, appId)] : []),
    ]);
    if (tasks.length) return tasks;
    const reason =
      email || phone
        ? 'needs a userId, or addressScan settings (export bucket and role) to find endpoints by e-mail or phone'
        : 'needs a userId, an e-mail or a phone';
    if (input.vendorsExplicit) throw new UnplannableVendorError('pinpoint', reason);
    return settings.appIds.map((appId) => ({
      ...task(BY_USER_ID, appId),
      initialState: 'skipped' as const,
      waitingReason: reason,
    }));
  },
};
