import type { Readable } from 'node:stream';
import {
  S3Client as AwsS3Client,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3ServiceException,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3';
import {
  checkedVendorCode,
  classifyHttpFailure,
  PermanentVendorError,
  TransientVendorError,
  isVendorError,
  type VendorError,
} from './vendor-errors.js';
import type { VendorName } from './vendor-name.js';
import { S3_BATCH_DEFAULTS, type S3Settings } from './s3-settings.js';
import { addCallMetrics } from './aws-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import { listKeys, listVersions } from './s3-listings.js';

export { MAX_LISTING_PAGES } from './s3-listings.js';

/** How to reach S3 (or an S3-compatible store, or the sandbox). */
export interface S3Access {
  region?: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Path-style URLs: the sandbox and most S3-compatible stores need them. */
  forcePathStyle?: boolean;
  /** Delay before retrying a SlowDown, which carries no hint. */
  throttleDelayMs: number;
}

/** One version or delete marker of a key, as ListObjectVersions reports it. */
export interface S3VersionEntry {
  key: string;
  /** `'null'` for objects written while the bucket was unversioned (or suspended). */
  versionId: string;
  isLatest: boolean;
  isDeleteMarker: boolean;
  size: number;
}

/** Every version and marker of one key, newest first. */
export interface S3KeyVersions {
  key: string;
  entries: S3VersionEntry[];
}

export interface S3ObjectRead {
  body: Readable;
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  contentLength?: number;
}

export interface S3PutInput {
  bucket: string;
  key: string;
  body: Readable | Buffer;
  contentLength: number;
  contentType?: string;
  contentEncoding?: string;
  metadata?: Record<string, string>;
  signal?: AbortSignal;
}

/** The S3 operations erasure uses, over the real `@aws-sdk/client-s3`. Errors come out as the taxonomy. */
export interface ObjectStoreClient {
  /** `Enabled`, `Suspended`, or `Unversioned` (never versioned). */
  versioning(bucket: string, signal?: AbortSignal): Promise<'Enabled' | 'Suspended' | 'Unversioned'>;
  /** Current keys under a prefix, every page (ListObjectsV2). */
  listKeys(bucket: string, prefix: string, signal?: AbortSignal): AsyncGenerator<{ key: string; size: number }>;
  /** Every version and delete marker under a prefix, grouped by key, keys in S3 order (ListObjectVersions, every page). */
  listVersions(bucket: string, prefix: string, signal?: AbortSignal): AsyncGenerator<S3KeyVersions>;
  /** One object (or one version of it), streamed; undefined when it does not exist. */
  getObject(bucket: string, key: string, versionId?: string, signal?: AbortSignal): Promise<S3ObjectRead | undefined>;
  putObject(input: S3PutInput): Promise<{ versionId?: string }>;
  /**
   * Deletes the given versions for good (DeleteObjects, ≤ 1,000 per call, Quiet). Keys S3 reports
   * in `Errors` are tried again a few times; any still failing make it throw. Returns how many went.
   */
  deleteVersions(
    bucket: string,
    items: Array<{ key: string; versionId?: string }>,
    signal?: AbortSignal,
  ): Promise<number>;
  /**
   * Deletes everything under a prefix: every version and every delete marker, then lists again to
   * check that nothing is left (throws when something is).
   */
  purgePrefix(
    bucket: string,
    prefix: string,
    signal?: AbortSignal,
  ): Promise<{ versionsDeleted: number; markersDeleted: number; bytesDeleted: number }>;
  close(): void;
}

/** DeleteObjects takes at most this many keys (docs/vendors/s3.md). */
export const MAX_DELETE_OBJECTS = 1000;
/** Rounds of retrying keys that DeleteObjects reported in `Errors`. */
const DELETE_ERROR_ROUNDS = 3;

export function createObjectStoreClient(
  access: S3Access,
  vendor: VendorName = 's3',
  calls?: VendorCallObserver,
): ObjectStoreClient {
  const sdk = new AwsS3Client({
    region: access.region ?? 'us-east-1',
    endpoint: access.endpoint,
    credentials: access.credentials,
    forcePathStyle: access.forcePathStyle,
    // A shared batch reads many objects: let the SDK absorb a single 5xx or SlowDown (with its
    // backoff) rather than restart the whole scan; anything that persists comes out as the taxonomy.
    maxAttempts: 3,
  });
  addCallMetrics(sdk, vendor, calls);

  const call = createS3Call(vendor, access.throttleDelayMs);
  const ctx: S3Context = { vendor, sdk, call };

  return {
    async versioning(bucket, signal) {
      const out = await call('GetBucketVersioning', () =>
        sdk.send(new GetBucketVersioningCommand({ Bucket: bucket }), { abortSignal: signal }),
      );
      return out?.Status === 'Enabled' || out?.Status === 'Suspended' ? out.Status : 'Unversioned';
    },
    listKeys: (bucket, prefix, signal) => listKeys(ctx, bucket, prefix, signal),
    listVersions: (bucket, prefix, signal) => listVersions(ctx, bucket, prefix, signal),
    async getObject(bucket, key, versionId, signal) {
      const out = await call(
        'GetObject',
        () =>
          sdk.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }), { abortSignal: signal }),
        ['NoSuchKey', 'NoSuchVersion', 'NotFound'],
      );
      if (!out?.Body) return undefined;
      return {
        body: out.Body as Readable,
        contentType: out.ContentType,
        contentEncoding: out.ContentEncoding,
        metadata: out.Metadata,
        contentLength: out.ContentLength,
      };
    },
    async putObject(input) {
      const out = await call('PutObject', () =>
        sdk.send(
          new PutObjectCommand({
            Bucket: input.bucket,
            Key: input.key,
            Body: input.body,
            ContentLength: input.contentLength,
            ContentType: input.contentType,
            ContentEncoding: input.contentEncoding,
            Metadata: input.metadata,
          }),
          { abortSignal: input.signal },
        ),
      );
      return { versionId: out?.VersionId };
    },
    deleteVersions: (bucket, items, signal) => deleteVersions(ctx, bucket, items, signal),
    purgePrefix: (bucket, prefix, signal) => purgePrefix(ctx, bucket, prefix, signal),
    close: () => {
      sdk.destroy();
    },
  };
}

/** What the operations share, built once in createObjectStoreClient. */
export interface S3Context {
  vendor: VendorName;
  sdk: AwsS3Client;
  call: <T>(operation: string, send: () => Promise<T>, notFound?: readonly string[]) => Promise<T | undefined>;
}

/** Sends one call; an error named in `notFound` comes back as undefined, any other failure as the taxonomy's error. */
function createS3Call(vendor: VendorName, throttleDelayMs: number): S3Context['call'] {
  return async function call<T>(
    operation: string,
    send: () => Promise<T>,
    notFound: readonly string[] = [],
  ): Promise<T | undefined> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof S3ServiceException && notFound.includes(err.name)) return undefined;
      throw toS3Error(vendor, operation, err, throttleDelayMs);
    }
  };
}

async function deleteVersions(
  { vendor, sdk, call }: S3Context,
  bucket: string,
  items: Array<{ key: string; versionId?: string }>,
  signal?: AbortSignal,
): Promise<number> {
  let deleted = 0;
  for (let at = 0; at < items.length; at += MAX_DELETE_OBJECTS) {
    let pending: ObjectIdentifier[] = items
      .slice(at, at + MAX_DELETE_OBJECTS)
      .map((i) => ({ Key: i.key, ...(i.versionId ? { VersionId: i.versionId } : {}) }));
    for (let round = 0; pending.length > 0; round++) {
      const out = await call('DeleteObjects', () =>
        sdk.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: pending, Quiet: true } }), {
          abortSignal: signal,
        }),
      );
      const errors = out?.Errors ?? [];
      deleted += pending.length - errors.length;
      if (errors.length === 0) break;
      // Each per-key Code passes the one vendor-code pattern (src/vendors/vendor-errors.ts) before it is joined.
      const codes = [...new Set(errors.map((e) => checkedVendorCode(e.Code ?? 'Error') ?? 'Error'))].sort().join(',');
      if (round + 1 >= DELETE_ERROR_ROUNDS) {
        const details = { vendor, operation: 'DeleteObjects', code: codes };
        // Refusals (AccessDenied, a policy) will not go away by retrying; server errors may.
        const permanent = errors.every(
          (e) => e.Code === 'AccessDenied' || e.Code === 'MethodNotAllowed' || e.Code === 'InvalidArgument',
        );
        throw permanent
          ? new PermanentVendorError(details, `refused ${errors.length} key(s)`)
          : new TransientVendorError(details, `could not delete ${errors.length} key(s)`);
      }
      const failed = new Set(errors.map((e) => `${e.Key}\u0000${e.VersionId ?? ''}`));
      pending = pending.filter((p) => failed.has(`${p.Key}\u0000${p.VersionId ?? ''}`));
      await pause(200 * 2 ** round, signal);
    }
  }
  return deleted;
}

/** Deletes every version and delete marker under a prefix, until a fresh listing finds nothing (at most three passes). */
async function purgePrefix(
  ctx: S3Context,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<{ versionsDeleted: number; markersDeleted: number; bytesDeleted: number }> {
  let versionsDeleted = 0;
  let markersDeleted = 0;
  let bytesDeleted = 0;
  for (let pass = 0; pass < 3; pass++) {
    const batch: Array<{ key: string; versionId: string }> = [];
    let found = 0;
    const flush = async () => {
      if (batch.length) await deleteVersions(ctx, bucket, batch.splice(0), signal);
    };
    for await (const group of listVersions(ctx, bucket, prefix, signal)) {
      for (const e of group.entries) {
        found++;
        if (e.isDeleteMarker) markersDeleted++;
        else {
          versionsDeleted++;
          bytesDeleted += e.size;
        }
        batch.push({ key: e.key, versionId: e.versionId });
        if (batch.length >= MAX_DELETE_OBJECTS) await flush();
      }
    }
    await flush();
    // Read back: a purge is done when a fresh listing finds nothing (a writer may have raced us).
    if (found === 0) return { versionsDeleted, markersDeleted, bytesDeleted };
  }
  throw new TransientVendorError(
    { vendor: ctx.vendor, operation: 'ListObjectVersions', code: 'NotEmpty' },
    'still lists objects under the purged prefix',
  );
}

/** AWS SDK failures → the taxonomy (SlowDown is throttling; S3 sends no Retry-After). */
export function toS3Error(vendor: VendorName, operation: string, err: unknown, throttleDelayMs: number): VendorError {
  if (isVendorError(err)) return err;
  if (err instanceof S3ServiceException) {
    return classifyHttpFailure({
      vendor,
      operation,
      status: err.$metadata.httpStatusCode,
      code: err.name,
      defaultThrottleDelayMs: throttleDelayMs,
    });
  }
  const name = (err as Error | undefined)?.name ?? 'Error';
  return new TransientVendorError({ vendor, operation, code: name }, 'did not complete');
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new TransientVendorError({ vendor: 's3', operation: 'DeleteObjects', code: 'Aborted' }, 'was aborted'));
      return;
    }
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new TransientVendorError({ vendor: 's3', operation: 'DeleteObjects', code: 'Aborted' }, 'was aborted'));
      },
      { once: true },
    );
  });
}

/** The S3 connector's client: the operations, plus its settings with defaults filled in. */
export interface S3VendorClient extends ObjectStoreClient {
  readonly settings: S3Settings & { batchWindowMs: number; batchMaxSubjects: number };
}

export function createS3VendorClient(settings: S3Settings, calls?: VendorCallObserver): S3VendorClient {
  const resolved = {
    ...settings,
    batchWindowMs: settings.batchWindowMs ?? S3_BATCH_DEFAULTS.batchWindowMs,
    batchMaxSubjects: settings.batchMaxSubjects ?? S3_BATCH_DEFAULTS.batchMaxSubjects,
  };
  const client = createObjectStoreClient(
    {
      region: settings.region,
      endpoint: settings.endpoint,
      credentials: settings.credentials,
      forcePathStyle: settings.forcePathStyle,
      throttleDelayMs: settings.throttleDelayMs,
    },
    's3',
    calls,
  );
  return { ...client, settings: resolved };
}
