import type { TaskSpec } from '../ledger/ledger-types.js';
import { createS3VendorClient } from '../vendors/s3-client.js';
import { locationResource, type S3Settings } from '../vendors/s3-settings.js';
import { S3_SANDBOX_BUCKETS, S3_SEED_PREFIXES } from '../sandbox/s3/s3-seed.js';
import { s3Queue } from '../../queues/s3-queue.js';
import { purgeS3Prefix } from '../../jobs/purge-s3-prefix.js';
import { SCAN_S3_PREFIX, scanS3Prefix } from '../../jobs/scan-s3-prefix.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './pinpoint-connector.js';

const PURGE = 'purge-s3-prefix';

const S3_JOBS: ConnectorJobs = {
  [PURGE]: { kind: 'task', processor: purgeS3Prefix },
  [SCAN_S3_PREFIX]: { kind: 'batch', processor: scanS3Prefix },
};

/** The first path segment of a seeded prefix (`segments/csv/` → `segments/`). */
const top = (prefix: string) => `${prefix.split('/')[0]}/`;

/**
 * Amazon S3: one `purge-s3-prefix` task per configured location (bucket + prefix), which joins
 * the location's shared `scan-s3-prefix` batch: rows of the person are removed from every
 * object (rewritten in place) and from every older version (deleted).
 */
export const s3Connector: VendorConnector<S3Settings, 's3'> = {
  vendor: 's3',
  queue: connectorQueue(s3Queue, S3_JOBS),
  jobs: S3_JOBS,
  clientKey: 's3',
  createClient: (settings, calls) => createS3VendorClient(settings, calls),
  sandboxSettings(sandbox, queueDefaults) {
    const { baseUrl, credentials } = sandbox.vendors.s3;
    return {
      ...queueDefaults,
      region: String(credentials.region ?? 'us-east-1'),
      endpoint: baseUrl,
      credentials: { accessKeyId: String(credentials.accessKeyId), secretAccessKey: String(credentials.secretAccessKey) },
      forcePathStyle: true,
      // The seeded import files (CSV and NDJSON, some gzipped, with older versions) and the legacy exports.
      // Not the exports bucket: our own Pinpoint export files are the Pinpoint connector's to delete.
      locations: [
        { bucket: S3_SANDBOX_BUCKETS.imports, prefix: top(S3_SEED_PREFIXES.csvImports) },
        { bucket: S3_SANDBOX_BUCKETS.imports, prefix: top(S3_SEED_PREFIXES.archivedImports) },
        { bucket: S3_SANDBOX_BUCKETS.legacyExports, prefix: top(S3_SEED_PREFIXES.legacyExports) },
      ],
      // Demo-sized, as for Pinpoint; the config default is 60 s.
      batchWindowMs: 2_000,
    };
  },
  plan(input, settings) {
    const tasks: TaskSpec[] = settings.locations.map((location) => {
      const resource = locationResource(location);
      return { id: taskId(input.requestId, 's3', PURGE, resource), vendor: 's3', resource, action: PURGE, queue: s3Queue.name, jobName: PURGE };
    });
    const { email, phone, userId } = input.subject;
    if (email || phone || userId) return tasks;
    const reason = 'needs an e-mail, a phone or a userId to find rows in import and export files';
    if (input.vendorsExplicit) throw new UnplannableVendorError('s3', reason);
    return tasks.map((task) => ({ ...task, initialState: 'skipped' as const, waitingReason: reason }));
  },
};
