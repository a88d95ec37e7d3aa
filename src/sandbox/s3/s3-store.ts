import { createHash } from 'node:crypto';
import type { SandboxObjectStore } from '../object-store.js';
import { S3Fault, noSuchBucket, noSuchKey, noSuchVersion, statusOfCode } from './s3-fault.js';
import { lowerBound } from './s3-key-order.js';

/** A bucket's versioning state; once versioned, a bucket can only be suspended, never unversioned again. */
export type VersioningStatus = 'Unversioned' | 'Enabled' | 'Suspended';

export type S3ChecksumAlgorithm = 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256';

/** One version of a key: an object, or a delete marker (no bytes) that hides older versions. */
export interface S3ObjectVersion {
  key: string;
  /** Write order across the store; a key's versions are newest (highest) first. */
  sequence: number;
  /** `'null'` for objects written before versioning was enabled or while it was suspended. */
  versionId: string;
  isDeleteMarker: boolean;
  body: Buffer;
  /** md5 hex of the bytes, in double quotes, as S3 sends it. */
  etag: string;
  size: number;
  lastModified: Date;
  contentType: string;
  contentEncoding?: string;
  /** `x-amz-meta-*` headers, names lower-cased without the prefix. */
  metadata: Record<string, string>;
  /** The checksum the writer sent; returned when a reader asks with `x-amz-checksum-mode: ENABLED`. */
  checksum?: { algorithm: S3ChecksumAlgorithm; value: string };
}

export interface S3Bucket {
  name: string;
  createdAt: Date;
  versioning: VersioningStatus;
  /** Versions per key, newest first. A key with no versions left is removed. */
  objects: Map<string, S3ObjectVersion[]>;
  /** The keys of `objects` in UTF-8 binary order. */
  sortedKeys: string[];
  /**
   * Every non-null version id ever issued here with its write order, kept after the version is
   * deleted: a purge deletes the page it just listed and then asks for the next page after a
   * version-id-marker that no longer exists, which S3 answers from where that version stood.
   */
  issuedVersions: Map<string, number>;
}

/** What a delete did, as S3 reports it in headers or in a DeleteObjects `<Deleted>` entry. */
export interface DeleteOutcome {
  /** The version removed (when one was named) or the delete marker created. */
  versionId?: string;
  /** A marker was created, or the version removed was a marker. */
  deleteMarker: boolean;
}

/** Optional attributes of a written object beyond its bytes. */
export interface PutObjectOptions {
  contentEncoding?: string;
  metadata?: Record<string, string>;
  checksum?: { algorithm: S3ChecksumAlgorithm; value: string };
  /** Seeds back-date their files; otherwise the store's clock. */
  lastModified?: Date;
}

/** The per-key error S3 puts in a DeleteObjects `<Error>` entry, or undefined to let the delete happen. */
export type DeleteFailure = { Code: string; Message: string };

/** Decides which deletes fail (a bucket policy denying some keys, an internal error), changeable at runtime. */
export type DeleteFailureRule = (
  key: string,
  versionId: string | undefined,
  bucket: string,
) => DeleteFailure | undefined;

/** A rule that fails deletes of the given keys with `code` (AccessDenied unless told). */
export function failDeletesOf(
  keys: Iterable<string>,
  code = 'AccessDenied',
  message = code === 'AccessDenied' ? 'Access Denied' : 'We encountered an internal error. Please try again.',
): DeleteFailureRule {
  const set = new Set(keys);
  return (key) => (set.has(key) ? { Code: code, Message: message } : undefined);
}

export interface S3StoreOptions {
  /** Time for LastModified and bucket creation. @defaultValue Date.now */
  now?: () => number;
  /** Deletes that fail (per-key errors in DeleteObjects, an error answer to DeleteObject). @defaultValue undefined (none fail) */
  failDeleteKeys?: DeleteFailureRule;
}

const MAX_KEY_BYTES = 1024;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** The simulator's state: buckets, their versioning state and every version of every key, with S3's rules for changing them. */
export class S3Store implements SandboxObjectStore {
  readonly buckets = new Map<string, S3Bucket>();
  /** Set at runtime by tests to make chosen deletes fail. */
  failDeleteKeys: DeleteFailureRule | undefined;
  private readonly now: () => number;
  private versionSequence = 0;

  constructor(options: S3StoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.failDeleteKeys = options.failDeleteKeys;
  }

  createBucket(name: string, options: { versioned?: boolean } = {}): void {
    if (!BUCKET_NAME.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name)) {
      throw new S3Fault(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
    }
    if (this.buckets.has(name)) {
      throw new S3Fault(
        409,
        'BucketAlreadyOwnedByYou',
        'Your previous request to create the named bucket succeeded and you already own it.',
        { BucketName: name },
      );
    }
    this.buckets.set(name, {
      name,
      createdAt: new Date(this.now()),
      versioning: options.versioned ? 'Enabled' : 'Unversioned',
      objects: new Map(),
      sortedKeys: [],
      issuedVersions: new Map(),
    });
  }

  bucketExists(name: string): boolean {
    return this.buckets.has(name);
  }

  bucket(name: string): S3Bucket {
    const bucket = this.buckets.get(name);
    if (!bucket) throw noSuchBucket(name);
    return bucket;
  }

  deleteBucket(name: string): void {
    if (this.bucket(name).objects.size > 0) {
      throw new S3Fault(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: name });
    }
    this.buckets.delete(name);
  }

  setVersioning(name: string, status: 'Enabled' | 'Suspended'): void {
    this.bucket(name).versioning = status;
  }

  /**
   * Writes a new current version: a fresh version id when versioning is enabled; otherwise the
   * `null` version, replacing the previous `null` version (the only one, when unversioned).
   */
  putObject(
    bucketName: string,
    key: string,
    body: Buffer,
    contentType = 'application/octet-stream',
    options: PutObjectOptions = {},
  ): S3ObjectVersion {
    const bucket = this.bucket(bucketName);
    validateKey(key);
    const sequence = ++this.versionSequence;
    const version: S3ObjectVersion = {
      key,
      sequence,
      versionId: bucket.versioning === 'Enabled' ? this.issueVersionId(bucket, key, sequence) : 'null',
      isDeleteMarker: false,
      body,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      size: body.length,
      lastModified: options.lastModified ?? new Date(this.now()),
      contentType,
      contentEncoding: options.contentEncoding,
      metadata: { ...(options.metadata ?? {}) },
      checksum: options.checksum,
    };
    this.pushVersion(bucket, version);
    return version;
  }

  /** The current version's bytes, or undefined when absent or behind a delete marker. */
  getObject(bucketName: string, key: string): Buffer | undefined {
    const latest = this.buckets.get(bucketName)?.objects.get(key)?.[0];
    return latest && !latest.isDeleteMarker ? latest.body : undefined;
  }

  /**
   * The version GetObject / HeadObject would serve. Without a version id: the current one, or
   * 404 NoSuchKey (flagged `x-amz-delete-marker` when a marker hides it). Naming a delete marker
   * is 405 MethodNotAllowed, as at S3.
   */
  readVersion(bucketName: string, key: string, versionId?: string): S3ObjectVersion {
    const versions = this.bucket(bucketName).objects.get(key) ?? [];
    if (versionId === undefined) {
      const latest = versions[0];
      if (!latest) throw noSuchKey(key);
      if (latest.isDeleteMarker)
        throw noSuchKey(key, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': latest.versionId });
      return latest;
    }
    const version = versions.find((v) => v.versionId === versionId);
    if (!version) throw noSuchVersion(key, versionId);
    if (version.isDeleteMarker) {
      throw new S3Fault(
        405,
        'MethodNotAllowed',
        'The specified method is not allowed against this resource.',
        { Method: 'GET', ResourceType: 'DeleteMarker' },
        {
          'x-amz-delete-marker': 'true',
          'x-amz-version-id': version.versionId,
          'last-modified': version.lastModified.toUTCString(),
          allow: 'DELETE',
        },
      );
    }
    return version;
  }

  /**
   * S3's delete rules (vendor-contracts §2.4). With a version id: that version goes for good.
   * Without: unversioned buckets drop the object; enabled buckets add a delete marker (even for a
   * key that never existed) and keep the data; suspended buckets drop the `null` version and add
   * a `null` marker. Throws the injected failure as an S3Fault when `failDeleteKeys` says so.
   * `lastModified` back-dates a created marker (seeds only).
   */
  deleteObject(
    bucketName: string,
    key: string,
    versionId?: string,
    options: { lastModified?: Date } = {},
  ): DeleteOutcome {
    const bucket = this.bucket(bucketName);
    const failure = this.failDeleteKeys?.(key, versionId, bucketName);
    if (failure) throw new S3Fault(statusOfCode(failure.Code), failure.Code, failure.Message, { Key: key });
    const versions = bucket.objects.get(key) ?? [];
    if (versionId !== undefined) {
      const index = versions.findIndex((v) => v.versionId === versionId);
      if (index < 0) return { versionId, deleteMarker: false };
      const [removed] = versions.splice(index, 1);
      this.dropKeyIfEmpty(bucket, key);
      return { versionId, deleteMarker: removed.isDeleteMarker };
    }
    if (bucket.versioning === 'Unversioned') {
      versions.length = 0;
      this.dropKeyIfEmpty(bucket, key);
      return { deleteMarker: false };
    }
    const sequence = ++this.versionSequence;
    const marker: S3ObjectVersion = {
      key,
      sequence,
      versionId: bucket.versioning === 'Enabled' ? this.issueVersionId(bucket, key, sequence) : 'null',
      isDeleteMarker: true,
      body: Buffer.alloc(0),
      etag: '',
      size: 0,
      lastModified: options.lastModified ?? new Date(this.now()),
      contentType: '',
      metadata: {},
    };
    this.pushVersion(bucket, marker);
    return { versionId: marker.versionId, deleteMarker: true };
  }

  /** Current keys under a prefix, in S3 order (keys behind a delete marker are left out). */
  listKeys(bucketName: string, prefix: string): string[] {
    const bucket = this.bucket(bucketName);
    const out: string[] = [];
    for (let i = lowerBound(bucket.sortedKeys, prefix); i < bucket.sortedKeys.length; i++) {
      const key = bucket.sortedKeys[i];
      if (!key.startsWith(prefix)) break;
      const latest = bucket.objects.get(key)?.[0];
      if (latest && !latest.isDeleteMarker) out.push(key);
    }
    return out;
  }

  /** Every version and marker of a key, newest first (empty when none). */
  versionsOf(bucketName: string, key: string): readonly S3ObjectVersion[] {
    return this.bucket(bucketName).objects.get(key) ?? [];
  }

  private pushVersion(bucket: S3Bucket, version: S3ObjectVersion): void {
    let versions = bucket.objects.get(version.key);
    if (!versions) {
      versions = [];
      bucket.objects.set(version.key, versions);
      bucket.sortedKeys.splice(lowerBound(bucket.sortedKeys, version.key), 0, version.key);
    }
    // Unversioned and suspended writes replace the null version wherever it sits in the history.
    if (version.versionId === 'null') {
      const index = versions.findIndex((v) => v.versionId === 'null');
      if (index >= 0) versions.splice(index, 1);
    }
    versions.unshift(version);
  }

  private dropKeyIfEmpty(bucket: S3Bucket, key: string): void {
    const versions = bucket.objects.get(key);
    if (versions && versions.length > 0) return;
    bucket.objects.delete(key);
    const index = lowerBound(bucket.sortedKeys, key);
    if (bucket.sortedKeys[index] === key) bucket.sortedKeys.splice(index, 1);
  }

  /** Opaque 32-character ids like S3's, deterministic in the order versions are written. */
  private issueVersionId(bucket: S3Bucket, key: string, sequence: number): string {
    const id = createHash('sha256')
      .update(`${bucket.name}\u0000${key}\u0000${sequence}`)
      .digest('base64url')
      .slice(0, 32);
    bucket.issuedVersions.set(id, sequence);
    return id;
  }
}

function validateKey(key: string): void {
  if (!key)
    throw new S3Fault(400, 'InvalidArgument', 'Key must not be empty', { ArgumentName: 'key', ArgumentValue: '' });
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new S3Fault(400, 'KeyTooLongError', 'Your key is too long');
}
