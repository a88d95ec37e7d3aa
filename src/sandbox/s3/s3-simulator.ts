import express from 'express';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { randomBytes } from 'node:crypto';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { seededId } from '../seed.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import { S3Fault, invalidArgument, malformedXml } from './s3-fault.js';
import { decodeContinuationToken, encodeContinuationToken } from './s3-continuation-token.js';
import { MAX_KEYS_PER_PAGE, listCurrentObjects, listObjectVersions } from './s3-listing.js';
import { PrefixRateLimits, type PartitionOf, type S3RequestKind } from './s3-prefix-limits.js';
import {
  hasIntegrityHeader,
  readRequestBody,
  storedContentEncoding,
  verifyIntegrity,
  type S3RequestBody,
} from './s3-request-body.js';
import type { DeleteFailureRule, S3Bucket, S3ObjectVersion, S3Store } from './s3-store.js';
import { el, parseXml, xmlDocument, type XmlNode } from './s3-xml.js';

/** S3's documented baseline per partitioned prefix (vendor-contracts §2.5). */
export const S3_DEFAULT_WRITES_PER_SECOND = 3500;
export const S3_DEFAULT_READS_PER_SECOND = 5500;
/** DeleteObjects accepts at most this many keys; more is 400 MalformedXML. */
export const MAX_DELETE_OBJECTS = 1000;

export interface S3SimulatorOptions {
  store: S3Store;
  stats: SandboxStats;
  faults: FaultKnobs;
  /** PUT/COPY/POST/DELETE requests per second per partition before 503 SlowDown. @defaultValue 3500 */
  writesPerSecond?: number;
  /** GET/HEAD requests per second per partition before 503 SlowDown. @defaultValue 5500 */
  readsPerSecond?: number;
  /** Which partition a request spends. @defaultValue bucket plus the key's (or list prefix's) first path segment */
  partitionOf?: PartitionOf;
  /**
   * Whether each key of a DeleteObjects request counts as one DELETE against the write budget
   * (UNCONFIRMED at AWS, vendor-contracts §2.5; budgeted conservatively). @defaultValue true
   */
  deleteObjectsCountsEachKey?: boolean;
  /** Per-key delete failures in force from the start; the live rule is `store.failDeleteKeys`. @defaultValue undefined */
  failDeleteKeys?: DeleteFailureRule;
  /** The access key id the Authorization header must name (signatures are not checked). @defaultValue undefined (any) */
  accessKeyId?: string;
  /** Host name suffix under which `bucket.<suffix>` requests are virtual-hosted style. @defaultValue 'localhost' */
  virtualHostSuffix?: string;
  /** Largest request body accepted, in bytes. @defaultValue 536870912 (512 MiB) */
  maxBodyBytes?: number;
}

const OWNER = { ID: seededId('s3-owner', 'sandbox') + seededId('s3-owner', 'sandbox-2'), DisplayName: 'sandbox' };
const REGION = 'us-east-1';
/** Subresources S3 has and this simulator does not play: answered 501 NotImplemented rather than misread as a listing or a write. */
const UNSUPPORTED_SUBRESOURCES = [
  'accelerate',
  'acl',
  'analytics',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'legal-hold',
  'lifecycle',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'partNumber',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'restore',
  'retention',
  'select',
  'tagging',
  'torrent',
  'uploadId',
  'uploads',
  'website',
  'attributes',
];

interface Target {
  bucket?: string;
  key?: string;
}

/** The S3 REST-XML API, path-style and virtual-hosted, on the paths `@aws-sdk/client-s3` calls. */
export function createS3Simulator(options: S3SimulatorOptions): express.Express {
  const { store } = options;
  if (options.failDeleteKeys) store.failDeleteKeys = options.failDeleteKeys;
  const limits = new PrefixRateLimits(
    {
      write: options.writesPerSecond ?? S3_DEFAULT_WRITES_PER_SECOND,
      read: options.readsPerSecond ?? S3_DEFAULT_READS_PER_SECOND,
    },
    options.partitionOf,
  );
  const countsEachKey = options.deleteObjectsCountsEachKey ?? true;
  const maxBodyBytes = options.maxBodyBytes ?? 512 * 1024 * 1024;
  const hostSuffix = `.${(options.virtualHostSuffix ?? 'localhost').toLowerCase()}`;

  const answers: VendorAnswers = {
    throttled: (res) => {
      res.locals.throttled = true;
      sendS3Error(res, new S3Fault(503, 'SlowDown', 'Please reduce your request rate.'));
    },
    serverError: (res) => {
      sendS3Error(res, new S3Fault(500, 'InternalError', 'We encountered an internal error. Please try again.'));
    },
    unavailable: (res) => {
      sendS3Error(res, new S3Fault(503, 'ServiceUnavailable', 'Service is unable to handle request.'));
    },
    unauthorized: (res) => {
      sendS3Error(
        res,
        new S3Fault(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'),
      );
    },
  };
  const { record, op } = vendorOperations({ vendor: 's3', stats: options.stats, faults: options.faults, answers });
  const opMiddleware = new Map<string, RequestHandler>();

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.use(record);

  app.use((req: Request, res: Response, next: NextFunction) => {
    res.locals.requestId = randomBytes(8).toString('hex').toUpperCase();
    res.locals.hostId = randomBytes(24).toString('base64');
    res.set({
      'x-amz-request-id': res.locals.requestId as string,
      'x-amz-id-2': res.locals.hostId as string,
      server: 'AmazonS3',
    });
    let target: Target;
    try {
      target = resolveTarget(req, hostSuffix);
    } catch (err) {
      next(err);
      return;
    }
    res.locals.target = target;
    res.locals.operation = operationOf(req, target);
    const denied = checkAuthorization(req, options.accessKeyId);
    if (denied) {
      sendS3Error(res, denied);
      return;
    }
    next();
  });
  app.use((req, res, next) => {
    const name = res.locals.operation as string;
    let middleware = opMiddleware.get(name);
    if (!middleware) opMiddleware.set(name, (middleware = op(name)));
    return middleware(req, res, next);
  });
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    try {
      await serve(req, res);
    } catch (err) {
      next(err);
    }
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) return res.end();
    if (err instanceof S3Fault) {
      sendS3Error(res, err);
      return;
    }
    sendS3Error(res, new S3Fault(500, 'InternalError', 'We encountered an internal error. Please try again.'));
  });
  return app;

  async function serve(req: Request, res: Response): Promise<void> {
    const operation = res.locals.operation as string;
    const target = res.locals.target as Target;
    const bucketName = target.bucket ?? '';
    const key = target.key ?? '';
    const body =
      req.method === 'PUT' || req.method === 'POST' ? await readRequestBody(req, maxBodyBytes) : await drain(req);

    if (operation === 'NotImplemented') {
      throw new S3Fault(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented.');
    }
    const kind: S3RequestKind = req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'write';
    // DeleteObjects is read and validated first: its keys decide which partitions it spends.
    const deletion = operation === 'DeleteObjects' ? parseDeleteRequest(req, bucketName, body) : undefined;
    const costs = new Map<string, number>();
    if (deletion && countsEachKey) {
      for (const object of deletion.objects) {
        const partition = limits.partitionOf(bucketName, object.key);
        costs.set(partition, (costs.get(partition) ?? 0) + 1);
      }
    } else {
      costs.set(limits.partitionOf(bucketName, target.key ?? stringParam(req, 'prefix') ?? ''), 1);
    }
    if (limits.take(kind, costs) > 0) {
      answers.throttled(res, 0);
      return;
    }

    switch (operation) {
      case 'ListBuckets': {
        listBuckets(req, res);
        return;
      }
      case 'CreateBucket':
        if (body.bytes.length && !parseXml(body.bytes)) throw malformedXml();
        store.createBucket(bucketName);
        res.status(200).set('location', `/${bucketName}`).end();
        return;
      case 'HeadBucket':
        store.bucket(bucketName);
        res.status(200).set({ 'x-amz-bucket-region': REGION, 'x-amz-access-point-alias': 'false' }).end();
        return;
      case 'DeleteBucket':
        store.deleteBucket(bucketName);
        res.status(204).end();
        return;
      case 'GetBucketVersioning': {
        const bucket = store.bucket(bucketName);
        const status = bucket.versioning === 'Unversioned' ? undefined : bucket.versioning;
        sendXml(res, 'VersioningConfiguration', el('Status', status));
        return;
      }
      case 'PutBucketVersioning': {
        putBucketVersioning(req, res, bucketName, body);
        return;
      }
      case 'ListObjectsV2': {
        listObjectsV2(req, res, store.bucket(bucketName));
        return;
      }
      case 'ListObjects': {
        listObjectsV1(req, res, store.bucket(bucketName));
        return;
      }
      case 'ListObjectVersions': {
        listVersions(req, res, store.bucket(bucketName));
        return;
      }
      case 'DeleteObjects': {
        deleteObjects(res, bucketName, deletion ?? parseDeleteRequest(req, bucketName, body));
        return;
      }
      case 'PutObject': {
        putObject(req, res, bucketName, key, body);
        return;
      }
      case 'GetObject':
      case 'HeadObject': {
        getObject(req, res, bucketName, key, operation === 'HeadObject');
        return;
      }
      case 'DeleteObject': {
        deleteObject(req, res, bucketName, key);
        return;
      }
      default:
        throw new S3Fault(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
    }
  }

  function listBuckets(req: Request, res: Response): void {
    const prefix = stringParam(req, 'prefix') ?? '';
    const maxBuckets = parseMaxKeys(req, 'max-buckets', 10_000);
    const token = stringParam(req, 'continuation-token');
    const after = token === undefined ? undefined : Buffer.from(token, 'base64url').toString('utf8');
    const names = [...store.buckets.keys()]
      .filter((n) => n.startsWith(prefix) && (after === undefined || n > after))
      .sort();
    const page = names.slice(0, maxBuckets);
    const truncated = names.length > page.length;
    sendXml(res, 'ListAllMyBucketsResult', [
      ...el(
        'Buckets',
        page.flatMap((name) =>
          el('Bucket', [
            ...el('Name', name),
            ...el('CreationDate', store.bucket(name).createdAt),
            ...el('BucketRegion', REGION),
          ]),
        ),
      ),
      ...el('Owner', [...el('DisplayName', OWNER.DisplayName), ...el('ID', OWNER.ID)]),
      ...el('ContinuationToken', truncated ? Buffer.from(page.at(-1) ?? '', 'utf8').toString('base64url') : undefined),
      ...el('Prefix', prefix || undefined),
    ]);
  }

  function putBucketVersioning(req: Request, res: Response, bucketName: string, body: S3RequestBody): void {
    store.bucket(bucketName);
    verifyIntegrity(req.headers, body);
    const doc = parseXml(body.bytes);
    const status = (doc?.VersioningConfiguration as { Status?: unknown } | undefined)?.Status;
    if (status !== 'Enabled' && status !== 'Suspended') throw malformedXml();
    store.setVersioning(bucketName, status);
    res.status(200).end();
  }

  function listObjectsV2(req: Request, res: Response, bucket: S3Bucket): void {
    const prefix = stringParam(req, 'prefix') ?? '';
    const delimiter = stringParam(req, 'delimiter') || undefined;
    const maxKeys = parseMaxKeys(req, 'max-keys');
    const startAfter = stringParam(req, 'start-after') || undefined;
    const token = stringParam(req, 'continuation-token');
    const encode = encoder(req);
    let start = startAfter === undefined ? undefined : { after: startAfter, rolledUp: false };
    if (token !== undefined) {
      start = decodeContinuationToken(bucket.name, token);
      if (!start) throw invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
    }
    const page = listCurrentObjects(bucket, {
      prefix,
      delimiter,
      start,
      maxKeys: Math.min(maxKeys, MAX_KEYS_PER_PAGE),
    });
    const withOwner = stringParam(req, 'fetch-owner') === 'true';
    sendXml(res, 'ListBucketResult', [
      ...el('Name', bucket.name),
      ...el('Prefix', encode(prefix)),
      ...el('ContinuationToken', token),
      ...el(
        'NextContinuationToken',
        page.isTruncated && page.last ? encodeContinuationToken(bucket.name, page.last) : undefined,
      ),
      ...el('KeyCount', page.contents.length + page.commonPrefixes.length),
      ...el('MaxKeys', Math.min(maxKeys, MAX_KEYS_PER_PAGE)),
      ...el('Delimiter', delimiter === undefined ? undefined : encode(delimiter)),
      ...el('IsTruncated', page.isTruncated),
      ...el('StartAfter', startAfter === undefined ? undefined : encode(startAfter)),
      ...page.contents.flatMap((v) => el('Contents', contentsEntry(v, encode, withOwner))),
      ...page.commonPrefixes.flatMap((p) => el('CommonPrefixes', el('Prefix', encode(p)))),
      ...el('EncodingType', stringParam(req, 'encoding-type')),
    ]);
  }

  function listObjectsV1(req: Request, res: Response, bucket: S3Bucket): void {
    const prefix = stringParam(req, 'prefix') ?? '';
    const delimiter = stringParam(req, 'delimiter') || undefined;
    const maxKeys = parseMaxKeys(req, 'max-keys');
    const marker = stringParam(req, 'marker') || undefined;
    const encode = encoder(req);
    const rolledUp =
      marker !== undefined &&
      delimiter !== undefined &&
      marker.endsWith(delimiter) &&
      marker.indexOf(delimiter, prefix.length) === marker.length - delimiter.length;
    const page = listCurrentObjects(bucket, {
      prefix,
      delimiter,
      start: marker === undefined ? undefined : { after: marker, rolledUp },
      maxKeys: Math.min(maxKeys, MAX_KEYS_PER_PAGE),
    });
    sendXml(res, 'ListBucketResult', [
      ...el('Name', bucket.name),
      ...el('Prefix', encode(prefix)),
      ...el('Marker', encode(marker ?? '')),
      // S3 sends NextMarker only with a delimiter; without one the client continues from the last key.
      ...el(
        'NextMarker',
        page.isTruncated && delimiter !== undefined && page.last ? encode(page.last.after) : undefined,
      ),
      ...el('MaxKeys', Math.min(maxKeys, MAX_KEYS_PER_PAGE)),
      ...el('Delimiter', delimiter === undefined ? undefined : encode(delimiter)),
      ...el('IsTruncated', page.isTruncated),
      ...page.contents.flatMap((v) => el('Contents', contentsEntry(v, encode, true))),
      ...page.commonPrefixes.flatMap((p) => el('CommonPrefixes', el('Prefix', encode(p)))),
      ...el('EncodingType', stringParam(req, 'encoding-type')),
    ]);
  }

  function listVersions(req: Request, res: Response, bucket: S3Bucket): void {
    const prefix = stringParam(req, 'prefix') ?? '';
    const delimiter = stringParam(req, 'delimiter') || undefined;
    const maxKeys = Math.min(parseMaxKeys(req, 'max-keys'), MAX_KEYS_PER_PAGE);
    const keyMarker = stringParam(req, 'key-marker') || undefined;
    const versionIdMarker = stringParam(req, 'version-id-marker') || undefined;
    const encode = encoder(req);
    const page = listObjectVersions(bucket, { prefix, delimiter, keyMarker, versionIdMarker, maxKeys });
    const entries = page.entries.flatMap(({ version: v, isLatest }): XmlNode[] =>
      v.isDeleteMarker
        ? el('DeleteMarker', [
            ...el('Owner', [...el('DisplayName', OWNER.DisplayName), ...el('ID', OWNER.ID)]),
            ...el('Key', encode(v.key)),
            ...el('VersionId', v.versionId),
            ...el('IsLatest', isLatest),
            ...el('LastModified', v.lastModified),
          ])
        : el('Version', [
            ...el('ETag', v.etag),
            ...el('ChecksumAlgorithm', v.checksum?.algorithm),
            ...el('ChecksumType', v.checksum ? 'FULL_OBJECT' : undefined),
            ...el('Size', v.size),
            ...el('StorageClass', 'STANDARD'),
            ...el('Key', encode(v.key)),
            ...el('VersionId', v.versionId),
            ...el('IsLatest', isLatest),
            ...el('LastModified', v.lastModified),
            ...el('Owner', [...el('DisplayName', OWNER.DisplayName), ...el('ID', OWNER.ID)]),
          ]),
    );
    sendXml(res, 'ListVersionsResult', [
      ...el('Name', bucket.name),
      ...el('Prefix', encode(prefix)),
      ...el('KeyMarker', encode(keyMarker ?? '')),
      ...el('VersionIdMarker', versionIdMarker ?? ''),
      ...el('NextKeyMarker', page.nextKeyMarker === undefined ? undefined : encode(page.nextKeyMarker)),
      ...el('NextVersionIdMarker', page.nextVersionIdMarker),
      ...el('MaxKeys', maxKeys),
      ...el('Delimiter', delimiter === undefined ? undefined : encode(delimiter)),
      ...el('IsTruncated', page.isTruncated),
      ...entries,
      ...page.commonPrefixes.flatMap((p) => el('CommonPrefixes', el('Prefix', encode(p)))),
      ...el('EncodingType', stringParam(req, 'encoding-type')),
    ]);
  }

  function parseDeleteRequest(req: Request, bucketName: string, body: S3RequestBody): DeleteRequest {
    store.bucket(bucketName);
    // The API requires an integrity header; SDK v3 sends a CRC32 checksum instead of Content-MD5 (vendor-contracts §2.3).
    if (!hasIntegrityHeader(req.headers, body.trailers)) {
      throw new S3Fault(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
    }
    verifyIntegrity(req.headers, body);
    const doc = parseXml(body.bytes, new Set(['Delete.Object']));
    const root = doc?.Delete as { Object?: unknown[]; Quiet?: unknown } | undefined;
    const objects = root?.Object;
    if (!Array.isArray(objects) || objects.length === 0 || objects.length > MAX_DELETE_OBJECTS) throw malformedXml();
    const parsed = objects.map((o) => {
      const entry = o as { Key?: unknown; VersionId?: unknown };
      if (typeof entry.Key !== 'string') throw malformedXml();
      if (entry.VersionId !== undefined && typeof entry.VersionId !== 'string') throw malformedXml();
      return { key: entry.Key, versionId: entry.VersionId === '' ? undefined : entry.VersionId };
    });
    const quiet = typeof root?.Quiet === 'string' && root.Quiet.trim().toLowerCase() === 'true';
    return { objects: parsed, quiet };
  }

  function deleteObjects(res: Response, bucketName: string, request: DeleteRequest): void {
    const results: XmlNode[] = [];
    for (const { key, versionId } of request.objects) {
      try {
        const outcome = store.deleteObject(bucketName, key, versionId);
        if (request.quiet) continue;
        results.push(
          ...el('Deleted', [
            ...el('Key', key),
            ...el('VersionId', versionId),
            ...el('DeleteMarker', outcome.deleteMarker ? true : undefined),
            ...el('DeleteMarkerVersionId', outcome.deleteMarker ? outcome.versionId : undefined),
          ]),
        );
      } catch (err) {
        if (!(err instanceof S3Fault)) throw err;
        results.push(
          ...el('Error', [
            ...el('Key', key),
            ...el('VersionId', versionId),
            ...el('Code', err.code),
            ...el('Message', err.message),
          ]),
        );
      }
    }
    sendXml(res, 'DeleteResult', results);
  }

  function putObject(req: Request, res: Response, bucketName: string, key: string, body: S3RequestBody): void {
    store.bucket(bucketName);
    if (req.headers['x-amz-copy-source'] !== undefined)
      throw new S3Fault(501, 'NotImplemented', 'A header you provided implies functionality that is not implemented.');
    const checksum = verifyIntegrity(req.headers, body);
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (name.startsWith('x-amz-meta-') && typeof value === 'string')
        metadata[name.slice('x-amz-meta-'.length)] = value;
    }
    const version = store.putObject(bucketName, key, body.bytes, req.headers['content-type'] ?? 'binary/octet-stream', {
      contentEncoding: storedContentEncoding(req.headers),
      metadata,
      checksum,
    });
    const headers: Record<string, string> = { etag: version.etag, 'x-amz-server-side-encryption': 'AES256' };
    if (store.bucket(bucketName).versioning === 'Enabled') headers['x-amz-version-id'] = version.versionId;
    if (checksum) {
      headers[`x-amz-checksum-${checksum.algorithm.toLowerCase()}`] = checksum.value;
      headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    res.status(200).set(headers).end();
  }

  function getObject(req: Request, res: Response, bucketName: string, key: string, headOnly: boolean): void {
    const bucket = store.bucket(bucketName);
    const version = store.readVersion(bucketName, key, stringParam(req, 'versionId') || undefined);
    const headers: Record<string, string> = {
      'content-type': version.contentType,
      etag: version.etag,
      'last-modified': version.lastModified.toUTCString(),
      'accept-ranges': 'bytes',
      'x-amz-server-side-encryption': 'AES256',
    };
    if (bucket.versioning !== 'Unversioned') headers['x-amz-version-id'] = version.versionId;
    if (version.contentEncoding) headers['content-encoding'] = version.contentEncoding;
    for (const [name, value] of Object.entries(version.metadata)) headers[`x-amz-meta-${name}`] = value;
    const range = parseRange(req.headers.range, version.size);
    if (range === 'unsatisfiable') {
      throw new S3Fault(416, 'InvalidRange', 'The requested range is not satisfiable', {
        RangeRequested: String(req.headers.range),
        ActualObjectSize: String(version.size),
      });
    }
    // A checksum covers the whole object, so S3 only returns it for whole-object reads.
    if (!range && version.checksum && String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED') {
      headers[`x-amz-checksum-${version.checksum.algorithm.toLowerCase()}`] = version.checksum.value;
      headers['x-amz-checksum-type'] = 'FULL_OBJECT';
    }
    const bytes = range ? version.body.subarray(range.start, range.end + 1) : version.body;
    headers['content-length'] = String(bytes.length);
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${version.size}`;
    res.status(range ? 206 : 200).set(headers);
    if (headOnly) res.end();
    else res.end(bytes);
  }

  function deleteObject(req: Request, res: Response, bucketName: string, key: string): void {
    const outcome = store.deleteObject(bucketName, key, stringParam(req, 'versionId') || undefined);
    const headers: Record<string, string> = {};
    if (outcome.deleteMarker) headers['x-amz-delete-marker'] = 'true';
    if (outcome.versionId !== undefined) headers['x-amz-version-id'] = outcome.versionId;
    res.status(204).set(headers).end();
  }
}

interface DeleteRequest {
  objects: Array<{ key: string; versionId?: string }>;
  quiet: boolean;
}

/** Writes S3's error document and headers; HEAD answers carry no body, as at S3. */
function sendS3Error(res: Response, fault: S3Fault): void {
  res.status(fault.status).set(fault.headers);
  if (res.req.method === 'HEAD') {
    res.end();
    return;
  }
  const details = Object.entries(fault.details).flatMap(([name, value]) => el(name, value));
  const doc = xmlDocument(
    'Error',
    [
      ...el('Code', fault.code),
      ...el('Message', fault.message),
      ...details,
      ...el('RequestId', res.locals.requestId as string | undefined),
      ...el('HostId', res.locals.hostId as string | undefined),
    ],
    null,
  );
  res.type('application/xml').send(doc);
}

function sendXml(res: Response, root: string, children: XmlNode[]): void {
  res.status(200).type('application/xml').send(xmlDocument(root, children));
}

/** Bucket and key from a virtual-hosted Host header or from the path (`/bucket`, `/bucket/`, `/bucket/key`). */
function resolveTarget(req: Request, hostSuffix: string): Target {
  const rawPath = (req.originalUrl ?? req.url).split('?')[0];
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new S3Fault(400, 'InvalidURI', "Couldn't parse the specified URI.");
    }
  };
  const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
  if (host.endsWith(hostSuffix) && host.length > hostSuffix.length) {
    const key = decode(rawPath.slice(1));
    return { bucket: host.slice(0, -hostSuffix.length), key: key || undefined };
  }
  const path = rawPath.slice(1);
  if (!path) return {};
  const slash = path.indexOf('/');
  if (slash < 0) return { bucket: decode(path) };
  const key = decode(path.slice(slash + 1));
  return { bucket: decode(path.slice(0, slash)), key: key || undefined };
}

/** The S3 operation a request is, by method, target and subresource. */
function operationOf(req: Request, target: Target): string {
  const has = (name: string) => Object.prototype.hasOwnProperty.call(req.query, name);
  if (UNSUPPORTED_SUBRESOURCES.some(has)) return 'NotImplemented';
  const method = req.method;
  if (target.bucket === undefined) return method === 'GET' ? 'ListBuckets' : 'NotImplemented';
  if (target.key === undefined) {
    if (method === 'GET') {
      if (has('versioning')) return 'GetBucketVersioning';
      if (has('versions')) return 'ListObjectVersions';
      if (has('location')) return 'NotImplemented';
      return stringParam(req, 'list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    }
    if (method === 'PUT') return has('versioning') ? 'PutBucketVersioning' : 'CreateBucket';
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'DELETE') return 'DeleteBucket';
    if (method === 'POST' && has('delete')) return 'DeleteObjects';
    return 'NotImplemented';
  }
  switch (method) {
    case 'PUT':
      return 'PutObject';
    case 'GET':
      return 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    case 'DELETE':
      return 'DeleteObject';
    default:
      return 'NotImplemented';
  }
}

/** Signatures are not verified, but an unsigned request is refused and the access key must be the sandbox's. */
function checkAuthorization(req: Request, accessKeyId: string | undefined): S3Fault | undefined {
  const header = req.headers.authorization;
  const presigned = stringParam(req, 'X-Amz-Credential');
  const credential =
    typeof header === 'string' ? /Credential=([^/,\s]+)\//.exec(header)?.[1] : presigned?.split('/')[0];
  if (header === undefined && presigned === undefined) return new S3Fault(403, 'AccessDenied', 'Access Denied');
  if (accessKeyId !== undefined && credential !== accessKeyId) {
    return new S3Fault(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', {
      AWSAccessKeyId: credential ?? '',
    });
  }
  return undefined;
}

function stringParam(req: Request, name: string): string | undefined {
  const value = req.query[name];
  return typeof value === 'string' ? value : undefined;
}

function parseMaxKeys(req: Request, name: string, fallback = MAX_KEYS_PER_PAGE): number {
  const raw = stringParam(req, name);
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value > 2_147_483_647) {
    throw invalidArgument('Provided max-keys not an integer or within integer range', name, raw);
  }
  return value;
}

/** With `encoding-type=url` S3 form-encodes keys and prefixes in listings (spaces as `+`). */
function encoder(req: Request): (value: string) => string {
  const type = stringParam(req, 'encoding-type');
  if (type === undefined) return (v) => v;
  if (type !== 'url') throw invalidArgument('Invalid Encoding Method specified in Request', 'encoding-type', type);
  return (v) => encodeURIComponent(v).replace(/%20/g, '+');
}

function contentsEntry(v: S3ObjectVersion, encode: (s: string) => string, withOwner: boolean): XmlNode[] {
  return [
    ...el('Key', encode(v.key)),
    ...el('LastModified', v.lastModified),
    ...el('ETag', v.etag),
    ...el('ChecksumAlgorithm', v.checksum?.algorithm),
    ...el('ChecksumType', v.checksum ? 'FULL_OBJECT' : undefined),
    ...el('Size', v.size),
    ...(withOwner ? el('Owner', [...el('DisplayName', OWNER.DisplayName), ...el('ID', OWNER.ID)]) : []),
    ...el('StorageClass', 'STANDARD'),
  ];
}

/** A single `bytes=` range; several ranges are ignored (whole object), as S3 does. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

async function drain(req: Request): Promise<S3RequestBody> {
  for await (const _chunk of req as AsyncIterable<Buffer>) {
    // GET/HEAD/DELETE bodies mean nothing to S3; reading them keeps the connection reusable.
  }
  return { bytes: Buffer.alloc(0), trailers: {} };
}
