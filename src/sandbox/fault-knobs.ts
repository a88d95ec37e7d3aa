import type { VendorName } from '../vendors/vendor-name.js';

/** Faults a simulator injects before it answers, settable at start (config) and at runtime. */
export interface VendorFaults {
  /** Share of calls answered with the vendor's 500 answer, 0..1. @defaultValue 0 */
  errorRate: number;
  /** Added to every answer, in milliseconds. @defaultValue 0 */
  latencyMs: number;
  /** Share of calls answered with the vendor's "bad request" (a permanent refusal), 0..1. @defaultValue 0 */
  badRequestRate: number;
  /** Until this epoch millisecond every call is throttled (a 429 storm). @defaultValue 0 */
  throttleUntil: number;
  /** Every call answers 503 (the vendor is down). @defaultValue false */
  outage: boolean;
  /** Every call answers the vendor's 401/403 for rejected credentials (a key revoked mid-run). @defaultValue false */
  credentialsRevoked: boolean;
}

export const NO_FAULTS: Readonly<VendorFaults> = Object.freeze({
  errorRate: 0,
  badRequestRate: 0,
  latencyMs: 0,
  throttleUntil: 0,
  outage: false,
  credentialsRevoked: false,
});

/** Fault settings as accepted from config or `PUT /sandbox/faults/:vendor`. */
export interface FaultPatch {
  errorRate?: number;
  badRequestRate?: number;
  latencyMs?: number;
  /** Starts a storm of this many milliseconds from now; 0 ends one. */
  throttleForMs?: number;
  outage?: boolean;
  credentialsRevoked?: boolean;
}

export class FaultKnobs {
  private readonly faults = new Map<VendorName, VendorFaults>();

  get(vendor: VendorName): VendorFaults {
    return this.faults.get(vendor) ?? NO_FAULTS;
  }

  set(vendor: VendorName, patch: FaultPatch): VendorFaults {
    const next = { ...this.get(vendor) };
    if (patch.errorRate !== undefined) next.errorRate = patch.errorRate;
    if (patch.badRequestRate !== undefined) next.badRequestRate = patch.badRequestRate;
    if (patch.latencyMs !== undefined) next.latencyMs = patch.latencyMs;
    if (patch.outage !== undefined) next.outage = patch.outage;
    if (patch.credentialsRevoked !== undefined) next.credentialsRevoked = patch.credentialsRevoked;
    if (patch.throttleForMs !== undefined)
      next.throttleUntil = patch.throttleForMs > 0 ? Date.now() + patch.throttleForMs : 0;
    this.faults.set(vendor, next);
    return next;
  }

  clear(vendor?: VendorName): void {
    if (vendor) this.faults.delete(vendor);
    else this.faults.clear();
  }
}
