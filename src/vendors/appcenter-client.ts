import got, { RequestError, type Response } from 'got';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
import { withAppCenterDefaults, type AppCenterSettings } from './appcenter-settings.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import { withCallMetrics } from './got-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import type { ScopeSightings } from '../ledger/scope-sightings.js';
import { checkedVendorCode, classifyHttpFailure, parseRetryAfter, RateLimitedError, TransientVendorError, PermanentVendorError, scopeMissing, type VendorError } from './vendor-errors.js';

/** An audience as Analytics_ListAudiences lists it. Its name is its id, and may itself name a person. */
export interface AppCenterAudience {
  name: string;
  description?: string;
  definition?: string;
}

/** NotificationOverview: the fields of Push_List that can name a person. */
export interface AppCenterNotificationOverview {
  notification_id: string;
  name?: string;
  notification_target?: { type?: string; audiences?: unknown; devices?: unknown; user_ids?: unknown; account_ids?: unknown } | null;
}

/** Push_Get's `notification_content`. */
export interface AppCenterNotificationContent {
  name?: string;
  title?: string;
  body?: string;
  custom_data?: Record<string, unknown> | null;
}

export type ExportStatus = 'InProgress' | 'Completed' | 'Failed';

/** The app (or the whole service, after retirement) answered 404 or 410: "project gone", recorded as evidence. */
export interface Gone {
  gone: true;
  /** The status App Center answered: 404 or 410. */
  status: number;
}

/** The date App Center's end of support took effect (docs/vendors/appcenter.md, "Retirement"), kept with a retired answer as evidence. */
export const APPCENTER_END_OF_SUPPORT = '2025-03-31';

/** App Center itself answers as retired: the app lookup and the app listing both 404/410. */
export interface AppCenterRetired {
  gone: true;
  status: number;
  /** What App Center answered, status and operation only. */
  vendorAnswer: string;
  endOfSupportAt: string;
}

/** A configured app seen before (src/ledger/scope-sightings.ts) that now answers 404/410 while App Center still answers: `scope_gone`. */
export interface AppCenterAppVanished {
  gone: true;
  status: number;
  vendorAnswer: string;
  lastSeenAt: string;
  endOfSupportAt?: undefined;
}

export const isGone = (value: unknown): value is Gone => typeof value === 'object' && value !== null && (value as Gone).gone;

/**
 * The App Center operations erasure uses, over got 14 with `X-API-Token`. Every POST/PUT carries a
 * JSON body (`{}` when there is nothing to send: the API answers 411 otherwise). A 404 or 410 is a
 * result (`Gone`, or `absent` for one object), never an error. Everything else that is not a
 * success becomes the error taxonomy: 429 → RateLimitedError (Retry-After when sent, else
 * `throttleDelayMs`), 5xx/timeouts/network → TransientVendorError, other 4xx → PermanentVendorError,
 * built from the operation, status and App Center's error code only.
 *
 * Calls are paced by `rateLimit` in this process too: a sweep job makes many calls, which the
 * queue's limiter (jobs per window) alone would not bound.
 */
export interface AppCenterClient {
  /** The settings processors need (matching, batching, block-logs switch). */
  readonly settings: AppCenterSettings;
  startDeviceExport(app: string, signal?: AbortSignal): Promise<{ exportId: string } | Gone>;
  deviceExportStatus(app: string, exportId: string, signal?: AbortSignal): Promise<ExportStatus | Gone>;
  /** Names of the blobs an export wrote into the export container (under `<export id>/`). */
  exportBlobNames(exportId: string, signal?: AbortSignal): Promise<string[]>;
  /** Streams one export blob's NDJSON rows (gzip too); returns the number of rows read. */
  readExportRows(blobName: string, onRow: (row: Record<string, unknown>) => void, signal?: AbortSignal): Promise<number>;
  /** Deletes one blob of the export container; false when it was already gone. */
  deleteExportBlob(blobName: string, signal?: AbortSignal): Promise<boolean>;
  deleteInstallId(app: string, installId: string, signal?: AbortSignal): Promise<'deleted' | 'absent'>;
  blockLogs(app: string, installId: string, signal?: AbortSignal): Promise<'blocked' | 'absent'>;
  /** Every audience, disabled ones too, following `nextLink`. */
  listAudiences(app: string, signal?: AbortSignal): Promise<AppCenterAudience[] | Gone>;
  deleteAudience(app: string, name: string, signal?: AbortSignal): Promise<'deleted' | 'absent'>;
  /**
   * Every notification, archived ones too, following `nextLink`. `consistent` is false when the
   * list changed while it was paged (its `total` moved), so an item may have been skipped.
   */
  listNotifications(app: string, signal?: AbortSignal): Promise<{ items: AppCenterNotificationOverview[]; consistent: boolean } | Gone>;
  getNotificationContent(app: string, notificationId: string, signal?: AbortSignal): Promise<AppCenterNotificationContent | 'absent'>;
  /** Push_Delete: `{"values": ids}` (unknown ids are ignored by App Center). */
  deleteNotifications(app: string, ids: string[], signal?: AbortSignal): Promise<'deleted' | Gone>;
  /**
   * Looks the app up before a 404 about it is trusted (README "Verification values"): Apps_Get, and when
   * that answers 404/410, Apps_List. App Center listing apps but not this one is a configuration
   * mistake (MisconfiguredVendorError naming `vendors.appcenter.owner` or `vendors.appcenter.apps[i]`);
   * both answering 404/410 is App Center retired, returned with its answer and the date. With
   * `sightings`, an app that answers is recorded as seen, and one seen before that now answers
   * 404/410 is returned with the answer and `lastSeenAt` (`scope_gone`), not a configuration mistake.
   */
  confirmApp(app: string, signal?: AbortSignal, sightings?: ScopeSightings): Promise<{ exists: true } | AppCenterRetired | AppCenterAppVanished>;
  close(): void;
}

const NOTIFICATION_PAGE = 2000;

/** `budget`: where App Center's call budget is kept (Redis in the service, so it holds across processes). */
export function createAppCenterClient(input: AppCenterSettings, calls?: VendorCallObserver, budget: CallBudget = createInMemoryCallBudget()): AppCenterClient {
  const ctx = createContext(withAppCenterDefaults(input), calls, budget);
  return { settings: ctx.settings, ...appMethods(ctx), ...exportMethods(ctx), ...deviceAudienceAndPushMethods(ctx), close: () => undefined };
}

/** What the client's calls share: settings, the http client, the paced App Center call and the export container's blob call. */
type AppCenterContext = ReturnType<typeof createContext>;

function createContext(settings: AppCenterSettings, calls: VendorCallObserver | undefined, budget: CallBudget) {
  const base = new URL(settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`);
  const http = withCallMetrics(got.extend({ throwHttpErrors: false, retry: { limit: 0 }, timeout: { request: settings.timeoutMs }, followRedirect: false }), 'appcenter', calls);

  const appPath = (app: string, path: string) => new URL(`v0.1/apps/${encodeURIComponent(settings.owner)}/${encodeURIComponent(app)}${path}`, base).toString();

  /** `nextLink` as App Center sends it (a path or an absolute URL), only ever on App Center's own host: the token goes with it. */
  function follow(nextLink: string, operation: string, seen: Set<string>): string {
    // A vendor answering the same nextLink twice would keep us paging for ever: stop and say so.
    if (seen.has(nextLink)) throw new PermanentVendorError({ vendor: 'appcenter', operation, code: 'PageLoop' }, 'returned the same nextLink twice (a page loop)');
    seen.add(nextLink);
    const url = new URL(nextLink, base.origin);
    if (url.origin !== base.origin) throw new PermanentVendorError({ vendor: 'appcenter', operation, code: 'ForeignNextLink' }, 'was answered with a nextLink to another host');
    return url.toString();
  }

  async function call(operation: string, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, options: { json?: unknown; ok: number[]; signal?: AbortSignal }): Promise<{ status: number; body: unknown }> {
    await budget.pace('appcenter', settings.rateLimit);
    let res: Response<string>;
    try {
      res = await http(url, {
        method,
        headers: { 'x-api-token': settings.apiToken, accept: 'application/json' },
        // App Center answers 411 to a POST or PUT without a body: send `{}` when there is nothing to say.
        ...(options.json !== undefined ? { json: options.json } : method === 'POST' || method === 'PUT' ? { json: {} } : {}),
        responseType: 'text',
        signal: options.signal,
        context: { operation },
      });
    } catch (err) {
      throw networkError(operation, err);
    }
    const status = res.statusCode;
    const body = parseJson(res.body);
    if (options.ok.includes(status) || status === 404 || status === 410) return { status, body };
    throw toVendorError(operation, status, errorCode(body), res.headers['retry-after'], settings.throttleDelayMs);
  }

  // ---- the export container (Azure Blob Storage through a container SAS; not App Center, so not paced) ----
  const sas = settings.exportContainerSasUri ? new URL(settings.exportContainerSasUri) : undefined;
  const requireSas = (operation: string): URL => {
    if (!sas) throw new PermanentVendorError({ vendor: 'appcenter', operation, code: 'NoExportContainer' }, 'needs exportContainerSasUri');
    return sas;
  };
  const blobUrl = (operation: string, name: string): string => {
    const container = requireSas(operation);
    const path = name.split('/').map(encodeURIComponent).join('/');
    return `${container.origin}${container.pathname.replace(/\/$/, '')}/${path}${container.search}`;
  };
  const xml = new XMLParser({ isArray: (name) => name === 'Blob' });

  async function blobCall(operation: string, method: 'GET' | 'DELETE', url: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
    let res: Response<string>;
    try {
      res = await http(url, { method, responseType: 'text', signal, context: { operation } });
    } catch (err) {
      throw networkError(operation, err);
    }
    if (res.statusCode < 300 || res.statusCode === 404) return { status: res.statusCode, body: res.body };
    throw blobError(operation, res.statusCode, res.headers['x-ms-error-code'], res.headers['retry-after'], settings.throttleDelayMs);
  }
  return { settings, base, http, appPath, follow, call, requireSas, blobUrl, blobCall, xml };
}

function appMethods(ctx: AppCenterContext): Pick<AppCenterClient, 'confirmApp' | 'startDeviceExport' | 'deviceExportStatus'> {
  const { settings, base, call, appPath, requireSas } = ctx;
  return {
    async confirmApp(app, signal, sightings) {
      const index = settings.apps.indexOf(app);
      const configKey = `vendors.appcenter.apps[${index < 0 ? '?' : index}]`;
      const found = await call('Apps_Get', 'GET', appPath(app, ''), { ok: [200], signal });
      if (found.status === 200) {
        await sightings?.seen({ vendor: 'appcenter', configKey, scopeId: `${settings.owner}/${app}` });
        return { exists: true };
      }
      const listed = await call('Apps_List', 'GET', new URL('v0.1/apps', base).toString(), { ok: [200], signal });
      if (listed.status === 404 || listed.status === 410) {
        return { gone: true, status: listed.status, vendorAnswer: `Apps_Get ${found.status}, Apps_List ${listed.status}: App Center answers as retired`, endOfSupportAt: APPCENTER_END_OF_SUPPORT };
      }
      const apps = Array.isArray(listed.body) ? (listed.body as Array<{ owner?: { name?: unknown } }>) : [];
      // An app this service saw answer before is gone by App Center's own answer about it, not mistyped.
      const seen = await sightings?.lastSeen('appcenter', `${settings.owner}/${app}`);
      if (seen) return { gone: true, status: found.status, vendorAnswer: `Apps_Get ${found.status}, Apps_List ${listed.status}: the app is no longer listed`, lastSeenAt: seen.lastSeenAt };
      const details = { vendor: 'appcenter' as const, operation: 'Apps_Get', status: found.status };
      const ownerSeen = apps.some((a) => typeof a.owner?.name === 'string' && a.owner.name.toLowerCase() === settings.owner.toLowerCase());
      if (!ownerSeen) return Promise.reject(scopeMissing(details, 'vendors.appcenter.owner', `"${settings.owner}" owns no app this token can see`));
      return Promise.reject(scopeMissing(details, configKey, `"${settings.owner}/${app}" does not exist`));
    },
    async startDeviceExport(app, signal) {
      const sasUri = requireSas('Push_ExportDevices');
      const { status, body } = await call('Push_ExportDevices', 'POST', appPath(app, '/push/device_exports'), { json: { blob_container_sas_uri: sasUri.toString() }, ok: [200, 201, 202], signal });
      if (status === 404 || status === 410) return { gone: true, status };
      const exportId = (body as { export_id?: unknown } | undefined)?.export_id;
      if (typeof exportId !== 'string' || !exportId) throw new TransientVendorError({ vendor: 'appcenter', operation: 'Push_ExportDevices', status }, 'answered without an export id');
      return { exportId };
    },
    async deviceExportStatus(app, exportId, signal) {
      const { status, body } = await call('Push_ExportDevicesStatus', 'GET', appPath(app, `/push/device_exports/${encodeURIComponent(exportId)}`), { ok: [200], signal });
      if (status === 404 || status === 410) return { gone: true, status };
      const state = (body as { status?: unknown } | undefined)?.status;
      if (state === 'InProgress' || state === 'Completed' || state === 'Failed') return state;
      throw new TransientVendorError({ vendor: 'appcenter', operation: 'Push_ExportDevicesStatus', status, code: 'UnknownExportStatus' }, 'answered an unknown status');
    },
  };
}

function exportMethods(ctx: AppCenterContext): Pick<AppCenterClient, 'exportBlobNames' | 'readExportRows' | 'deleteExportBlob'> {
  const { settings, http, requireSas, blobUrl, blobCall, xml } = ctx;
  return {
    async exportBlobNames(exportId, signal) {
      const container = requireSas('AzureBlob_ListBlobs');
      const names: string[] = [];
      let marker = '';
      do {
        const url = new URL(container.toString());
        url.searchParams.set('restype', 'container');
        url.searchParams.set('comp', 'list');
        url.searchParams.set('prefix', `${exportId}/`);
        if (marker) url.searchParams.set('marker', marker);
        const { status, body } = await blobCall('AzureBlob_ListBlobs', 'GET', url.toString(), signal);
        if (status === 404) return names;
        const parsed = xml.parse(body) as { EnumerationResults?: { Blobs?: { Blob?: Array<{ Name?: unknown }> } | ''; NextMarker?: unknown } };
        const blobs = parsed.EnumerationResults?.Blobs;
        for (const blob of blobs && typeof blobs === 'object' ? (blobs.Blob ?? []) : []) if (typeof blob.Name === 'string' || typeof blob.Name === 'number') names.push(String(blob.Name));
        const next = parsed.EnumerationResults?.NextMarker;
        marker = typeof next === 'string' || typeof next === 'number' ? String(next) : '';
      } while (marker);
      return names;
    },
    async readExportRows(blobName, onRow, signal) {
      const stream = http.stream(blobUrl('AzureBlob_GetBlob', blobName), { signal, context: { operation: 'AzureBlob_GetBlob' } });
      let response: Response;
      try {
        response = await new Promise<Response>((resolve, reject) => {
          stream.once('response', resolve);
          stream.once('error', reject);
        });
      } catch (err) {
        stream.destroy();
        throw networkError('AzureBlob_GetBlob', err);
      }
      if (response.statusCode !== 200) {
        stream.destroy();
        throw blobError('AzureBlob_GetBlob', response.statusCode, response.headers['x-ms-error-code'], response.headers['retry-after'], settings.throttleDelayMs);
      }
      const input: Readable = blobName.endsWith('.gz') ? stream.pipe(createGunzip()) : stream;
      let rows = 0;
      try {
        for await (const line of createInterface({ input, crlfDelay: Infinity })) {
          const text = line.trim();
          if (!text) continue;
          const row = parseJson(text);
          // A line that is not a JSON object is skipped, never echoed: it may hold anything.
          if (row && typeof row === 'object' && !Array.isArray(row)) {
            rows += 1;
            onRow(row as Record<string, unknown>);
          }
        }
      } catch (err) {
        stream.destroy();
        throw networkError('AzureBlob_GetBlob', err);
      }
      return rows;
    },
    async deleteExportBlob(blobName, signal) {
      const { status } = await blobCall('AzureBlob_DeleteBlob', 'DELETE', blobUrl('AzureBlob_DeleteBlob', blobName), signal);
      return status !== 404;
    },
  };
}

function deviceAudienceAndPushMethods(ctx: AppCenterContext): Pick<AppCenterClient, 'deleteInstallId' | 'blockLogs' | 'listAudiences' | 'deleteAudience' | 'listNotifications' | 'getNotificationContent' | 'deleteNotifications'> {
  const { call, appPath, follow } = ctx;
  return {
    async deleteInstallId(app, installId, signal) {
      const { status } = await call('Push_DeleteInstallId', 'DELETE', appPath(app, `/push/devices/${encodeURIComponent(installId)}`), { ok: [200, 204], signal });
      return status === 404 || status === 410 ? 'absent' : 'deleted';
    },
    async blockLogs(app, installId, signal) {
      const { status } = await call('Devices_BlockLogs', 'PUT', appPath(app, `/devices/block_logs/${encodeURIComponent(installId)}`), { ok: [200, 204], signal });
      return status === 404 || status === 410 ? 'absent' : 'blocked';
    },
    async listAudiences(app, signal) {
      const audiences: AppCenterAudience[] = [];
      let url: string | undefined = `${appPath(app, '/analytics/audiences')}?include_disabled=true`;
      const seen = new Set<string>();
      while (url) {
        const { status, body } = await call('Analytics_ListAudiences', 'GET', url, { ok: [200], signal });
        if (status === 404 || status === 410) return { gone: true, status };
        const page = (body ?? {}) as { values?: unknown; nextLink?: unknown };
        for (const a of Array.isArray(page.values) ? page.values : []) {
          if (a && typeof a === 'object' && typeof (a as AppCenterAudience).name === 'string') audiences.push(a as AppCenterAudience);
        }
        url = typeof page.nextLink === 'string' && page.nextLink ? follow(page.nextLink, 'Analytics_ListAudiences', seen) : undefined;
      }
      return audiences;
    },
    async deleteAudience(app, name, signal) {
      const { status } = await call('Analytics_DeleteAudience', 'DELETE', appPath(app, `/analytics/audiences/${encodeURIComponent(name)}`), { ok: [200, 204], signal });
      return status === 404 || status === 410 ? 'absent' : 'deleted';
    },
    async listNotifications(app, signal) {
      const items: AppCenterNotificationOverview[] = [];
      let consistent = true;
      let total: number | undefined;
      // Oldest first: send_time never changes and new notifications land on the last page, so pages do
      // not shift under us the way the default order (`count desc`, moving while a push is delivered) can.
      let url: string | undefined = `${appPath(app, '/push/notifications')}?$top=${NOTIFICATION_PAGE}&$orderby=send_time%20asc&$inlinecount=allpages&include_archived=true`;
      const seen = new Set<string>();
      while (url) {
        const { status, body } = await call('Push_List', 'GET', url, { ok: [200], signal });
        if (status === 404 || status === 410) return { gone: true, status };
        const page = (body ?? {}) as { values?: unknown; nextLink?: unknown; total?: unknown };
        for (const n of Array.isArray(page.values) ? page.values : []) {
          if (n && typeof n === 'object' && typeof (n as AppCenterNotificationOverview).notification_id === 'string') items.push(n as AppCenterNotificationOverview);
        }
        if (typeof page.total === 'number') {
          if (total !== undefined && page.total !== total) consistent = false;
          total = page.total;
        }
        url = typeof page.nextLink === 'string' && page.nextLink ? follow(page.nextLink, 'Push_List', seen) : undefined;
      }
      if (total !== undefined && new Set(items.map((n) => n.notification_id)).size !== total) consistent = false;
      return { items, consistent };
    },
    async getNotificationContent(app, notificationId, signal) {
      const { status, body } = await call('Push_Get', 'GET', appPath(app, `/push/notifications/${encodeURIComponent(notificationId)}`), { ok: [200], signal });
      if (status === 404 || status === 410) return 'absent';
      const content = (body as { notification_content?: unknown } | undefined)?.notification_content;
      return content && typeof content === 'object' ? (content) : {};
    },
    async deleteNotifications(app, ids, signal) {
      const { status } = await call('Push_Delete', 'DELETE', appPath(app, '/push/notifications'), { json: { values: ids }, ok: [200, 204], signal });
      return status === 404 || status === 410 ? { gone: true, status } : 'deleted';
    },
  };
}


function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** App Center's error code (`{"error":{"code":"TooManyRequests"}}`), checked by the one vendor-code pattern; never its message. */
function errorCode(body: unknown): string | undefined {
  return checkedVendorCode((body as { error?: { code?: unknown } } | undefined)?.error?.code);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** An App Center answer that is neither a success nor a 404/410, as the taxonomy. */
export function toVendorError(operation: string, status: number, code: string | undefined, retryAfter: string | string[] | undefined, throttleDelayMs: number): VendorError {
  return classifyHttpFailure({ vendor: 'appcenter', operation, status, code, retryAfterMs: parseRetryAfter(header(retryAfter)), defaultThrottleDelayMs: throttleDelayMs });
}

/** Azure Blob answers: 503 ServerBusy / OperationTimedOut is Azure's throttling, the rest as usual. */
function blobError(operation: string, status: number, code: string | string[] | undefined, retryAfter: string | string[] | undefined, throttleDelayMs: number): VendorError {
  const errorCode = header(code);
  const safeCode = checkedVendorCode(errorCode);
  if (safeCode === 'ServerBusy') return new RateLimitedError({ vendor: 'appcenter', operation, status, code: safeCode }, parseRetryAfter(header(retryAfter)) ?? throttleDelayMs);
  return toVendorError(operation, status, safeCode, retryAfter, throttleDelayMs);
}

/** Timeouts, resets, refused connections and aborts: the call may not have arrived; try again later. */
function networkError(operation: string, err: unknown): VendorError {
  if (err instanceof TransientVendorError || err instanceof PermanentVendorError || err instanceof RateLimitedError) return err;
  const code = err instanceof RequestError ? err.code : ((err as Error | undefined)?.name ?? 'Error');
  return new TransientVendorError({ vendor: 'appcenter', operation, code }, 'did not complete');
}
