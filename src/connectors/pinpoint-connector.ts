import { createHash } from 'node:crypto';
import type { TaskSpec } from '../ledger/ledger-types.js';
import { createPinpointClient } from '../vendors/pinpoint-client.js';
import { ADDRESS_SCAN_DEFAULTS, type PinpointSettings } from '../vendors/pinpoint-settings.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { S3_SANDBOX_BUCKETS } from '../sandbox/s3/s3-seed.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { deleteUserEndpoints } from '../../jobs/delete-user-endpoints.js';
import { findEndpoint } from '../../jobs/find-endpoint.js';
import { EXPORT_SEGMENT, exportSegment } from '../../jobs/export-segment.js';
import { DELETE_PROJECT, deleteProject } from '../../jobs/delete-project.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';

/** Deterministic, opaque, BullMQ-safe task id (no `:`, never numeric, no identifiers). */
export function taskId(requestId: string, vendor: VendorName, action: string, resource: string): string {
  const resourceKey = createHash('sha256').update(resource).digest('hex').slice(0, 12);
  return `${requestId}__${vendor}__${action}__${resourceKey}`;
}

const BY_USER_ID = 'delete-user-endpoints';
const BY_ADDRESS = 'find-endpoint';

/** The role the sandbox's Pinpoint "assumes" to write exports (any ARN is accepted there). */
export const SANDBOX_EXPORT_ROLE_ARN = 'arn:aws:iam::123456789012:role/erasure-pinpoint-export';

const PINPOINT_JOBS: ConnectorJobs = {
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
export const pinpointConnector: VendorConnector<PinpointSettings, 'pinpoint'> = {
  vendor: 'pinpoint',
  queue: connectorQueue(pinpointQueue, PINPOINT_JOBS),
  jobs: PINPOINT_JOBS,
  clientKey: 'pinpoint',
  createClient: (settings, calls, _clock, budget) => createPinpointClient(settings, calls, budget),
  sandboxSettings(sandbox, queueDefaults) {
    const { credentials, baseUrl } = sandbox.vendors.pinpoint;
    const s3 = sandbox.vendors.s3;
    const aws = { accessKeyId: String(credentials.accessKeyId), secretAccessKey: String(credentials.secretAccessKey) };
    return {
      ...queueDefaults,
      region: String(credentials.region ?? 'us-east-1'),
      endpoint: baseUrl,
      credentials: aws,
      appIds: [sandbox.pinpoint.appId],
      addressScan: {
        bucket: S3_SANDBOX_BUCKETS.exports,
        prefix: ADDRESS_SCAN_DEFAULTS.prefix,
        roleArn: SANDBOX_EXPORT_ROLE_ARN,
        s3: { region: String(s3.credentials.region ?? 'us-east-1'), endpoint: s3.baseUrl, credentials: aws, forcePathStyle: true },
      },
      // A demo should not wait a minute for its batch; the config default (60 s) is for production traffic.
      batchWindowMs: 2_000,
      // The sandbox's export takes 30 s of sandbox time (an instant at the demo clock speed; tests move the clock): poll each second.
      pollIntervalMs: 1000,
    };
  },
  plan(input, settings) {
    const { userId, email, phone } = input.subject;
    const byAddress = Boolean(email || phone) && settings.addressScan !== undefined;
    const task = (action: string, appId: string): TaskSpec => {
      const resource = `app/${appId}`;
      return { id: taskId(input.requestId, 'pinpoint', action, resource), vendor: 'pinpoint', resource, action, queue: pinpointQueue.name, jobName: action };
    };
    const tasks: TaskSpec[] = settings.appIds.flatMap((appId) => [...(userId ? [task(BY_USER_ID, appId)] : []), ...(byAddress ? [task(BY_ADDRESS, appId)] : [])]);
    if (tasks.length) return tasks;
    const reason =
      email || phone
        ? 'needs a userId, or addressScan settings (export bucket and role) to find endpoints by e-mail or phone'
        : 'needs a userId, an e-mail or a phone';
    if (input.vendorsExplicit) throw new UnplannableVendorError('pinpoint', reason);
    return settings.appIds.map((appId) => ({ ...task(BY_USER_ID, appId), initialState: 'skipped' as const, waitingReason: reason }));
  },
};
