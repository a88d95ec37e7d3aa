import type { TaskSpec } from '../ledger/ledger-types.js';
import { createS3VendorClient, type S3VendorClient } from '../vendors/s3-client.js';
import { locationResource, s3SettingsKeys, type S3Settings } from '../vendors/s3-settings.js';
import { s3Queue } from '../../queues/s3-queue.js';
import { purgeS3Prefix } from '../../jobs/purge-s3-prefix.js';
import { SCAN_S3_PREFIX, scanS3Prefix } from '../../jobs/scan-s3-prefix.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './task-id.js';

const PURGE = 'purge-s3-prefix';

const S3_QUEUE_DEFAULTS = { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 };

const S3_JOBS: ConnectorJobs<S3VendorClient> = {
  [PURGE]: { kind: 'task', processor: purgeS3Prefix },
  [SCAN_S3_PREFIX]: { kind: 'batch', processor: scanS3Prefix },
};

/**
 * Amazon S3: one `purge-s3-prefix` task per configured location (bucket + prefix), which joins
 * the location's shared `scan-s3-prefix` batch: rows of the person are removed from every
 * object (rewritten in place) and from every older version (deleted).
 */
export const s3Connector: VendorConnector<S3Settings, S3VendorClient> = {
  vendor: 's3',
  queue: connectorQueue(s3Queue, S3_JOBS),
  jobs: S3_JOBS,
  settingsKeys: s3SettingsKeys,
  queueDefaults: S3_QUEUE_DEFAULTS,
  createClient: (settings, calls) => createS3VendorClient(settings, calls),
  plan(input, settings) {
    const tasks: TaskSpec[] = settings.locations.map((location) => {
      const resource = locationResource(location);
      return {
        id: taskId(input.requestId, 's3', PURGE, resource),
        vendor: 's3',
        resource,
        action: PURGE,
        queue: s3Queue.name,
        jobName: PURGE,
      };
    });
    const { email, phone, userId } = input.subject;
    if (email || phone || userId) return tasks;
    const reason = 'needs an e-mail, a phone or a userId to find rows in import and export files';
    if (input.vendorsExplicit) throw new UnplannableVendorError('s3', reason);
    return tasks.map((task) => ({ ...task, initialState: 'skipped' as const, waitingReason: reason }));
  },
};
