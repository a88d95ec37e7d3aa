import type { Config } from '../config/config-schema.js';
import type { TaskSpec } from '../ledger/ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { CONNECTORS, connectorFor } from '../connectors/registry.js';
import { UnplannableVendorError, type PlanInput as ConnectorPlanInput } from '../connectors/connector.js';

export { UnplannableVendorError };

/** A request as the planner sees it: who, and which vendors. */
export type PlanInput = ConnectorPlanInput & { vendors: VendorName[] };

/** Vendors a request may name: those with a connector and settings (configured, or simulated). */
export function availableVendors(config: Config): VendorName[] {
  return CONNECTORS.filter((c) => config.vendors[c.vendor]).map((c) => c.vendor);
}

/**
 * Decides the tasks (vendor × resource × action) for a request, asking each vendor's connector.
 * Throws UnplannableVendorError when the client explicitly asked for a vendor that cannot act on
 * the identifiers given; a vendor included by default is recorded as skipped instead.
 */
export function planTasks(input: PlanInput, config: Config): TaskSpec[] {
  return input.vendors.flatMap((vendor) => {
    const connector = connectorFor(vendor);
    const settings = config.vendors[vendor];
    if (!connector || !settings) throw new UnplannableVendorError(vendor, 'is not configured');
    return connector.plan(input, settings);
  });
}
