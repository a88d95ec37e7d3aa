import type { VendorQueueSettings } from '../vendors/vendor-settings.js';
import type { SimulatedVendors } from './simulated-vendors.js';
import { pinpointSandboxPlugin } from './pinpoint/pinpoint-sandbox-plugin.js';
import { s3SandboxPlugin } from './s3/s3-sandbox-plugin.js';
import { segmentSandboxPlugin } from './segment/segment-sandbox-plugin.js';
import { appcenterSandboxPlugin } from './appcenter/appcenter-sandbox-plugin.js';
import { amplitudeSandboxPlugin } from './amplitude/amplitude-sandbox-plugin.js';

/**
 * How a vendor is wired to its simulator in sandbox mode. Lives under src/sandbox/<vendor>/, beside
 * the simulator, so production code (connectors, vendors, jobs, workers) never imports a simulator.
 */
export interface VendorSandboxPlugin<S extends VendorQueueSettings = VendorQueueSettings> {
  readonly vendor: string;
  /** The vendor's settings pointing at the running simulator; `queueDefaults` are its connector's. */
  sandboxSettings(sandbox: SimulatedVendors, queueDefaults: VendorQueueSettings): S;
}

const plugins = new Map<string, VendorSandboxPlugin>(
  [pinpointSandboxPlugin, s3SandboxPlugin, segmentSandboxPlugin, appcenterSandboxPlugin, amplitudeSandboxPlugin].map(
    (p) => [p.vendor, p],
  ),
);

/** Adds a vendor's sandbox wiring (through `registerVendor`, src/service.ts). */
export function registerSandboxPlugin<S extends VendorQueueSettings>(plugin: VendorSandboxPlugin<S>): () => void {
  if (plugins.has(plugin.vendor)) throw new Error(`vendor ${plugin.vendor} already has sandbox wiring`);
  plugins.set(plugin.vendor, plugin);
  return () => plugins.delete(plugin.vendor);
}

/** The vendor's sandbox wiring; undefined for a vendor without a simulator (sandbox mode then leaves it out). */
export function sandboxPluginFor(vendor: string): VendorSandboxPlugin | undefined {
  return plugins.get(vendor);
}
