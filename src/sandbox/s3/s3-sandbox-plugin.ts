import type { S3Settings } from '../../vendors/s3-settings.js';
import type { VendorSandboxPlugin } from '../sandbox-plugins.js';
import { S3_SANDBOX_BUCKETS, S3_SEED_PREFIXES } from './s3-seed.js';

/** The first path segment of a seeded prefix (`segments/csv/` → `segments/`). */
const top = (prefix: string) => `${prefix.split('/')[0]}/`;

/** S3's settings pointing at its simulator (sandbox mode): src/sandbox/sandbox-plugins.ts. */
export const s3SandboxPlugin: VendorSandboxPlugin<S3Settings> = {
  vendor: 's3',
  sandboxSettings(sandbox, queueDefaults) {
    const { baseUrl, credentials } = sandbox.vendors.s3;
    return {
      ...queueDefaults,
      region: credentials.region ?? 'us-east-1',
      endpoint: baseUrl,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
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
};
