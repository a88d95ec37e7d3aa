import Joi from 'joi';
import type { VendorQueueSettings } from './vendor-settings.js';

/** Which identifier kinds are looked up in which device custom properties (App Center never maps people to install ids). */
export interface AppCenterCustomProperties {
  email?: string[];
  userId?: string[];
  phone?: string[];
}

/** A shared batch: how long it waits for more requests, and how many it takes at most. */
export interface AppCenterBatching {
  windowMs: number;
  maxMembers: number;
}

export interface AppCenterSettings extends VendorQueueSettings {
  /** @defaultValue 'https://api.appcenter.ms' (paths under `/v0.1`) */
  baseUrl: string;
  /** A user or app API token (`X-API-Token`); an app token must reach every app listed. */
  apiToken: string;
  /** The `owner_name` of every app. */
  owner: string;
  /** The `app_name`s whose devices, audiences and notifications hold people's data. */
  apps: string[];
  /**
   * Device custom properties that hold a person's identifiers, e.g. `{email: ['email'], userId: ['user_id']}`.
   * Matching by them needs a device export, so also `exportContainerSasUri`. @defaultValue {}
   */
  customProperties: AppCenterCustomProperties;
  /** Also call Devices_BlockLogs (irreversible) for every device erased. @defaultValue false */
  blockLogs: boolean;
  /**
   * Container SAS URL (read, write, delete, list) of the customer's Azure Blob container that
   * Push_ExportDevices writes into. A secret: never logged. Without it devices are erased by install id only.
   */
  exportContainerSasUri?: string;
  /** One device export serves every request of a window (Invariant 7). @defaultValue {windowMs: 300000, maxMembers: 5000} */
  deviceExport: AppCenterBatching & {
    /** How often to ask whether the export has finished. @defaultValue 30000 */
    pollMs: number;
  };
  /** One audience sweep and one notification sweep per app serve every request of a window. @defaultValue {windowMs: 60000, maxMembers: 1000} */
  sweep: AppCenterBatching;
  /** Calls in flight at once while a sweep reads notifications. @defaultValue 4 */
  readConcurrency: number;
  /** Per-call timeout in ms. @defaultValue 30000 */
  timeoutMs: number;
}

export const APPCENTER_DEFAULTS = {
  baseUrl: 'https://api.appcenter.ms',
  customProperties: {},
  blockLogs: false,
  deviceExport: { windowMs: 300_000, maxMembers: 5000, pollMs: 30_000 },
  sweep: { windowMs: 60_000, maxMembers: 1000 },
  readConcurrency: 4,
  timeoutMs: 30_000,
} as const satisfies Partial<AppCenterSettings>;

const propertyNames = Joi.array().items(Joi.string().min(1).max(128)).min(1);
const batching = (defaults: AppCenterBatching) => ({
  windowMs: Joi.number().integer().min(0).max(86_400_000).default(defaults.windowMs),
  maxMembers: Joi.number().integer().min(1).max(100_000).default(defaults.maxMembers),
});

export const appcenterSettingsKeys = {
  baseUrl: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default(APPCENTER_DEFAULTS.baseUrl),
  apiToken: Joi.string().min(1).required(),
  owner: Joi.string()
    .pattern(/^[A-Za-z0-9._-]+$/)
    .required(),
  apps: Joi.array()
    .items(Joi.string().pattern(/^[A-Za-z0-9._-]+$/))
    .min(1)
    .unique()
    .required(),
  customProperties: Joi.object({ email: propertyNames, userId: propertyNames, phone: propertyNames }).default(
    APPCENTER_DEFAULTS.customProperties,
  ),
  blockLogs: Joi.boolean().default(false),
  exportContainerSasUri: Joi.string().uri({ scheme: ['http', 'https'] }),
  deviceExport: Joi.object({
    ...batching(APPCENTER_DEFAULTS.deviceExport),
    pollMs: Joi.number().integer().min(10).max(3_600_000).default(APPCENTER_DEFAULTS.deviceExport.pollMs),
  }).default(),
  sweep: Joi.object(batching(APPCENTER_DEFAULTS.sweep)).default(),
  readConcurrency: Joi.number().integer().min(1).max(64).default(APPCENTER_DEFAULTS.readConcurrency),
  timeoutMs: Joi.number().integer().min(100).max(600_000).default(APPCENTER_DEFAULTS.timeoutMs),
};

/** Fills what the config file left out (Joi fills the top level; nested batching keys are filled here). */
export function withAppCenterDefaults(
  settings: Partial<AppCenterSettings> &
    Pick<AppCenterSettings, 'apiToken' | 'owner' | 'apps' | keyof VendorQueueSettings>,
): AppCenterSettings {
  return {
    ...settings,
    baseUrl: settings.baseUrl ?? APPCENTER_DEFAULTS.baseUrl,
    customProperties: settings.customProperties ?? {},
    blockLogs: settings.blockLogs ?? false,
    deviceExport: { ...APPCENTER_DEFAULTS.deviceExport, ...settings.deviceExport },
    sweep: { ...APPCENTER_DEFAULTS.sweep, ...settings.sweep },
    readConcurrency: settings.readConcurrency ?? APPCENTER_DEFAULTS.readConcurrency,
    timeoutMs: settings.timeoutMs ?? APPCENTER_DEFAULTS.timeoutMs,
  };
}

/** True when devices can be matched by custom property: properties configured for a kind, and a container to export into. */
export function canMatchByCustomProperty(
  settings: Pick<AppCenterSettings, 'customProperties' | 'exportContainerSasUri'>,
  kind: keyof AppCenterCustomProperties,
): boolean {
  return !!settings.exportContainerSasUri && (settings.customProperties[kind]?.length ?? 0) > 0;
}
