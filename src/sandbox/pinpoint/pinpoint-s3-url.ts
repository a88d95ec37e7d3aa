import { badRequest } from './pinpoint-store.js';

/** A bucket and key (or key prefix) named by an `s3://bucket/key` URL in a job definition. */
export interface S3Location {
  bucket: string;
  key: string;
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Reads `s3://bucket/...`, answering BadRequestException for anything else, as Pinpoint does at job creation. */
export function parseS3Url(value: unknown, field: string): S3Location {
  if (typeof value !== 'string' || !value) throw badRequest(`${field} is required`);
  const match = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(value);
  if (!match || !BUCKET_NAME.test(match[1]))
    throw badRequest(`${field} must be of the form s3://bucket-name/folder-name/`);
  return { bucket: match[1], key: match[2] ?? '' };
}

/** An export's folder: `s3://bucket/exports` and `s3://bucket/exports/` both write under `exports/`. */
export function exportFolder(location: S3Location): string {
  return location.key === '' || location.key.endsWith('/') ? location.key : `${location.key}/`;
}
