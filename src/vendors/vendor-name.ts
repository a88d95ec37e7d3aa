/**
 * A vendor's name: a built-in vendor's, or one added with `registerVendor` (src/service.ts), which
 * declares it in `RegisteredVendors` (src/connectors/registry.ts). `isVendorName` and
 * `VENDOR_NAMES` read the registry at run time.
 */
export type { VendorName } from '../connectors/registry.js';

export { VENDOR_NAMES, isRegisteredVendor as isVendorName } from '../connectors/registry.js';
