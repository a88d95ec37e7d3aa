import type { VendorName } from '../vendors/vendor-name.js';
import type { VendorConnector } from './connector.js';
import { pinpointConnector } from './pinpoint-connector.js';

/** Every vendor with an erasure path. A new vendor adds its connector here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const CONNECTORS: ReadonlyArray<VendorConnector<any, any>> = [pinpointConnector];

export function connectorFor(vendor: VendorName): VendorConnector | undefined {
  return CONNECTORS.find((c) => c.vendor === vendor);
}
