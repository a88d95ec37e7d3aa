import express from 'express';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import type { SandboxClock } from '../sandbox-clock.js';
import { OperationLimits } from '../token-bucket.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import { createSasBlobRouter, parseContainerSas } from './sas-blob-containers.js';
import {
  AppCenterFault,
  AppCenterStore,
  badRequest,
  notFound,
  type AppCenterApp,
  type AppCenterAudience,
  type AppCenterNotification,
  type ExportBlobPlacement,
  type ExportRowLayout,
  type NotificationContent,
  type NotificationTarget,
} from './appcenter-store.js';

/**
 * App Center publishes no rate limits (vendor-contracts §3.4), so every operation gets the same
 * generous bucket by default; `rates` tightens single operations for tests and the benchmark.
 */
export const APPCENTER_DEFAULT_RATE = 100;

/** When the dates of App Center's retirement (vendor-contracts §3.4) fall, in epoch ms. */
export const APPCENTER_PUSH_RETIRED_AT = Date.UTC(2020, 11, 31);
export const APPCENTER_RETIRED_AT = Date.UTC(2026, 5, 30);

export interface AppCenterSimulatorOptions {
  store: AppCenterStore;
  stats: SandboxStats;
  faults: FaultKnobs;
  clock: SandboxClock;
  /** Per-operation rates (req/s) over the default. */
  rates?: Record<string, number>;
  /** Requests per second for operations not in `rates`. @defaultValue APPCENTER_DEFAULT_RATE (100) */
  defaultRate?: number;
  /**
   * Whether a 429 carries `Retry-After` (unconfirmed at App Center, vendor-contracts §3.4):
   * `'sometimes'` alternates, starting with the header. @defaultValue 'sometimes'
   */
  retryAfter?: 'always' | 'never' | 'sometimes';
  /** What Push_DeleteInstallId answers for an install id App Center does not know (unconfirmed). @defaultValue 404 */
  unknownInstallIdStatus?: 404 | 200;
  /** What an app-scoped token gets for another app's paths (unconfirmed; the error enum has no Forbidden). @defaultValue 404 */
  otherAppStatus?: 403 | 404;
  /** Sandbox milliseconds a device export stays InProgress. @defaultValue 120000 */
  exportDurationMs?: number;
  /** How export rows carry custom properties: top-level keys or under `custom_properties` (unconfirmed). @defaultValue 'flat' */
  exportRowLayout?: ExportRowLayout;
  /** Where a completed export's blob is written (unconfirmed; `'container-root'` is a drifted layout). @defaultValue 'export-folder' */
  exportBlobPlacement?: ExportBlobPlacement;
  /** Audiences per page of Analytics_ListAudiences; the API takes no page size, so clients must follow `nextLink`. @defaultValue 10 */
  audiencePageSize?: number;
  /**
   * What a `$skiptoken` remembers: the offset into the list (a page can skip items when earlier
   * ones are deleted meanwhile) or the last item's sort key (stable under deletes). Unconfirmed.
   * @defaultValue 'offset'
   */
  skipTokens?: 'offset' | 'keyset';
  /** Push is retired (it was on 2020-12-31): every Push_* operation answers `retiredStatus`. @defaultValue false */
  pushRetired?: boolean;
  /** App Center is retired altogether: every `/v0.1` operation answers `retiredStatus`. @defaultValue false */
  retired?: boolean;
  /** Retire Push and then everything when the sandbox clock passes 2020-12-31 and 2026-06-30. @defaultValue false */
  retireOnDates?: boolean;
  /**
   * Status of a retired endpoint's answer (unconfirmed; 404 is what a removed route gives), always
   * with the `{"error":{"code","message"}}` envelope. @defaultValue 404
   */
  retiredStatus?: 401 | 403 | 404 | 410 | 503;
}

const ERROR_CODES: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  411: 'LengthRequired',
  413: 'PayloadTooLarge',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
};

/** Writes App Center's error body, `{"error":{"code","message"}}`, on every error. */
export function sendAppCenterError(
  res: Response,
  status: number,
  message: string,
  code = ERROR_CODES[status] ?? 'InternalServerError',
): void {
  res.status(status).json({ error: { code, message } });
}

/** Push_List's page-size rules from the OpenAPI document. */
const DEFAULT_TOP = 30;
const MAX_TOP = 2000;

/** The Visual Studio App Center API on the `/v0.1/apps/{owner_name}/{app_name}` paths erasure uses, plus the export's blob container. */
export function createAppCenterSimulator(options: AppCenterSimulatorOptions): express.Express {
  const { store, clock } = options;
  const retryAfter = options.retryAfter ?? 'sometimes';
  let throttledAnswers = 0;
  const answers: VendorAnswers = {
    throttled: (res, retryAfterMs) => {
      throttledAnswers += 1;
      const withHeader = retryAfter === 'always' || (retryAfter === 'sometimes' && throttledAnswers % 2 === 1);
      if (withHeader) res.set('Retry-After', String(Math.max(1, Math.ceil(retryAfterMs / 1000))));
      sendAppCenterError(res, 429, 'Too many requests, retry later');
    },
    serverError: (res) => {
      sendAppCenterError(res, 500, 'An internal server error occurred');
    },
    unavailable: (res) => {
      sendAppCenterError(res, 503, 'The service is temporarily unavailable');
    },
    unauthorized: (res) => {
      sendAppCenterError(res, 401, 'Unauthorized: a valid X-API-Token header is required');
    },
  };
  const limits = new OperationLimits(options.rates ?? {}, options.defaultRate ?? APPCENTER_DEFAULT_RATE);
  const { record, op } = vendorOperations({
    vendor: 'appcenter',
    stats: options.stats,
    faults: options.faults,
    answers,
    limits,
  });
  const exportDurationMs = options.exportDurationMs ?? 120_000;
  const audiencePageSize = Math.max(1, options.audiencePageSize ?? 10);
  const skipTokens = options.skipTokens ?? 'offset';
  const retiredStatus = options.retiredStatus ?? 404;

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.use(record);
  app.use(
    '/blobs',
    createSasBlobRouter({
      containers: store.blobs,
      beforeRead: () => {
        store.settleExports(clock.now());
      },
    }),
  );

  const isRetired = (push: boolean): boolean => {
    if (options.retired || (push && options.pushRetired)) return true;
    if (!options.retireOnDates) return false;
    const now = clock.now();
    return now >= APPCENTER_RETIRED_AT || (push && now >= APPCENTER_PUSH_RETIRED_AT);
  };

  /** Retirement comes first: a removed service answers before it looks at a token. */
  const retirement =
    (push: boolean): RequestHandler =>
    (_req, res, next) => {
      if (!isRetired(push)) {
        next();
        return;
      }
      sendAppCenterError(
        res,
        retiredStatus,
        push ? 'App Center Push has been retired' : 'Visual Studio App Center has been retired',
      );
    };

  /** POST/PUT/PATCH must carry a body; the front door answers 411 before auth (vendor-contracts §3.1). */
  const lengthRequired: RequestHandler = (req, res, next) => {
    if (!['POST', 'PUT', 'PATCH'].includes(req.method)) {
      next();
      return;
    }
    const chunked = /chunked/i.test(req.get('transfer-encoding') ?? '');
    const length = Number(req.get('content-length') ?? 0);
    if (!chunked && !(length > 0)) {
      sendAppCenterError(res, 411, 'Length Required: send a request body, {} when there is nothing to send');
      return;
    }
    next();
  };

  const authenticate: RequestHandler = (req, res, next) => {
    const token = req.get('x-api-token');
    if (!token || !store.tokens.has(token)) {
      sendAppCenterError(res, 401, 'Unauthorized: a valid X-API-Token header is required');
      return;
    }
    const owner = String(req.params.owner_name);
    const name = String(req.params.app_name);
    if (!store.tokenReaches(token, owner, name)) {
      const status = options.otherAppStatus ?? 404;
      sendAppCenterError(
        res,
        status,
        status === 403 ? 'The API token has no access to this app' : `App '${owner}/${name}' not found`,
      );
      return;
    }
    next();
  };

  const parseJson = express.json({ limit: '4mb', type: () => true });

  type Handler = (req: Request, res: Response, app: AppCenterApp) => unknown;
  const route = (method: 'get' | 'post' | 'put' | 'delete', path: string, operation: string, handler: Handler) => {
    const push = operation.startsWith('Push_');
    const named: RequestHandler = (_req, res, next) => {
      res.locals.operation = operation;
      next();
    };
    app[method](
      `/v0.1/apps/:owner_name/:app_name${path}`,
      named,
      retirement(push),
      lengthRequired,
      authenticate,
      op(operation),
      parseJson,
      (req: Request, res: Response, next: NextFunction) => {
        try {
          handler(req, res, store.app(String(req.params.owner_name), String(req.params.app_name)));
        } catch (err) {
          next(err);
        }
      },
    );
  };
  const param = (req: Request, name: string): string => String(req.params[name]);

  // Apps_Get and Apps_List: how a client tells an unknown app (404 here, Apps_List answering)
  // from a retired App Center (every /v0.1 route answering `retiredStatus`).
  route('get', '', 'Apps_Get', (_req, res, target) => {
    res.status(200).json({ name: target.name, display_name: target.name, owner: { name: target.owner, type: 'org' } });
  });
  app.get(
    '/v0.1/apps',
    retirement(false),
    (req, res, next) => {
      res.locals.operation = 'Apps_List';
      const token = req.get('x-api-token');
      if (!token || !store.tokens.has(token)) {
        sendAppCenterError(res, 401, 'Unauthorized: a valid X-API-Token header is required');
        return;
      }
      next();
    },
    op('Apps_List'),
    (req: Request, res: Response) => {
      const token = req.get('x-api-token') ?? '';
      const apps = [...store.apps.values()].filter((a) => store.tokenReaches(token, a.owner, a.name));
      res
        .status(200)
        .json(apps.map((a) => ({ name: a.name, display_name: a.name, owner: { name: a.owner, type: 'org' } })));
    },
  );

  route('post', '/push/device_exports', 'Push_ExportDevices', (req, res, target) => {
    const uri = (req.body as { blob_container_sas_uri?: unknown } | undefined)?.blob_container_sas_uri;
    if (typeof uri !== 'string' || !uri) throw badRequest('blob_container_sas_uri is required');
    const sas = parseContainerSas(uri);
    if (!sas)
      throw badRequest('blob_container_sas_uri must be an Azure Blob container SAS URL (container path and sig)');
    const job = store.startExport(
      target,
      sas,
      clock.now(),
      exportDurationMs,
      options.exportRowLayout ?? 'flat',
      options.exportBlobPlacement ?? 'export-folder',
    );
    res.status(202).json({ export_id: job.export_id });
  });

  route('get', '/push/device_exports/:export_id', 'Push_ExportDevicesStatus', (req, res, target) => {
    const job = store.exportStatus(target, param(req, 'export_id'), clock.now());
    res.status(200).json({ export_id: job.export_id, status: job.status });
  });

  route('delete', '/push/devices/:install_id', 'Push_DeleteInstallId', (req, res, target) => {
    const installId = param(req, 'install_id');
    const existed = store.deleteInstallId(target, installId);
    if (!existed && (options.unknownInstallIdStatus ?? 404) === 404)
      throw notFound(`Install id '${installId}' not found`);
    res.status(200).end();
  });

  route('get', '/push/notifications', 'Push_List', (req, res, target) => {
    const top = parseTop(req.query.$top);
    const orderby = parseOrderby(req.query.$orderby);
    const inlinecount = req.query.$inlinecount ?? 'none';
    if (inlinecount !== 'none' && inlinecount !== 'allpages')
      throw badRequest("$inlinecount must be 'allpages' or 'none'");
    const includeArchived = parseBoolean(req.query.include_archived, 'include_archived');
    const all = sortBy(store.notifications(target, includeArchived), orderby);
    const { page, next } = pageOf(all, top === 0 ? all.length || 1 : top, req.query.$skiptoken, orderby, skipTokens);
    const nextLink = next === undefined ? undefined : linkWith(req, next, { $top: String(top) });
    res.status(200).json({
      values: page.map((n) => notificationOverview(n, clock.now())),
      ...(inlinecount === 'allpages' ? { total: all.length } : {}),
      ...(nextLink ? { nextLink } : {}),
    });
  });

  route('get', '/push/notifications/:notification_id', 'Push_Get', (req, res, target) => {
    const n = store.notification(target, param(req, 'notification_id'));
    res.status(200).json({
      ...notificationOverview(n, clock.now()),
      notification_content: n.notification_content,
      failure_outcomes: n.failure_outcomes,
    });
  });

  route('delete', '/push/notifications', 'Push_Delete', (req, res, target) => {
    const values = (req.body as { values?: unknown } | undefined)?.values;
    if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string')) {
      throw badRequest('Body must be {"values": ["<notification_id>", ...]}');
    }
    store.deleteNotifications(target, values as string[]);
    res.status(200).end();
  });

  route('post', '/push/notifications', 'Push_Send', (req, res, target) => {
    const body = req.body as
      { notification_content?: NotificationContent; notification_target?: NotificationTarget | null } | undefined;
    if (!body?.notification_content || typeof body.notification_content !== 'object')
      throw badRequest('notification_content is required');
    const sent = store.sendNotification(
      target,
      body.notification_content,
      body.notification_target ?? { type: 'broadcast_target' },
      clock.now(),
    );
    res.status(202).json({ notification_id: sent.notification_id });
  });

  route('get', '/analytics/audiences', 'Analytics_ListAudiences', (req, res, target) => {
    const includeDisabled = parseBoolean(req.query.include_disabled, 'include_disabled');
    const all = sortBy(store.audiences(target, includeDisabled), AUDIENCE_ORDER);
    const { page, next } = pageOf(all, audiencePageSize, req.query.$skiptoken, AUDIENCE_ORDER, skipTokens);
    const nextLink = next === undefined ? undefined : linkWith(req, next, {});
    res.status(200).json({
      values: page.map((a) => {
        const { name, description, estimated_count, definition, state } = audienceView(a, clock.now());
        return { name, ...(description !== undefined ? { description } : {}), estimated_count, definition, state };
      }),
      ...(nextLink ? { nextLink } : {}),
    });
  });

  route('get', '/analytics/audiences/:audience_name', 'Analytics_GetAudience', (req, res, target) => {
    res.status(200).json(audienceView(store.audience(target, param(req, 'audience_name')), clock.now()));
  });

  route('put', '/analytics/audiences/:audience_name', 'Analytics_CreateOrUpdateAudience', (req, res, target) => {
    const body = req.body as
      { definition?: unknown; description?: unknown; enabled?: unknown; custom_properties?: unknown } | undefined;
    if (typeof body?.definition !== 'string' || !body.definition) throw badRequest('definition is required');
    if (body.description !== undefined && typeof body.description !== 'string')
      throw badRequest('description must be a string');
    if (body.enabled !== undefined && typeof body.enabled !== 'boolean') throw badRequest('enabled must be a boolean');
    const customProperties = parseCustomProperties(body.custom_properties);
    const audience = store.putAudience(
      target,
      param(req, 'audience_name'),
      {
        definition: body.definition,
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
        ...(customProperties ? { custom_properties: customProperties } : {}),
      },
      clock.now(),
    );
    res.status(200).json(audienceView(audience, clock.now()));
  });

  route('delete', '/analytics/audiences/:audience_name', 'Analytics_DeleteAudience', (req, res, target) => {
    store.deleteAudience(target, param(req, 'audience_name'));
    res.status(204).end();
  });

  route('put', '/devices/block_logs/:install_id', 'Devices_BlockLogs', (req, res, target) => {
    const installId = param(req, 'install_id');
    store.blockLogs(target, installId);
    res.status(200).json(installId);
  });

  app.use((_req: Request, res: Response) => {
    sendAppCenterError(res, 404, 'The requested resource was not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof AppCenterFault) {
      sendAppCenterError(res, err.status, err.message, err.code);
      return;
    }
    const status = (err as { status?: number }).status;
    if (status === 413) {
      sendAppCenterError(res, 413, 'Request body too large');
      return;
    }
    if (status === 400) {
      sendAppCenterError(res, 400, 'The request body is not valid JSON');
      return;
    }
    sendAppCenterError(res, 500, 'An internal server error occurred');
  });
  return app;
}

function notificationOverview(n: AppCenterNotification, now: number) {
  return {
    notification_id: n.notification_id,
    name: n.name,
    notification_target: n.notification_target,
    send_time: n.send_time,
    pns_send_success: n.pns_send_success,
    pns_send_failure: n.pns_send_failure,
    state: now < n.queuedUntil ? 'Queued' : n.settledState,
  };
}

function audienceView(a: AppCenterAudience, now: number) {
  return {
    name: a.name,
    ...(a.description !== undefined ? { description: a.description } : {}),
    definition: a.definition,
    estimated_count: now < a.calculatingUntil ? 0 : a.estimated_count,
    state: !a.enabled ? 'Disabled' : now < a.calculatingUntil ? 'Calculating' : 'Ready',
    enabled: a.enabled,
    custom_properties: a.custom_properties,
  };
}

function parseTop(value: unknown): number {
  if (value === undefined) return DEFAULT_TOP;
  const top = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(top) || top > MAX_TOP) throw badRequest(`$top must be an integer from 0 to ${MAX_TOP}`);
  return top;
}

function parseBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (value === 'true' || value === 'false') return value === 'true';
  throw badRequest(`${name} must be true or false`);
}

type SortKey = Array<string | number>;

/** A list order: each item's sort key (ending in a unique id) and which key parts sort descending. */
interface Ordering<T> {
  key: (item: T) => SortKey;
  descending: boolean[];
}

function compareKeys(a: SortKey, b: SortKey, descending: boolean[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const order = x < y ? -1 : 1;
    return descending[i] ? -order : order;
  }
  return 0;
}

function sortBy<T>(items: T[], ordering: Ordering<T>): T[] {
  return items.sort((a, b) => compareKeys(ordering.key(a), ordering.key(b), ordering.descending));
}

const NOTIFICATION_SORT_KEYS: Record<string, (n: AppCenterNotification) => number | string> = {
  count: (n) => n.pns_send_success,
  name: (n) => n.name.toLowerCase(),
  send_time: (n) => n.send_time,
  state: (n) => n.settledState,
};

/** A query value as String() would print it; an object (a nested query) prints as nothing valid. */
function queryText(value: unknown): string {
  if (typeof value === 'string') return value;
  return Array.isArray(value) ? value.join(',') : '[object Object]';
}

/** `$orderby`: `<field> [asc|desc]`, default `count desc`; ties fall back to the id so pages are stable. */
function parseOrderby(value: unknown): Ordering<AppCenterNotification> {
  const text = value === undefined ? 'count desc' : queryText(value).trim();
  const match = /^(\w+)(?:\s+(asc|desc))?$/i.exec(text);
  const key = match ? NOTIFICATION_SORT_KEYS[match[1].toLowerCase()] : undefined;
  if (!match || !key)
    throw badRequest(
      `$orderby must be one of ${Object.keys(NOTIFICATION_SORT_KEYS).join(', ')}, optionally with asc or desc`,
    );
  return { key: (n) => [key(n), n.notification_id], descending: [(match[2] ?? 'asc').toLowerCase() === 'desc', false] };
}

const AUDIENCE_ORDER: Ordering<AppCenterAudience> = { key: (a) => [a.name.toLowerCase()], descending: [false] };

/**
 * One page of a sorted list and the `$skiptoken` of the next. An offset token counts items; a
 * keyset token remembers the last item's sort key, so the next page starts right after it even
 * when earlier items were deleted meanwhile.
 */
function pageOf<T>(
  sorted: T[],
  size: number,
  token: unknown,
  ordering: Ordering<T>,
  style: 'offset' | 'keyset',
): { page: T[]; next?: string } {
  let start = 0;
  if (token !== undefined) {
    const decoded = decodeToken(token);
    if (decoded === undefined) throw badRequest('$skiptoken is not valid');
    if (typeof decoded === 'number') start = decoded;
    else {
      const after = sorted.findIndex((item) => compareKeys(ordering.key(item), decoded, ordering.descending) > 0);
      start = after === -1 ? sorted.length : after;
    }
  }
  const page = sorted.slice(start, start + size);
  if (start + size >= sorted.length) return { page };
  const next = style === 'offset' ? { o: start + size } : { k: ordering.key(page[page.length - 1]) };
  return { page, next: Buffer.from(JSON.stringify(next), 'utf8').toString('base64url') };
}

function decodeToken(token: unknown): number | SortKey | undefined {
  if (typeof token !== 'string' || !token) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown; k?: unknown };
    if (typeof parsed.o === 'number' && Number.isInteger(parsed.o) && parsed.o >= 0) return parsed.o;
    if (Array.isArray(parsed.k) && parsed.k.every((v) => typeof v === 'string' || typeof v === 'number'))
      return parsed.k;
  } catch {
    return undefined;
  }
  return undefined;
}

/** `nextLink`: a relative path with the caller's query, `$skiptoken` replaced (format unconfirmed, vendor-contracts §3.2). */
function linkWith(req: Request, skiptoken: string, overrides: Record<string, string>): string {
  const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
  for (const [k, v] of Object.entries(overrides)) query.set(k, v);
  query.set('$skiptoken', skiptoken);
  const text = [...query.entries()]
    .map(([k, v]) => `${encodeURIComponent(k).replace(/^%24/, '$')}=${encodeURIComponent(v)}`)
    .join('&');
  return `${req.path}?${text}`;
}

const PROPERTY_TYPES = new Set(['string', 'number', 'boolean', 'date_time']);

function parseCustomProperties(value: unknown): AppCenterAudience['custom_properties'] | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    Object.values(value).some((t) => !PROPERTY_TYPES.has(String(t)))
  ) {
    throw badRequest('custom_properties maps property names to string, number, boolean or date_time');
  }
  return value as AppCenterAudience['custom_properties'];
}
