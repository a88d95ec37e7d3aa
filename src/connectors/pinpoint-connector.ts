import { createHash } from 'node:crypto';
import type { TaskSpec } from '../ledger/ledger-types.js';
import { createPinpointClient } from '../vendors/pinpoint-client.js';
import type { PinpointSettings } from '../vendors/pinpoint-settings.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { deleteUserEndpoints } from '../../jobs/delete-user-endpoints.js';
import { UnplannableVendorError, type VendorConnector } from './connector.js';

/** Deterministic, opaque, BullMQ-safe task id (no `:`, never numeric, no identifiers). */
export function taskId(requestId: string, vendor: VendorName, action: string, resource: string): string {
  const resourceKey = createHash('sha256').update(resource).digest('hex').slice(0, 12);
  return `${requestId}__${vendor}__${action}__${resourceKey}`;
}

/** Amazon Pinpoint: by user id, one `delete-user-endpoints` task per configured app. */
export const pinpointConnector: VendorConnector<PinpointSettings, 'pinpoint'> = {
  vendor: 'pinpoint',
  queue: pinpointQueue,
  processors: { 'delete-user-endpoints': deleteUserEndpoints },
  clientKey: 'pinpoint',
  createClient: (settings) => createPinpointClient(settings),
  sandboxSettings(sandbox, queueDefaults) {
    const { credentials, baseUrl } = sandbox.vendors.pinpoint!;
    return {
      ...queueDefaults,
      region: String(credentials.region ?? 'us-east-1'),
      endpoint: baseUrl,
      credentials: { accessKeyId: String(credentials.accessKeyId), secretAccessKey: String(credentials.secretAccessKey) },
      appIds: [sandbox.pinpoint.appId],
    };
  },
  plan(input, settings) {
    const action = 'delete-user-endpoints';
    const tasks: TaskSpec[] = settings.appIds.map((appId) => {
      const resource = `app/${appId}`;
      return { id: taskId(input.requestId, 'pinpoint', action, resource), vendor: 'pinpoint', resource, action, queue: pinpointQueue.name, jobName: action };
    });
    if (input.subject.userId) return tasks;
    const reason = 'needs a userId: finding endpoints by e-mail or phone (export scan) is not available yet';
    if (input.vendorsExplicit) throw new UnplannableVendorError('pinpoint', reason);
    return tasks.map((task) => ({ ...task, initialState: 'skipped' as const, waitingReason: reason }));
  },
};
