import { ADDRESS_SCAN_DEFAULTS, type PinpointSettings } from '../../vendors/pinpoint-settings.js';
import { S3_SANDBOX_BUCKETS } from '../s3/s3-seed.js';
import type { VendorSandboxPlugin } from '../sandbox-plugins.js';

/** The role the sandbox's Pinpoint "assumes" to write exports (any ARN is accepted there). */
export const SANDBOX_EXPORT_ROLE_ARN = 'arn:aws:iam::123456789012:role/erasure-pinpoint-export';

/** Pinpoint's settings pointing at its simulator (sandbox mode): src/sandbox/sandbox-plugins.ts. */
export const pinpointSandboxPlugin: VendorSandboxPlugin<PinpointSettings> = {
  vendor: 'pinpoint',
  sandboxSettings(sandbox, queueDefaults) {
    const { credentials, baseUrl } = sandbox.vendors.pinpoint;
    const s3 = sandbox.vendors.s3;
    const aws = { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey };
    return {
      ...queueDefaults,
      region: credentials.region ?? 'us-east-1',
      endpoint: baseUrl,
      credentials: aws,
      appIds: [sandbox.pinpoint.appId],
      addressScan: {
        bucket: S3_SANDBOX_BUCKETS.exports,
        prefix: ADDRESS_SCAN_DEFAULTS.prefix,
        roleArn: SANDBOX_EXPORT_ROLE_ARN,
        s3: {
          region: s3.credentials.region ?? 'us-east-1',
          endpoint: s3.baseUrl,
          credentials: aws,
          forcePathStyle: true,
        },
      },
      // A demo should not wait a minute for its batch; the config default (60 s) is for production traffic.
      batchWindowMs: 2_000,
      // The sandbox's export takes 30 s of sandbox time (an instant at the demo clock speed; tests move the clock): poll each second.
      pollIntervalMs: 1000,
    };
  },
};
