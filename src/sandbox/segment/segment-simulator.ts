import express from 'express';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import { FixedWindowLimiter, type RateLimitAnswer } from './segment-rate-limiter.js';
import {
  MAX_BODY_BYTES,
  REGULATION_STATUSES,
  REGULATION_TYPES,
  SegmentFault,
  SegmentStore,
  isRegulationStatus,
  isRegulationType,
  notFound,
  rateLimitGroup,
  validationFailure,
  type RegulationScope,
  type StoredRegulation,
  type SuppressedSubject,
} from './segment-store.js';

/** The create endpoints' limit, per budget group (§4.5). */
export const SEGMENT_CREATE_REQUESTS_PER_MINUTE = 600;
/** The other endpoints' limit. Segment publishes none ("depends on IP, token and complexity"): UNCONFIRMED. */
export const SEGMENT_GENERAL_REQUESTS_PER_MINUTE = 6_000;

/** Request media types the Public API accepts (§4.1). */
const ACCEPTED_MEDIA_TYPES = new Set([
  'application/json',
  'application/vnd.segment.v1+json',
  'application/vnd.segment.v1beta+json',
  'application/vnd.segment.v1alpha+json',
]);

export interface SegmentSimulatorOptions {
  store: SegmentStore;
  stats: SandboxStats;
  faults: FaultKnobs;
  /** The workspace's Public API token; anything else is refused. */
  token: string;
  /** What a missing or wrong token gets; UNCONFIRMED at Segment (§7.4 point 1). @defaultValue 401 */
  unauthorizedStatus?: 401 | 403;
  /** Create-regulation requests per minute, counted separately for each budget group. @defaultValue 600 */
  createRequestsPerMinute?: number;
  /** Requests per minute for every other operation (UNCONFIRMED: Segment publishes no number). @defaultValue 6000 */
  generalRequestsPerMinute?: number;
  /** Largest `pagination.count` accepted; one Segment page says 200, the current spec 1000. @defaultValue 1000 */
  maxPageSize?: number;
  /**
   * The shape of `GET /regulations/{id}`: as documented, or `drifted` (the status fields renamed:
   * `overallStatus` → `status`, each destination's `status` → `state`), so the Segment canary
   * (src/preflight/canary.ts) can prove it catches a format the jobs do not read. @defaultValue 'documented'
   */
  regulationFormat?: 'documented' | 'drifted';
}

/** Writes the Public API's `{"errors":[{type, message, field?, data?}]}` envelope. */
export function sendSegmentError(
  res: Response,
  status: number,
  type: string,
  message: string,
  extra: { field?: string; data?: unknown } = {},
): void {
  const error: Record<string, unknown> = { type, message };
  if (extra.field !== undefined) error.field = extra.field;
  if (extra.data !== undefined) error.data = extra.data;
  res.status(status).json({ errors: [error] });
}

/** Segment's 429 (§4.5), as the rate-limiter's own numbers. */
function sendTooManyRequests(res: Response, msBeforeNext: number, consumedPoints: number): void {
  res.locals.throttled = true;
  sendSegmentError(res, 429, 'RequestError', 'Too many requests', {
    data: { remainingPoints: 0, msBeforeNext, consumedPoints },
  });
}

function setRateLimitHeaders(res: Response, answer: RateLimitAnswer): void {
  res.set('X-RateLimit-Consumed', String(answer.consumed));
  res.set('X-RateLimit-Remaining', String(answer.remaining));
  // toUTCString gives "Tue, 31 Dec 2024 23:59:59 GMT", the RFC 5322 form Segment documents.
  res.set('X-RateLimit-Reset', new Date(answer.resetAt).toUTCString());
}

/** The Segment Public API's deletion and suppression endpoints, on the paths and shapes `got` clients call. */
export function createSegmentSimulator(options: SegmentSimulatorOptions): express.Express {
  const { store, token } = options;
  const unauthorizedStatus = options.unauthorizedStatus ?? 401;
  const maxPageSize = options.maxPageSize ?? 1000;
  const createLimiter = new FixedWindowLimiter(options.createRequestsPerMinute ?? SEGMENT_CREATE_REQUESTS_PER_MINUTE);
  const generalLimiter = new FixedWindowLimiter(
    options.generalRequestsPerMinute ?? SEGMENT_GENERAL_REQUESTS_PER_MINUTE,
  );

  const answers: VendorAnswers = {
    throttled: (res, retryAfterMs) => {
      sendTooManyRequests(res, Math.max(1, Math.ceil(retryAfterMs)), generalLimiter.points + 1);
    },
    serverError: (res) => {
      sendSegmentError(res, 500, 'InternalServerError', 'Internal server error');
    },
    unavailable: (res) => {
      sendSegmentError(res, 503, 'ServiceUnavailable', 'Service unavailable');
    },
    unauthorized: (res) => {
      sendSegmentError(
        res,
        options.unauthorizedStatus ?? 401,
        (options.unauthorizedStatus ?? 401) === 401 ? 'Unauthorized' : 'Forbidden',
        'Invalid or missing Public API token',
      );
    },
  };
  const { record, op } = vendorOperations({ vendor: 'segment', stats: options.stats, faults: options.faults, answers });

  const authenticate: RequestHandler = (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('authorization') ?? '');
    if (!match || match[1] !== token) {
      sendSegmentError(
        res,
        unauthorizedStatus,
        unauthorizedStatus === 401 ? 'Unauthorized' : 'Forbidden',
        'Invalid or missing Public API token',
      );
      return;
    }
    next();
  };
  const requireJson: RequestHandler = (req, res, next) => {
    const mediaType = (req.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
    if (!ACCEPTED_MEDIA_TYPES.has(mediaType)) {
      sendSegmentError(
        res,
        415,
        'UnsupportedMediaType',
        `Content-Type must be one of ${[...ACCEPTED_MEDIA_TYPES].join(', ')}`,
      );
      return;
    }
    next();
  };
  const parseJson = express.json({ limit: MAX_BODY_BYTES, type: () => true });
  /** Create endpoints spend the budget of the regulation type's group; the headers report that group. */
  const createLimit: RequestHandler = (req, res, next) => {
    const type = (req.body as { regulationType?: unknown } | undefined)?.regulationType;
    const answer = isRegulationType(type)
      ? createLimiter.consume(rateLimitGroup(type))
      : generalLimiter.consume('general');
    if (!answer.allowed) {
      sendTooManyRequests(res, answer.msBeforeNext, answer.consumed);
      return;
    }
    setRateLimitHeaders(res, answer);
    next();
  };
  const generalLimit: RequestHandler = (_req, res, next) => {
    const answer = generalLimiter.consume('general');
    if (!answer.allowed) {
      sendTooManyRequests(res, answer.msBeforeNext, answer.consumed);
      return;
    }
    setRateLimitHeaders(res, answer);
    next();
  };
  const handle =
    (fn: (req: Request, res: Response) => unknown): RequestHandler =>
    (req, res, next) => {
      try {
        fn(req, res);
      } catch (err) {
        next(err);
      }
    };
  const param = (req: Request, name: string): string => String(req.params[name]);
  const creating = (operation: string) => [op(operation), authenticate, requireJson, parseJson, createLimit];
  const reading = (operation: string) => [op(operation), authenticate, generalLimit];

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(record);

  const create = (scopeOf: (req: Request) => RegulationScope) =>
    handle((req, res) => {
      const regulation = store.createRegulation(scopeOf(req), req.body);
      res.status(200).json({ data: { regulateId: regulation.id } });
    });
  app.post(
    '/regulations',
    ...creating('createWorkspaceRegulation'),
    create(() => ({ kind: 'workspace' })),
  );
  app.post(
    '/regulations/sources/:sourceId',
    ...creating('createSourceRegulation'),
    create((req) => ({ kind: 'source', sourceId: param(req, 'sourceId') })),
  );
  app.post(
    '/regulations/cloudsources/:sourceId',
    ...creating('createCloudSourceRegulation'),
    create((req) => {
      const collection = (req.body as { collection?: unknown } | undefined)?.collection;
      return {
        kind: 'cloudSource',
        sourceId: param(req, 'sourceId'),
        collection: typeof collection === 'string' ? collection : '',
      };
    }),
  );

  app.get(
    '/regulations',
    ...reading('listWorkspaceRegulations'),
    handle((req, res) => {
      const query = rawQuery(req);
      const page = readPagination(query, maxPageSize);
      const regulations = filterRegulations(store, store.listRegulations({ scope: 'workspace' }), query);
      const { items, pagination } = paginate(regulations, page);
      res.status(200).json({ data: { regulations: items.map((r) => listEntry(store, r)), pagination } });
    }),
  );
  app.get(
    '/regulations/sources/:sourceId',
    ...reading('listRegulationsFromSource'),
    handle((req, res) => {
      const sourceId = param(req, 'sourceId');
      if (!store.sources.has(sourceId)) throw notFound(`Source ${sourceId} not found`);
      const query = rawQuery(req);
      const page = readPagination(query, maxPageSize);
      const regulations = filterRegulations(store, store.listRegulations({ sourceId }), query);
      const { items, pagination } = paginate(regulations, page);
      res.status(200).json({ data: { regulations: items.map((r) => listEntry(store, r)), pagination } });
    }),
  );
  app.get(
    '/regulations/:regulateId',
    ...reading('getRegulation'),
    handle((req, res) => {
      const view = regulationView(store, store.regulation(param(req, 'regulateId')));
      res.status(200).json({ data: { regulation: options.regulationFormat === 'drifted' ? driftedView(view) : view } });
    }),
  );
  app.get(
    '/suppressions',
    ...reading('listSuppressions'),
    handle((req, res) => {
      const page = readPagination(rawQuery(req), maxPageSize);
      const { items, pagination } = paginate(store.listSuppressed(), page);
      res.status(200).json({ data: { suppressed: groupSuppressed(items), pagination } });
    }),
  );

  app.use((_req: Request, res: Response) => {
    sendSegmentError(res, 404, 'NotFound', 'Resource not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof SegmentFault) {
      sendSegmentError(res, err.status, err.errorType, err.message, { field: err.field });
      return;
    }
    const type = (err as { type?: string }).type;
    if (type === 'entity.too.large') {
      sendSegmentError(res, 422, 'ValidationFailure', 'Request body must not exceed 4 MB');
      return;
    }
    if (type === 'entity.parse.failed') {
      sendSegmentError(res, 400, 'BadRequest', 'Request body is not valid JSON');
      return;
    }
    sendSegmentError(res, 500, 'InternalServerError', 'Internal server error');
  });
  return app;
}

/** The query string as sent: Express's parser would hide the difference between `a.b` and `a[b]`. */
function rawQuery(req: Request): URLSearchParams {
  const at = req.originalUrl.indexOf('?');
  return new URLSearchParams(at >= 0 ? req.originalUrl.slice(at + 1) : '');
}

interface PageRequest {
  count: number;
  offset: number;
}

/**
 * `pagination` is required on lists (§4.4). The documented form is `pagination.count`; the
 * official SDK's `qs` sends `pagination[count]`, so both are read.
 */
function readPagination(query: URLSearchParams, maxPageSize: number): PageRequest {
  const keys = [...query.keys()];
  if (!keys.some((k) => k === 'pagination' || k.startsWith('pagination.') || k.startsWith('pagination['))) {
    throw validationFailure('pagination is required', 'pagination');
  }
  const count = query.get('pagination.count') ?? query.get('pagination[count]');
  const cursor = query.get('pagination.cursor') ?? query.get('pagination[cursor]');
  if (count === null) throw validationFailure('pagination.count is required', 'pagination.count');
  const n = Number(count);
  if (!/^\d+$/.test(count) || n < 1 || n > maxPageSize) {
    throw validationFailure(`pagination.count must be an integer between 1 and ${maxPageSize}`, 'pagination.count');
  }
  return { count: n, offset: cursor ? decodeCursor(cursor) : 0 };
}

/** Cursors are base64 offsets, like the documented `Mw==` ("3"); clients treat them as opaque. */
function encodeCursor(offset: number): string {
  return Buffer.from(String(offset), 'utf8').toString('base64');
}

function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  if (!/^\d+$/.test(text) || encodeCursor(Number(text)) !== cursor)
    throw validationFailure('pagination.cursor is not a valid cursor', 'pagination.cursor');
  return Number(text);
}

function paginate<T>(all: T[], page: PageRequest): { items: T[]; pagination: Record<string, unknown> } {
  const items = all.slice(page.offset, page.offset + page.count);
  const pagination: Record<string, unknown> = { current: encodeCursor(page.offset) };
  if (page.offset + page.count < all.length) pagination.next = encodeCursor(page.offset + page.count);
  if (page.offset > 0) pagination.previous = encodeCursor(Math.max(0, page.offset - page.count));
  pagination.totalEntries = all.length;
  return { items, pagination };
}

/** `status` (one value) and `regulationTypes` (repeated, indexed `[0]`, `[]`, or comma-separated). */
function filterRegulations(
  store: SegmentStore,
  regulations: StoredRegulation[],
  query: URLSearchParams,
): StoredRegulation[] {
  const status = query.get('status');
  if (status !== null && !isRegulationStatus(status))
    throw validationFailure(`status must be one of ${REGULATION_STATUSES.join(', ')}`, 'status');
  const types = new Set<string>();
  for (const [key, value] of query) {
    if (!/^regulationTypes(\[\d*\])?$/.test(key)) continue;
    for (const type of value.split(',').filter(Boolean)) {
      if (!isRegulationType(type))
        throw validationFailure(`regulationTypes must be among ${REGULATION_TYPES.join(', ')}`, 'regulationTypes');
      types.add(type);
    }
  }
  const now = store.now();
  return regulations.filter(
    (r) =>
      (types.size === 0 || types.has(r.regulationType)) &&
      (status === null || store.snapshot(r, now).overallStatus === status),
  );
}

const iso = (ms: number) => new Date(ms).toISOString();

function regulationView(store: SegmentStore, regulation: StoredRegulation) {
  const snapshot = store.snapshot(regulation);
  return {
    id: regulation.id,
    workspaceId: regulation.workspaceId,
    overallStatus: snapshot.overallStatus,
    createdAt: iso(regulation.createdAt),
    ...(snapshot.finishedAt !== undefined ? { finishedAt: iso(snapshot.finishedAt) } : {}),
    streamStatus: snapshot.streams.map((stream) => ({
      id: stream.id,
      destinationStatus: stream.destinations.map((d) => ({
        name: d.name,
        id: d.id,
        status: d.status,
        errString: d.errString,
        ...(d.finishedAt !== undefined ? { finishedAt: iso(d.finishedAt) } : {}),
      })),
    })),
  };
}

/** The drift knob's answer: the same regulation with its status fields under other names. */
function driftedView(view: ReturnType<typeof regulationView>) {
  const { overallStatus, streamStatus, ...rest } = view;
  return {
    ...rest,
    status: overallStatus,
    streamStatus: streamStatus.map((stream) => ({
      ...stream,
      destinationStatus: stream.destinationStatus.map(({ status, ...d }) => ({ ...d, state: status })),
    })),
  };
}

function listEntry(store: SegmentStore, regulation: StoredRegulation) {
  const snapshot = store.snapshot(regulation);
  return {
    id: regulation.id,
    subjectType: regulation.subjectType,
    subjects: regulation.subjectIds,
    status: snapshot.overallStatus,
    createdAt: iso(regulation.createdAt),
    regulationType: regulation.regulationType,
    ...(snapshot.finishedAt !== undefined ? { finishedAt: iso(snapshot.finishedAt) } : {}),
  };
}

/** One `{subjectType, subjectIds}` entry per run of the same subject type on the page. */
function groupSuppressed(items: SuppressedSubject[]): Array<{ subjectType: string; subjectIds: string[] }> {
  const out: Array<{ subjectType: string; subjectIds: string[] }> = [];
  for (const item of items) {
    const last = out[out.length - 1];
    if (last && last.subjectType === item.subjectType) last.subjectIds.push(item.subjectId);
    else out.push({ subjectType: item.subjectType, subjectIds: [item.subjectId] });
  }
  return out;
}
