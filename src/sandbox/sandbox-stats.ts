import type { VendorName } from '../vendors/vendor-name.js';

/** What one vendor operation has served: calls, 429s and 5xx/4xx errors. */
export interface OperationStats {
  calls: number;
  throttled: number;
  errors: number;
}

/** Per-vendor, per-operation call counts, read by `GET /sandbox/stats`, tests and the benchmark. */
export class SandboxStats {
  private readonly counts = new Map<string, OperationStats>();

  /** @param throttled the answer was the vendor's throttling answer (429, or S3's 503 SlowDown). */
  record(vendor: VendorName, operation: string, status: number, throttled = status === 429): void {
    const key = `${vendor}\u0000${operation}`;
    let entry = this.counts.get(key);
    if (!entry) {
      entry = { calls: 0, throttled: 0, errors: 0 };
      this.counts.set(key, entry);
    }
    entry.calls += 1;
    if (throttled) entry.throttled += 1;
    else if (status >= 400) entry.errors += 1;
  }

  /** Calls of one operation (0 when never called). */
  calls(vendor: VendorName, operation: string): number {
    return this.counts.get(`${vendor}\u0000${operation}`)?.calls ?? 0;
  }

  snapshot(): Record<string, { total: OperationStats; operations: Record<string, OperationStats> }> {
    const out: Record<string, { total: OperationStats; operations: Record<string, OperationStats> }> = {};
    for (const [key, stats] of this.counts) {
      const [vendor, operation] = key.split('\u0000') as [string, string];
      const entry = (out[vendor] ??= { total: { calls: 0, throttled: 0, errors: 0 }, operations: {} });
      entry.operations[operation] = { ...stats };
      entry.total.calls += stats.calls;
      entry.total.throttled += stats.throttled;
      entry.total.errors += stats.errors;
    }
    return out;
  }

  reset(): void {
    this.counts.clear();
  }
}
