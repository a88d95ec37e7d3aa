import express from 'express';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { TokenBucket } from '../token-bucket.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import {
  AmplitudeFault,
  AmplitudeStore,
  parseDay,
  type AmplitudeProject,
  type AmplitudeRegion,
  type DeletionRequest,
} from './amplitude-store.js';

/** When a 429 carries `Retry-After`; Amplitude's throttling answer is unconfirmed (vendor-contracts §5.6). */
export type AmplitudeRetryAfter = 'always' | 'never' | 'sometimes';

export interface AmplitudeSimulatorOptions {
  store: AmplitudeStore;
  stats: SandboxStats;
  faults: FaultKnobs;
  /** The data region this host serves; keys of the other region's projects answer 401. @defaultValue 'us' */
  region?: AmplitudeRegion;
  /** Requests per second per API key, over all three routes (§5.6). `Infinity` turns it off. @defaultValue 1 */
  requestsPerSecond?: number;
  /** Requests in flight at once per project before the next answers 429 (§5.6). @defaultValue 8 */
  maxInFlight?: number;
  /**
   * When a 429 carries `Retry-After` (in whole seconds): `'sometimes'` sends it on the per-key
   * rate answer, whose wait is known, and omits it on the in-flight answer and during a 429 storm.
   * @defaultValue 'sometimes'
   */
  retryAfter?: AmplitudeRetryAfter;
  /** Accept `application/x-www-form-urlencoded` POST bodies with repeated keys, as the original design did (§5.2, unconfirmed today). @defaultValue true */
  formEncoded?: boolean;
  /** Status of DELETE on a job that is no longer staging; unconfirmed (§5.4). @defaultValue 400 */
  cancelRefusedStatus?: number;
  /** DELETE also takes a user id in place of the Amplitude ID, as the older doc says (§5.4, unconfirmed). @defaultValue false */
  cancelByUserId?: boolean;
  /**
   * Which spelling of the ignore-invalid-ids flag Amplitude reads: its doc's table says
   * `ignore_invalid_id`, its prose `ignore_invalid_ids` (§5.2); `'none'` reads neither, so any
   * unknown id gets the documented 400 and nothing is scheduled. @defaultValue 'both'
   */
  ignoreInvalidIdsSpelling?: 'both' | 'ignore_invalid_id' | 'ignore_invalid_ids' | 'none';
  /**
   * The case of job statuses on the wire: lower-case as in the original example (§5.3), or
   * capitalised as the docs' prose writes them, or upper-case. @defaultValue 'lower'
   */
  statusCase?: 'lower' | 'capitalized' | 'upper';
}

const DELETIONS_PATH = '/api/2/deletions/users';
const MAX_RANGE_MONTHS = 6;

/** Writes Amplitude's error answer. The body shape is not documented; `{error}` matches its other REST APIs. */
function sendAmplitudeError(res: Response, status: number, message: string): void {
  res.status(status).json({ error: message });
}

/** The Amplitude User Privacy API v1 (`/api/2/deletions/users`) for one region's host. */
export function createAmplitudeSimulator(options: AmplitudeSimulatorOptions): express.Express {
  const { store } = options;
  const region = options.region ?? 'us';
  const requestsPerSecond = options.requestsPerSecond ?? 1;
  const maxInFlight = options.maxInFlight ?? 8;
  const retryAfter = options.retryAfter ?? 'sometimes';
  const cancelRefusedStatus = options.cancelRefusedStatus ?? 400;

  const sendThrottled = (res: Response, retryAfterMs: number | undefined): void => {
    res.locals.throttled = true;
    if (retryAfterMs !== undefined) res.set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
    sendAmplitudeError(res, 429, 'Too many requests');
  };
  const answers: VendorAnswers = {
    throttled: (res, retryAfterMs) => {
      sendThrottled(res, retryAfter === 'always' ? retryAfterMs : undefined);
    },
    serverError: (res) => {
      sendAmplitudeError(res, 500, 'Internal server error');
    },
    unavailable: (res) => {
      sendAmplitudeError(res, 503, 'Service unavailable');
    },
    unauthorized: (res) => {
      sendAmplitudeError(res, 401, 'Invalid API key or secret key');
    },
  };
  // No per-operation limits: Amplitude limits per API key and per project, which `guard` applies.
  const { record, op } = vendorOperations({
    vendor: 'amplitude',
    stats: options.stats,
    faults: options.faults,
    answers,
  });

  const keyBuckets = new Map<string, TokenBucket>();
  const inFlight = new Map<number, number>();

  /**
   * Decides the limits when the request arrives, before any injected latency, so that slow
   * answers pile up in flight the way they would at Amplitude; the verdict is sent after auth.
   */
  const admit: RequestHandler = (req, res, next) => {
    const project = authenticate(store, req.get('authorization'), region);
    res.locals.project = project;
    if (!project) {
      next();
      return;
    }
    const running = inFlight.get(project.appId) ?? 0;
    if (running >= maxInFlight) {
      res.locals.limited = { retryAfterMs: retryAfter === 'always' ? 1000 : undefined };
      next();
      return;
    }
    if (Number.isFinite(requestsPerSecond)) {
      let bucket = keyBuckets.get(project.apiKey);
      if (!bucket)
        keyBuckets.set(project.apiKey, (bucket = new TokenBucket(requestsPerSecond, Math.max(1, requestsPerSecond))));
      const waitMs = bucket.take();
      if (waitMs > 0) {
        res.locals.limited = { retryAfterMs: retryAfter === 'never' ? undefined : waitMs };
        next();
        return;
      }
    }
    inFlight.set(project.appId, running + 1);
    res.once('close', () => inFlight.set(project.appId, (inFlight.get(project.appId) ?? 1) - 1));
    next();
  };
  const checkAuthAndLimits: RequestHandler = (_req, res, next) => {
    if (!res.locals.project) {
      sendAmplitudeError(res, 401, 'Invalid API key or secret key');
      return;
    }
    const limited = res.locals.limited as { retryAfterMs?: number } | undefined;
    if (limited) {
      sendThrottled(res, limited.retryAfterMs);
      return;
    }
    next();
  };
  const guard = (operation: string): RequestHandler[] => [
    (_req, res, next) => {
      res.locals.operation = operation;
      next();
    },
    admit,
    op(operation),
    checkAuthAndLimits,
  ];
  const handle =
    (fn: (req: Request, res: Response, project: AmplitudeProject) => unknown): RequestHandler =>
    (req, res, next) => {
      try {
        fn(req, res, res.locals.project as AmplitudeProject);
      } catch (err) {
        next(err);
      }
    };

  const isForm = (req: Request) =>
    (req.get('content-type') ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
  const bodyParsers: RequestHandler[] = [express.json({ limit: '1mb', type: (req) => !isForm(req as Request) })];
  if (options.formEncoded ?? true)
    bodyParsers.push(express.urlencoded({ extended: true, limit: '1mb', type: (req) => isForm(req as Request) }));

  const app = express();
  app.disable('x-powered-by');
  app.use(record);

  const spelling = options.ignoreInvalidIdsSpelling ?? 'both';
  const honoured =
    spelling === 'both'
      ? (['ignore_invalid_id', 'ignore_invalid_ids'] as const)
      : spelling === 'none'
        ? []
        : [spelling];
  const statusCase = options.statusCase ?? 'lower';
  /** Re-cases every `status` of an answer (a job, or a list of them) as `statusCase` says. */
  const cased = (value: unknown): unknown => {
    if (statusCase === 'lower') return value;
    if (Array.isArray(value)) return value.map(cased);
    if (typeof value !== 'object' || value === null || typeof (value as { status?: unknown }).status !== 'string')
      return value;
    const status = (value as { status: string }).status;
    return {
      ...value,
      status: statusCase === 'upper' ? status.toUpperCase() : status.charAt(0).toUpperCase() + status.slice(1),
    };
  };

  app.post(
    DELETIONS_PATH,
    ...guard('createDeletion'),
    ...bodyParsers,
    handle((req, res, project) => {
      res
        .status(200)
        .json(cased(store.requestDeletion(project, parseDeletionRequest(req.body, isForm(req), honoured))));
    }),
  );

  app.get(
    DELETIONS_PATH,
    ...guard('listDeletions'),
    handle((req, res, project) => {
      const { start_day: start, end_day: end } = req.query;
      if (typeof start !== 'string' || typeof end !== 'string')
        throw bad('start_day and end_day are required, as YYYY-MM-DD');
      const startMs = parseDay(start);
      const endMs = parseDay(end);
      if (startMs === undefined || endMs === undefined) throw bad('start_day and end_day must be dates as YYYY-MM-DD');
      if (endMs < startMs) throw bad('end_day is before start_day');
      const from = new Date(startMs);
      const limit = Date.UTC(from.getUTCFullYear(), from.getUTCMonth() + MAX_RANGE_MONTHS, from.getUTCDate());
      if (endMs > limit) throw bad(`the range may span at most ${MAX_RANGE_MONTHS} months`);
      res.status(200).json(cased(store.listJobs(project, start, end)));
    }),
  );

  app.delete(
    `${DELETIONS_PATH}/:id/:day`,
    ...guard('cancelDeletion'),
    handle((req, res, project) => {
      const id = String(req.params.id);
      const day = String(req.params.day);
      if (parseDay(day) === undefined) throw bad('the job day must be a date as YYYY-MM-DD');
      if (!/^\d+$/.test(id) && !options.cancelByUserId) throw bad('the amplitude id must be an integer');
      res.status(200).json(store.cancel(project, id, day, options.cancelByUserId ?? false));
    }),
  );

  app.use((_req: Request, res: Response) => {
    sendAmplitudeError(res, 404, 'Not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AmplitudeFault) {
      sendAmplitudeError(res, err.reason === 'job-not-staging' ? cancelRefusedStatus : err.status, err.message);
      return;
    }
    const status = (err as { status?: number }).status;
    if (status === 413) {
      sendAmplitudeError(res, 413, 'Request body too large');
      return;
    }
    if (status === 400) {
      sendAmplitudeError(res, 400, 'Malformed request body');
      return;
    }
    sendAmplitudeError(res, 500, 'Internal server error');
  });
  return app;
}

const bad = (message: string) => new AmplitudeFault(400, 'bad-request', message);

/** Basic auth as real clients send it: base64 of `apiKey:secretKey`. */
function authenticate(
  store: AmplitudeStore,
  header: string | undefined,
  region: AmplitudeRegion,
): AmplitudeProject | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return store.authenticate(decoded.slice(0, colon), decoded.slice(colon + 1), region);
}

/**
 * Reads a create-deletion body, JSON or form-encoded. Booleans come as JSON booleans or as the
 * strings "true"/"false" in any case (the docs' examples send "true", Segment's integration sends
 * "True"); amplitude_ids as integers or digit strings; user_ids as strings or numbers (the docs'
 * examples send numbers).
 */
export function parseDeletionRequest(
  body: unknown,
  form: boolean,
  ignoreFlagNames: readonly string[] = ['ignore_invalid_id', 'ignore_invalid_ids'],
): DeletionRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('the body must be a JSON object');
  const fields = body as Record<string, unknown>;
  const list = (name: string): unknown[] => {
    const value = fields[name] ?? fields[`${name}[]`];
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    if (form && typeof value === 'string') return [value];
    throw bad(`${name} must be a list`);
  };
  const amplitudeIds = list('amplitude_ids').map((value) => {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
    if (typeof value === 'string' && /^\d{1,19}$/.test(value)) return Number(value);
    throw bad('amplitude_ids must be integers');
  });
  const userIds = list('user_ids').map((value) => {
    if (typeof value === 'string' && value.length > 0) return value;
    if (typeof value === 'number' && Number.isFinite(value)) return String(value);
    throw bad('user_ids must be strings');
  });
  const requester = fields.requester;
  if (requester !== undefined && requester !== null && typeof requester !== 'string')
    throw bad('requester must be a string');
  const flag = (...names: string[]): boolean => names.some((name) => parseFlag(fields[name], name));
  const deleteFromOrg = flag('delete_from_org');
  return {
    amplitudeIds,
    userIds,
    requester: typeof requester === 'string' ? requester : null,
    // The doc's table says ignore_invalid_id, its prose ignore_invalid_ids: both are honoured.
    ignoreInvalidIds: flag(...ignoreFlagNames) || deleteFromOrg,
    deleteFromOrg,
    includeMappedUserIds: flag('include_mapped_user_ids'),
  };
}

function parseFlag(value: unknown, name: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw bad(`${name} must be true or false`);
}
