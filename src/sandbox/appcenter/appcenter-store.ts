import { seededId } from '../seed.js';
import { SasBlobContainers, type ContainerSas } from './sas-blob-containers.js';

/** A device App Center knows for push: its install id and the custom properties the app set on it. */
export interface AppCenterDevice {
  install_id: string;
  platform: 'android' | 'ios';
  push_channel: string;
  app_version: string;
  custom_properties: Record<string, string | number | boolean>;
}

export type NotificationTargetType =
  'audiences_target' | 'devices_target' | 'user_ids_target' | 'account_ids_target' | 'broadcast_target';

export interface NotificationTarget {
  type: NotificationTargetType;
  audiences?: string[];
  devices?: string[];
  user_ids?: string[];
  account_ids?: string[];
}

export interface NotificationContent {
  name: string;
  title?: string;
  body: string;
  custom_data?: Record<string, string>;
}

export type NotificationState = 'Queued' | 'Sending' | 'Completed' | 'Failed' | 'NoTargetFound';

/** A push notification as the store keeps it: NotificationOverview fields plus content and bookkeeping. */
export interface AppCenterNotification {
  notification_id: string;
  name: string;
  notification_target: NotificationTarget;
  send_time: string;
  pns_send_success: number;
  pns_send_failure: number;
  /** The state once delivery has settled; until `queuedUntil` (sandbox ms) the notification reads as Queued. */
  settledState: Exclude<NotificationState, 'Queued'>;
  queuedUntil: number;
  notification_content: NotificationContent;
  failure_outcomes: Array<{ pns_type: string; reason: string; count: number }>;
  archived: boolean;
}

export interface AppCenterAudience {
  name: string;
  description?: string;
  definition: string;
  enabled: boolean;
  custom_properties: Record<string, 'string' | 'number' | 'boolean' | 'date_time'>;
  estimated_count: number;
  /** Sandbox ms until which a new or changed audience reads as Calculating. */
  calculatingUntil: number;
}

export type ExportStatus = 'InProgress' | 'Completed' | 'Failed';

/** A device export job: its devices are taken when it starts, written when it completes on the sandbox clock. */
export interface DeviceExport {
  export_id: string;
  sas: ContainerSas;
  blobName: string;
  completesAt: number;
  outcome: Exclude<ExportStatus, 'InProgress'>;
  ndjson: string;
  written: boolean;
}

/**
 * How the export lays a device out in its NDJSON row (unconfirmed at App Center): custom properties
 * at the top level (`flat`) or under `custom_properties` (`nested`), `installId` in camelCase
 * (`camel`, the SDKs' spelling), or `drifted`: a format the client must refuse, with the install id
 * under `device.id` and the properties under `properties` (none of the fields the scanner matches on).
 */
export type ExportRowLayout = 'flat' | 'nested' | 'camel' | 'drifted';

/** Where a completed export's blob lands: under `<export id>/` (what the client reads) or at the container's root (drifted). */
export type ExportBlobPlacement = 'export-folder' | 'container-root';

/** Who an `X-API-Token` speaks for: a user (every app they reach) or one app. */
export type ApiTokenScope = { kind: 'user' } | { kind: 'app'; owner: string; app: string };

export interface AppCenterApp {
  owner: string;
  name: string;
  devices: Map<string, AppCenterDevice>;
  notifications: Map<string, AppCenterNotification>;
  /** Keyed by lower-cased name. */
  audiences: Map<string, AppCenterAudience>;
  exports: Map<string, DeviceExport>;
  /** Install ids whose SDK logs are refused from now on (Devices_BlockLogs is irreversible). */
  blockedInstallIds: Set<string>;
}

/** An App Center answer other than success; the simulator writes it as `{"error":{"code","message"}}`. */
export class AppCenterFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AppCenterFault';
  }
}

export const notFound = (message = 'Not found') => new AppCenterFault(404, 'NotFound', message);
export const badRequest = (message: string) => new AppCenterFault(400, 'BadRequest', message);

/** A UUID-shaped id from a deterministic hash, the way App Center ids look. */
export function uuidFrom(hex: string): string {
  const h = hex.padEnd(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** App Center declares install ids as `format: uuid`; anything else is a 400. */
export function assertInstallId(installId: string): void {
  if (!UUID.test(installId)) throw badRequest(`install_id '${installId}' is not a valid UUID`);
}

/** The simulator's state: apps, their devices, notifications, audiences and export jobs, with App Center's rules. */
export class AppCenterStore {
  readonly apps = new Map<string, AppCenterApp>();
  readonly tokens = new Map<string, ApiTokenScope>();
  readonly blobs = new SasBlobContainers();
  private exportCount = 0;
  private notificationCount = 0;
  private pendingExportFailures = 0;

  createApp(owner: string, name: string): AppCenterApp {
    const app: AppCenterApp = {
      owner,
      name,
      devices: new Map(),
      notifications: new Map(),
      audiences: new Map(),
      exports: new Map(),
      blockedInstallIds: new Set(),
    };
    this.apps.set(appKey(owner, name), app);
    return app;
  }

  /** App Center's owner and app names are matched without regard to case. */
  app(owner: string, name: string): AppCenterApp {
    const app = this.apps.get(appKey(owner, name));
    if (!app) throw notFound(`App '${owner}/${name}' not found`);
    return app;
  }

  addToken(token: string, scope: ApiTokenScope): void {
    this.tokens.set(token, scope);
  }

  /** True when the token may act on the app; an app token reaches only its own app. */
  tokenReaches(token: string, owner: string, name: string): boolean {
    const scope = this.tokens.get(token);
    if (!scope) return false;
    return scope.kind === 'user' || appKey(scope.owner, scope.app) === appKey(owner, name);
  }

  putDevice(app: AppCenterApp, device: AppCenterDevice): void {
    app.devices.set(device.install_id.toLowerCase(), device);
  }

  /** Push_DeleteInstallId; false when App Center had no such device. */
  deleteInstallId(app: AppCenterApp, installId: string): boolean {
    assertInstallId(installId);
    return app.devices.delete(installId.toLowerCase());
  }

  blockLogs(app: AppCenterApp, installId: string): void {
    assertInstallId(installId);
    app.blockedInstallIds.add(installId.toLowerCase());
  }

  /** The next `count` exports end Failed (an injected fault; App Center has no API for it). */
  injectExportFailures(count: number): void {
    this.pendingExportFailures += count;
  }

  /**
   * Push_ExportDevices: takes the devices now and writes them when the job completes. The job
   * fails, as it would at App Center, when the SAS grants no write (`sp` without `w`) or has
   * expired, and when a failure was injected.
   */
  startExport(
    app: AppCenterApp,
    sas: ContainerSas,
    now: number,
    durationMs: number,
    layout: ExportRowLayout,
    placement: ExportBlobPlacement = 'export-folder',
  ): DeviceExport {
    this.exportCount += 1;
    const exportId = uuidFrom(seededId('appcenter-export', app.owner, app.name, this.exportCount));
    let outcome: DeviceExport['outcome'] = 'Completed';
    if (this.pendingExportFailures > 0) {
      this.pendingExportFailures -= 1;
      outcome = 'Failed';
    }
    if (sas.permissions !== undefined && !sas.permissions.includes('w')) outcome = 'Failed';
    if (sas.expiresAt !== undefined && sas.expiresAt <= now + durationMs) outcome = 'Failed';
    const rows = [...app.devices.values()].map((d) => JSON.stringify(exportRow(d, layout)));
    const job: DeviceExport = {
      export_id: exportId,
      sas,
      blobName: placement === 'container-root' ? `${exportId}.ndjson` : `${exportId}/devices.ndjson`,
      completesAt: now + durationMs,
      outcome,
      ndjson: rows.length ? `${rows.join('\n')}\n` : '',
      written: false,
    };
    app.exports.set(exportId, job);
    return job;
  }

  /** The export's status at sandbox time `now`; a job that has just completed writes its blob here. */
  exportStatus(app: AppCenterApp, exportId: string, now: number): DeviceExport & { status: ExportStatus } {
    const job = app.exports.get(exportId.toLowerCase());
    if (!job) throw notFound(`Export '${exportId}' not found`);
    this.settleExport(job, now);
    return { ...job, status: now < job.completesAt ? 'InProgress' : job.outcome };
  }

  /** Writes every completed export's blob; the blob routes call it before they read. */
  settleExports(now: number): void {
    for (const app of this.apps.values()) for (const job of app.exports.values()) this.settleExport(job, now);
  }

  private settleExport(job: DeviceExport, now: number): void {
    if (job.written || now < job.completesAt || job.outcome !== 'Completed') return;
    job.written = true;
    this.blobs.putBlob(
      job.sas,
      job.blobName,
      Buffer.from(job.ndjson, 'utf8'),
      'application/x-ndjson',
      new Date(job.completesAt),
    );
  }

  notifications(app: AppCenterApp, includeArchived: boolean): AppCenterNotification[] {
    return [...app.notifications.values()].filter((n) => includeArchived || !n.archived);
  }

  notification(app: AppCenterApp, notificationId: string): AppCenterNotification {
    const found = app.notifications.get(notificationId.toLowerCase());
    if (!found) throw notFound(`Notification '${notificationId}' not found`);
    return found;
  }

  /** Push_Delete: removes the listed notifications; ids App Center does not know are ignored. */
  deleteNotifications(app: AppCenterApp, ids: string[]): number {
    let deleted = 0;
    for (const id of ids) if (app.notifications.delete(id.toLowerCase())) deleted += 1;
    return deleted;
  }

  addNotification(app: AppCenterApp, notification: AppCenterNotification): void {
    app.notifications.set(notification.notification_id.toLowerCase(), notification);
  }

  /** Push_Send: queued now, delivered a minute later on the sandbox clock. */
  sendNotification(
    app: AppCenterApp,
    content: NotificationContent,
    target: NotificationTarget,
    now: number,
  ): AppCenterNotification {
    validateContent(content);
    validateTarget(target);
    this.notificationCount += 1;
    const reached = this.devicesReached(app, target);
    const notification: AppCenterNotification = {
      notification_id: uuidFrom(seededId('appcenter-sent-notification', app.owner, app.name, this.notificationCount)),
      name: content.name,
      notification_target: target,
      send_time: new Date(now).toISOString(),
      pns_send_success: reached,
      pns_send_failure: 0,
      settledState: reached > 0 ? 'Completed' : 'NoTargetFound',
      queuedUntil: now + 60_000,
      notification_content: content,
      failure_outcomes: [],
      archived: false,
    };
    this.addNotification(app, notification);
    return notification;
  }

  private devicesReached(app: AppCenterApp, target: NotificationTarget): number {
    const devices = [...app.devices.values()];
    switch (target.type) {
      case 'devices_target':
        return (target.devices ?? []).filter((id) => app.devices.has(id.toLowerCase())).length;
      case 'user_ids_target':
        return devices.filter((d) => (target.user_ids ?? []).includes(String(d.custom_properties.user_id))).length;
      default:
        return devices.length;
    }
  }

  audiences(app: AppCenterApp, includeDisabled: boolean): AppCenterAudience[] {
    return [...app.audiences.values()].filter((a) => includeDisabled || a.enabled);
  }

  audience(app: AppCenterApp, name: string): AppCenterAudience {
    const found = app.audiences.get(name.toLowerCase());
    if (!found) throw notFound(`Audience '${name}' not found`);
    return found;
  }

  /** Analytics_CreateOrUpdateAudience: a new or changed definition is recalculated for five sandbox minutes. */
  putAudience(
    app: AppCenterApp,
    name: string,
    input: {
      definition: string;
      description?: string;
      enabled?: boolean;
      custom_properties?: AppCenterAudience['custom_properties'];
    },
    now: number,
  ): AppCenterAudience {
    if (!name || name.length > 64) throw badRequest('Audience name must be 1 to 64 characters');
    const existing = app.audiences.get(name.toLowerCase());
    const changed = !existing || existing.definition !== input.definition;
    const audience: AppCenterAudience = {
      name: existing?.name ?? name,
      definition: input.definition,
      enabled: input.enabled ?? existing?.enabled ?? true,
      custom_properties: input.custom_properties ?? existing?.custom_properties ?? {},
      estimated_count: this.estimateAudience(app, input.definition),
      calculatingUntil: changed ? now + 5 * 60_000 : (existing?.calculatingUntil ?? now),
      ...((input.description ?? existing?.description) !== undefined
        ? { description: input.description ?? existing?.description }
        : {}),
    };
    app.audiences.set(name.toLowerCase(), audience);
    return audience;
  }

  deleteAudience(app: AppCenterApp, name: string): void {
    if (!app.audiences.delete(name.toLowerCase())) throw notFound(`Audience '${name}' not found`);
  }

  /** A rough size: devices holding any quoted literal of the definition as a custom property value, else all. */
  estimateAudience(app: AppCenterApp, definition: string): number {
    const literals = [...definition.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    const devices = [...app.devices.values()];
    if (literals.length === 0) return devices.length;
    return devices.filter((d) => Object.values(d.custom_properties).some((v) => literals.includes(String(v)))).length;
  }
}

function appKey(owner: string, name: string): string {
  return `${owner.toLowerCase()}/${name.toLowerCase()}`;
}

function exportRow(device: AppCenterDevice, layout: ExportRowLayout): Record<string, unknown> {
  const base = {
    install_id: device.install_id,
    platform: device.platform,
    push_channel: device.push_channel,
    app_version: device.app_version,
  };
  if (layout === 'drifted')
    return {
      device: { id: device.install_id, platform: device.platform },
      push_channel: device.push_channel,
      properties: { ...device.custom_properties },
    };
  if (layout === 'camel') {
    const { install_id: installId, ...rest } = base;
    return { ...device.custom_properties, installId, ...rest };
  }
  return layout === 'nested'
    ? { ...base, custom_properties: { ...device.custom_properties } }
    : { ...device.custom_properties, ...base };
}

/** NotificationContent limits from the OpenAPI document: name 3–64, title ≤ 128, body 1–4000. */
function validateContent(content: NotificationContent): void {
  if (typeof content?.name !== 'string' || content.name.length < 3 || content.name.length > 64)
    throw badRequest('notification_content.name must be 3 to 64 characters');
  if (content.title !== undefined && (typeof content.title !== 'string' || content.title.length > 128))
    throw badRequest('notification_content.title must be at most 128 characters');
  if (typeof content.body !== 'string' || content.body.length < 1 || content.body.length > 4000)
    throw badRequest('notification_content.body must be 1 to 4000 characters');
  if (
    content.custom_data !== undefined &&
    (typeof content.custom_data !== 'object' || content.custom_data === null || Array.isArray(content.custom_data))
  ) {
    throw badRequest('notification_content.custom_data must be an object of strings');
  }
}

const TARGET_LISTS: Partial<Record<NotificationTargetType, keyof NotificationTarget>> = {
  audiences_target: 'audiences',
  devices_target: 'devices',
  user_ids_target: 'user_ids',
  account_ids_target: 'account_ids',
};

function validateTarget(target: NotificationTarget): void {
  if (target.type === 'broadcast_target') return;
  const list = TARGET_LISTS[target.type];
  if (!list)
    throw badRequest(
      `notification_target.type '${target.type}' is not one of audiences_target, devices_target, user_ids_target, account_ids_target, broadcast_target`,
    );
  const values = target[list];
  if (!Array.isArray(values) || values.length === 0 || values.some((v) => typeof v !== 'string'))
    throw badRequest(`notification_target.${list} must be a non-empty list of strings`);
  if (target.type === 'devices_target') for (const id of values) assertInstallId(id);
}
