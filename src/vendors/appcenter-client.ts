import { withAppCenterDefaults, type AppCenterSettings } from './appcenter-settings.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import type { ScopeSightings } from '../ledger/scope-sightings.js';
import { TransientVendorError, scopeMissing } from './vendor-errors.js';
import { createContext, type AppCenterContext } from './appcenter-http.js';
import { exportMethods } from './appcenter-export-blobs.js';
import { notificationMethods } from './appcenter-notifications.js';

export { toVendorError } from './appcenter-http.js';

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
  notification_target?: {
    type?: string;
    audiences?: unknown;
    devices?: unknown;
    user_ids?: unknown;
    account_ids?: unknown;
  } | null;
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

export const isGone = (value: unknown): value is Gone =>
  typeof value === 'object' && value !== null && (value as Gone).gone;

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
  readExportRows(
    blobName: string,
    onRow: (row: Record<string, unknown>) => void,
    signal?: AbortSignal,
  ): Promise<number>;
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
  listNotifications(
    app: string,
    signal?: AbortSignal,
  ): Promise<{ items: AppCenterNotificationOverview[]; consistent: boolean } | Gone>;
  getNotificationContent(
    app: string,
    notificationId: string,
    signal?: AbortSignal,
  ): Promise<AppCenterNotificationContent | 'absent'>;
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
  confirmApp(
    app: string,
    signal?: AbortSignal,
    sightings?: ScopeSightings,
  ): Promise<{ exists: true } | AppCenterRetired | AppCenterAppVanished>;
  close(): void;
}

/** `budget`: where App Center's call budget is kept (Redis in the service, so it holds across processes). */
export function createAppCenterClient(
  input: AppCenterSettings,
  calls?: VendorCallObserver,
  budget: CallBudget = createInMemoryCallBudget(),
): AppCenterClient {
  const ctx = createContext(withAppCenterDefaults(input), calls, budget);
  return {
    settings: ctx.settings,
    ...appMethods(ctx),
    ...exportMethods(ctx),
    ...deviceAndAudienceMethods(ctx),
    ...notificationMethods(ctx),
    close: () => undefined,
  };
}

function appMethods(
  ctx: AppCenterContext,
): Pick<AppCenterClient, 'confirmApp' | 'startDeviceExport' | 'deviceExportStatus'> {
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
        return {
          gone: true,
          status: listed.status,
          vendorAnswer: `Apps_Get ${found.status}, Apps_List ${listed.status}: App Center answers as retired`,
          endOfSupportAt: APPCENTER_END_OF_SUPPORT,
        };
      }
      const apps = Array.isArray(listed.body) ? (listed.body as Array<{ owner?: { name?: unknown } }>) : [];
      // An app this service saw answer before is gone by App Center's own answer about it, not mistyped.
      const seen = await sightings?.lastSeen('appcenter', `${settings.owner}/${app}`);
      if (seen)
        return {
          gone: true,
          status: found.status,
          vendorAnswer: `Apps_Get ${found.status}, Apps_List ${listed.status}: the app is no longer listed`,
          lastSeenAt: seen.lastSeenAt,
        };
      const details = { vendor: 'appcenter' as const, operation: 'Apps_Get', status: found.status };
      const ownerSeen = apps.some(
        (a) => typeof a.owner?.name === 'string' && a.owner.name.toLowerCase() === settings.owner.toLowerCase(),
      );
      if (!ownerSeen)
        return Promise.reject(
          scopeMissing(details, 'vendors.appcenter.owner', `"${settings.owner}" owns no app this token can see`),
        );
      return Promise.reject(scopeMissing(details, configKey, `"${settings.owner}/${app}" does not exist`));
    },
    async startDeviceExport(app, signal) {
      const sasUri = requireSas('Push_ExportDevices');
      const { status, body } = await call('Push_ExportDevices', 'POST', appPath(app, '/push/device_exports'), {
        json: { blob_container_sas_uri: sasUri.toString() },
        ok: [200, 201, 202],
        signal,
      });
      if (status === 404 || status === 410) return { gone: true, status };
      const exportId = (body as { export_id?: unknown } | undefined)?.export_id;
      if (typeof exportId !== 'string' || !exportId)
        throw new TransientVendorError(
          { vendor: 'appcenter', operation: 'Push_ExportDevices', status },
          'answered without an export id',
        );
      return { exportId };
    },
    async deviceExportStatus(app, exportId, signal) {
      const { status, body } = await call(
        'Push_ExportDevicesStatus',
        'GET',
        appPath(app, `/push/device_exports/${encodeURIComponent(exportId)}`),
        { ok: [200], signal },
      );
      if (status === 404 || status === 410) return { gone: true, status };
      const state = (body as { status?: unknown } | undefined)?.status;
      if (state === 'InProgress' || state === 'Completed' || state === 'Failed') return state;
      throw new TransientVendorError(
        { vendor: 'appcenter', operation: 'Push_ExportDevicesStatus', status, code: 'UnknownExportStatus' },
        'answered an unknown status',
      );
    },
  };
}

function deviceAndAudienceMethods(
  ctx: AppCenterContext,
): Pick<AppCenterClient, 'deleteInstallId' | 'blockLogs' | 'listAudiences' | 'deleteAudience'> {
  const { call, appPath, follow } = ctx;
  return {
    async deleteInstallId(app, installId, signal) {
      const { status } = await call(
        'Push_DeleteInstallId',
        'DELETE',
        appPath(app, `/push/devices/${encodeURIComponent(installId)}`),
        { ok: [200, 204], signal },
      );
      return status === 404 || status === 410 ? 'absent' : 'deleted';
    },
    async blockLogs(app, installId, signal) {
      const { status } = await call(
        'Devices_BlockLogs',
        'PUT',
        appPath(app, `/devices/block_logs/${encodeURIComponent(installId)}`),
        { ok: [200, 204], signal },
      );
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
          if (a && typeof a === 'object' && typeof (a as AppCenterAudience).name === 'string')
            audiences.push(a as AppCenterAudience);
        }
        url =
          typeof page.nextLink === 'string' && page.nextLink
            ? follow(page.nextLink, 'Analytics_ListAudiences', seen)
            : undefined;
      }
      return audiences;
    },
    async deleteAudience(app, name, signal) {
      const { status } = await call(
        'Analytics_DeleteAudience',
        'DELETE',
        appPath(app, `/analytics/audiences/${encodeURIComponent(name)}`),
        { ok: [200, 204], signal },
      );
      return status === 404 || status === 410 ? 'absent' : 'deleted';
    },
  };
}
