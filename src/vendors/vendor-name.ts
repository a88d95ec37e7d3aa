/** Every vendor the service can erase from. One BullMQ queue each (Invariant 5). */
export const VENDOR_NAMES = ['pinpoint', 's3', 'appcenter', 'segment', 'amplitude'] as const;

export type VendorName = (typeof VENDOR_NAMES)[number];

export function isVendorName(value: string): value is VendorName {
  return (VENDOR_NAMES as readonly string[]).includes(value);
}
