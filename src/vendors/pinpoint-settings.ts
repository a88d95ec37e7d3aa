import Joi from 'joi';
import type { QueueLimit, VendorQueueSettings } from './vendor-settings.js';
import type { S3Location } from './s3-settings.js';

/** Where Pinpoint's export files are read and purged: the export bucket's S3 endpoint. */
export interface ExportS3Access {
  region?: string;
  /** Override of the S3 endpoint (the sandbox, or a VPC endpoint). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Path-style URLs (`endpoint/bucket/key`): needed by the sandbox and most S3-compatible stores. */
  forcePathStyle?: boolean;
}

/**
 * Finding endpoints by e-mail or phone (Pinpoint can only look endpoints up by id or user id,
 * docs/vendors/pinpoint.md): every request for an app within `batchWindowMs` joins one shared batch,
 * which exports the app (or its configured segments) to `s3://bucket/prefix<batch id>/`,
 * scans the files once for every member, and deletes them.
 */
export interface PinpointAddressScanSettings {
  /** The bucket Pinpoint writes exports to (the role in `roleArn` must be allowed to). */
  bucket: string;
  /** Key prefix for our exports; each batch writes under `<prefix><batch id>/`. @defaultValue 'erasure-exports/' */
  prefix?: string;
  /** The IAM role Pinpoint assumes to write the export (CreateExportJob `RoleArn`). */
  roleArn: string;
  /** Per app id, the segments to export instead of the whole app (one export job per segment). */
  segments?: Record<string, string[]>;
  /** S3 access for reading and deleting the export files. */
  s3?: ExportS3Access;
}

export interface PinpointSettings extends VendorQueueSettings {
  region: string;
  /** Override of the AWS endpoint (the sandbox, or a VPC endpoint). */
  endpoint?: string;
  /** Omit to use the AWS SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** The Pinpoint projects (application ids) that hold people's endpoints. */
  appIds: string[];
  /** By e-mail or phone: the shared export scan. Without it such requests cannot be planned for Pinpoint. */
  addressScan?: PinpointAddressScanSettings;
  /** How long an export batch waits for more requests. @defaultValue 60000 */
  batchWindowMs?: number;
  /** An export batch starts early once it has this many people. @defaultValue 10000 */
  batchMaxSubjects?: number;
  /** How often GetExportJob is asked while an export runs (a delayed re-run, not a sleep). @defaultValue 15000 */
  pollIntervalMs?: number;
  /**
   * Client-side limits for the low per-operation quotas (docs/vendors/pinpoint.md: DeleteEndpoint 5/s,
   * GetEndpoint 10/s per account and Region), shared by every job of a worker process. With N
   * worker processes on the Pinpoint queue, give each 1/N of the quota.
   * @defaultValue DeleteEndpoint 5 per 1000 ms, GetEndpoint 10 per 1000 ms
   */
  operationLimits?: Partial<{ DeleteEndpoint: QueueLimit; GetEndpoint: QueueLimit }>;
  /**
   * Pinpoint's end of support: from then on, a ForbiddenException for an app means the project
   * is gone (recorded as `not_found` with the vendor's answer), as a NotFoundException always does.
   * @defaultValue '2026-10-30T00:00:00Z'
   */
  endOfSupportAt?: string;
  /**
   * Per app id, the S3 prefixes that hold that project's own files and nothing else (its segment
   * imports, its exports): deleting the project (`POST /v1/project-deletions`) deletes every
   * object version and delete marker under them. A prefix may not be empty: a whole bucket is
   * never deleted by accident. Read through the S3 vendor's access (`vendors.s3`), else the
   * address scan's (`addressScan.s3`).
   */
  projectPrefixes?: Record<string, S3Location[]>;
}

export const PINPOINT_DEFAULT_OPERATION_LIMITS: { DeleteEndpoint: QueueLimit; GetEndpoint: QueueLimit } = {
  DeleteEndpoint: { max: 5, durationMs: 1000 },
  GetEndpoint: { max: 10, durationMs: 1000 },
};

export const PINPOINT_END_OF_SUPPORT = '2026-10-30T00:00:00Z';

export const ADDRESS_SCAN_DEFAULTS = {
  prefix: 'erasure-exports/',
  batchWindowMs: 60_000,
  batchMaxSubjects: 10_000,
  pollIntervalMs: 15_000,
} as const;

const limit = Joi.object({
  max: Joi.number().integer().min(1).required(),
  durationMs: Joi.number().integer().min(1).required(),
});
const credentials = Joi.object({ accessKeyId: Joi.string().required(), secretAccessKey: Joi.string().required() });

export const pinpointSettingsKeys = {
  region: Joi.string().required(),
  endpoint: Joi.string().uri({ scheme: ['http', 'https'] }),
  credentials,
  appIds: Joi.array()
    .items(Joi.string().pattern(/^[A-Za-z0-9-]+$/))
    .min(1)
    .required(),
  addressScan: Joi.object({
    bucket: Joi.string()
      .pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
      .required(),
    prefix: Joi.string()
      .max(512)
      .pattern(/^[^\\]*$/)
      .default(ADDRESS_SCAN_DEFAULTS.prefix),
    roleArn: Joi.string().pattern(/^arn:/).required(),
    segments: Joi.object().pattern(
      Joi.string(),
      Joi.array()
        .items(Joi.string().pattern(/^[A-Za-z0-9-]+$/))
        .min(1),
    ),
    s3: Joi.object({
      region: Joi.string(),
      endpoint: Joi.string().uri({ scheme: ['http', 'https'] }),
      credentials,
      forcePathStyle: Joi.boolean(),
    }),
  }),
  batchWindowMs: Joi.number().integer().min(0).max(86_400_000),
  batchMaxSubjects: Joi.number().integer().min(1).max(100_000),
  pollIntervalMs: Joi.number().integer().min(10).max(3_600_000),
  operationLimits: Joi.object({ DeleteEndpoint: limit, GetEndpoint: limit }),
  endOfSupportAt: Joi.string().isoDate(),
  projectPrefixes: Joi.object().pattern(
    Joi.string().pattern(/^[A-Za-z0-9-]+$/),
    Joi.array().items(
      Joi.object({
        bucket: Joi.string()
          .pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
          .required(),
        prefix: Joi.string().min(1).max(1024).required(),
      }),
    ),
  ),
};

/** Settings with every default filled in (the config file and sandbox overrides may leave parts out). */
export type ResolvedPinpointSettings = PinpointSettings & {
  operationLimits: { DeleteEndpoint: QueueLimit; GetEndpoint: QueueLimit };
  endOfSupportAt: string;
  batchWindowMs: number;
  batchMaxSubjects: number;
  pollIntervalMs: number;
};

export function withPinpointDefaults(settings: PinpointSettings): ResolvedPinpointSettings {
  return {
    ...settings,
    operationLimits: { ...PINPOINT_DEFAULT_OPERATION_LIMITS, ...(settings.operationLimits ?? {}) },
    endOfSupportAt: settings.endOfSupportAt ?? PINPOINT_END_OF_SUPPORT,
    batchWindowMs: settings.batchWindowMs ?? ADDRESS_SCAN_DEFAULTS.batchWindowMs,
    batchMaxSubjects: settings.batchMaxSubjects ?? ADDRESS_SCAN_DEFAULTS.batchMaxSubjects,
    pollIntervalMs: settings.pollIntervalMs ?? ADDRESS_SCAN_DEFAULTS.pollIntervalMs,
    ...(settings.addressScan
      ? {
          addressScan: { ...settings.addressScan, prefix: settings.addressScan.prefix ?? ADDRESS_SCAN_DEFAULTS.prefix },
        }
      : {}),
  };
}

/** The key prefix a batch's export is written under. */
export function batchExportPrefix(scan: Pick<PinpointAddressScanSettings, 'prefix'>, batchId: string): string {
  const prefix = scan.prefix ?? ADDRESS_SCAN_DEFAULTS.prefix;
  const base = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
  return `${base}${batchId}/`;
}
