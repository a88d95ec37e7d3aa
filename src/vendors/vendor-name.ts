/**
 * A vendor's name: the built-in vendors' names as a type. A vendor added with `registerVendor`
 * (src/service.ts) is known at run time only: `isVendorName` and `VENDOR_NAMES` read the registry
 * (src/connectors/registry.ts), so an input naming it is accepted wherever they are asked.
 */
export type { BuiltInVendorName as VendorName } from '../connectors/registry.js';

export { VENDOR_NAMES, isRegisteredVendor as isVendorName } from '../connectors/registry.js';
