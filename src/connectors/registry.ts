import Joi from 'joi';
import { queueSettingsKeys, type VendorQueueSettings } from '../vendors/vendor-settings.js';
import type { VendorConnector } from './connector.js';
import { pinpointConnector } from './pinpoint-connector.js';
import { segmentConnector } from './segment-connector.js';
import { appcenterConnector } from './appcenter-connector.js';
import { amplitudeConnector } from './amplitude-connector.js';
import { s3Connector } from './s3-connector.js';

/** The vendors this repository ships, by name, in the order they are planned. */
const BUILT_IN = {
  pinpoint: pinpointConnector,
  s3: s3Connector,
  segment: segmentConnector,
  appcenter: appcenterConnector,
  amplitude: amplitudeConnector,
} as const;

/** The built-in vendors' names. */
export type BuiltInVendorName = keyof typeof BUILT_IN;

/**
 * Vendors added with `registerVendor` (src/service.ts) declare their name and settings type here,
 * by declaration merging, so that their name is a VendorName and their settings are typed in
 * `Config['vendors']`:
 * `declare module '<path>/src/connectors/registry.js' { interface RegisteredVendors { toy: ToySettings } }`
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- filled by declaration merging in the modules that register vendors
export interface RegisteredVendors {}

/** Every vendor's name: the built-ins and the registered (src/vendors/vendor-name.ts re-exports it). */
export type VendorName = BuiltInVendorName | Extract<keyof RegisteredVendors, string>;

/** A connector's settings type. */
type SettingsOf<C> = C extends VendorConnector<infer S, infer _Client> ? S : never;

/** `vendors.<name>` of the config file: the settings of each built-in connector, derived from the connectors. */
export type VendorSettingsMap = { [V in BuiltInVendorName]?: SettingsOf<(typeof BUILT_IN)[V]> } & {
  [V in keyof RegisteredVendors]?: RegisteredVendors[V];
};

const BUILT_IN_CONNECTORS = Object.values(BUILT_IN);
const registered: VendorConnector[] = [...BUILT_IN_CONNECTORS];
const names: VendorName[] = registered.map((c) => c.vendor);

/**
 * Every vendor with an erasure path: the built-ins, then any registered with `registerConnector`
 * (through `registerVendor`, src/service.ts) before the config is loaded. Live: a registration
 * shows here at once.
 */
export const CONNECTORS: readonly VendorConnector[] = registered;

/** Every registered vendor's name (live, like CONNECTORS). */
export const VENDOR_NAMES: readonly VendorName[] = names;

/**
 * Adds a vendor. Its name must be new. The vendor's settings are read from `vendors.<vendor>` of
 * the config with the connector's `settingsKeys`, its queue is added to the service's queues and
 * its jobs to the workers'. Register before loading the config and starting the service.
 * Returns the function that takes it out again (a test that registers a vendor of its own).
 */
export function registerConnector<S extends VendorQueueSettings, C>(connector: VendorConnector<S, C>): () => void {
  if (registered.some((c) => c.vendor === connector.vendor))
    throw new Error(`vendor ${connector.vendor} is already registered`);
  registered.push(connector);
  names.push(connector.vendor);
  return () => {
    const at = registered.indexOf(connector);
    if (at >= 0) registered.splice(at, 1);
    const nameAt = names.indexOf(connector.vendor);
    if (nameAt >= 0) names.splice(nameAt, 1);
  };
}

export function connectorFor(vendor: VendorName): VendorConnector | undefined {
  return CONNECTORS.find((c) => c.vendor === vendor);
}

export function isRegisteredVendor(value: string): value is VendorName {
  return registered.some((c) => c.vendor === value);
}

/** Queue defaults of a registered vendor (Invariant 5). */
export function queueDefaultsOf(vendor: VendorName): VendorQueueSettings {
  const connector = connectorFor(vendor);
  if (!connector) throw new Error(`vendor ${vendor} is not registered`);
  return connector.queueDefaults;
}

/** The built-in vendors' queue defaults, by name. */
export const VENDOR_QUEUE_DEFAULTS: Record<BuiltInVendorName, VendorQueueSettings> = {
  pinpoint: BUILT_IN.pinpoint.queueDefaults,
  s3: BUILT_IN.s3.queueDefaults,
  segment: BUILT_IN.segment.queueDefaults,
  appcenter: BUILT_IN.appcenter.queueDefaults,
  amplitude: BUILT_IN.amplitude.queueDefaults,
};

/** The `vendors` section of the config file: one object per registered vendor, checked with its connector's keys. */
export function vendorSettingsSchema(): Joi.ObjectSchema {
  return Joi.object(
    Object.fromEntries(CONNECTORS.map((c) => [c.vendor, Joi.object({ ...queueSettingsKeys, ...c.settingsKeys })])),
  );
}

/** Fills each configured vendor's queue defaults into its settings. */
export function withQueueDefaults(vendors: Readonly<Record<string, object | undefined>>): VendorSettingsMap {
  const out: Record<string, unknown> = {};
  for (const [vendor, settings] of Object.entries(vendors)) {
    if (settings) out[vendor] = { ...connectorFor(vendor as VendorName)?.queueDefaults, ...settings };
  }
  return out;
}
