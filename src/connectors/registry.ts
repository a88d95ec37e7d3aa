import type { VendorName } from '../vendors/vendor-name.js';
import type { VendorConnector } from './connector.js';
import { pinpointConnector } from './pinpoint-connector.js';
import { segmentConnector } from './segment-connector.js';
import { appcenterConnector } from './appcenter-connector.js';
import { amplitudeConnector } from './amplitude-connector.js';
import { s3Connector } from './s3-connector.js';

/** Every vendor with an erasure path. A new vendor adds its connector here. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const CONNECTORS: ReadonlyArray<VendorConnector<any, any>> = [pinpointConnector, s3Connector, segmentConnector, appcenterConnector, amplitudeConnector];

export function connectorFor(vendor: VendorName): VendorConnector | undefined {
  return CONNECTORS.find((c) => c.vendor === vendor);
}
