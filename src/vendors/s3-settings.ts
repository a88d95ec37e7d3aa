import Joi from 'joi';
import type { VendorQueueSettings } from './vendor-settings.js';

/** A place where files with people's rows live: segment imports, older endpoint exports. */
export interface S3Location {
  bucket: string;
  /** Key prefix; '' for the whole bucket. */
  prefix: string;
}

/**
 * Amazon S3: the import and export prefixes to purge of a person's rows (docs/vendors/s3.md).
 * Our own Pinpoint export files are not listed here: the Pinpoint connector deletes those itself
 * as soon as its scan is done.
 */
export interface S3Settings extends VendorQueueSettings {
  region?: string;
  /** Override of the S3 endpoint (the sandbox, a VPC endpoint, an S3-compatible store). */
  endpoint?: string;
  /** Omit to use the AWS SDK's default credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Path-style URLs (`endpoint/bucket/key`): the sandbox and most S3-compatible stores need them. */
  forcePathStyle?: boolean;
  /** Prefixes holding CSV (Pinpoint dotted headers) or NDJSON files, plain or gzipped. */
  locations: S3Location[];
  /** One scan of a location serves every request that arrives within this window (Invariant 7). @defaultValue 60000 */
  batchWindowMs?: number;
  /** A scan starts early once it has this many people. @defaultValue 10000 */
  batchMaxSubjects?: number;
}

export const S3_BATCH_DEFAULTS = { batchWindowMs: 60_000, batchMaxSubjects: 10_000 } as const;

export const s3SettingsKeys = {
  region: Joi.string(),
  endpoint: Joi.string().uri({ scheme: ['http', 'https'] }),
  credentials: Joi.object({ accessKeyId: Joi.string().required(), secretAccessKey: Joi.string().required() }),
  forcePathStyle: Joi.boolean(),
  locations: Joi.array()
    .items(
      Joi.object({
        bucket: Joi.string()
          .pattern(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
          .required(),
        prefix: Joi.string().allow('').max(1024).default(''),
      }),
    )
    .min(1)
    .required(),
  batchWindowMs: Joi.number().integer().min(0).max(86_400_000),
  batchMaxSubjects: Joi.number().integer().min(1).max(100_000),
};

/** The task resource naming a location: `location/<bucket>/<prefix>` (bucket names hold no `/`). */
export function locationResource(location: S3Location): string {
  return `location/${location.bucket}/${location.prefix}`;
}

export function parseLocationResource(value: string): S3Location {
  const slash = value.indexOf('/');
  if (slash < 0) return { bucket: value, prefix: '' };
  return { bucket: value.slice(0, slash), prefix: value.slice(slash + 1) };
}
