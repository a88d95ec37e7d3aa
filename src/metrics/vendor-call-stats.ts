import { Redis } from 'ioredis';
import type { VendorCall, VendorCallObserver } from '../vendors/vendor-call-observer.js';
import { redisConnection } from '../infrastructure/queue-set.js';
import { LATENCY_BUCKETS_SECONDS, bucketIndex, emptyHistogram, type HistogramData } from './latency-histogram.js';

/** Vendor call counters summed over every process, as read back from Redis. */
export interface VendorCallTotals {
  calls: Array<{ vendor: string; operation: string; outcome: string; count: number }>;
  /** Per vendor. */
  latency: Map<string, HistogramData>;
}

/**
 * Counts vendor calls in memory and adds them into one Redis hash now and then, so the API's
 * `/metrics` shows the totals of every API and worker process without a Redis round trip per
 * vendor call. The hash holds only vendor names, operation names, outcome classes and numbers.
 */
export interface VendorCallStats extends VendorCallObserver {
  /** Adds what this process counted since the last flush into Redis (kept for the next try if Redis is down). */
  flush(): Promise<void>;
  /** This process's counts flushed, then the totals of every process. */
  totals(): Promise<VendorCallTotals>;
  /** Last flush, then the connection closes. */
  close(): Promise<void>;
}

/** The hash, under the queue prefix so each deployment (and each test's fresh prefix) has its own. */
export function vendorCallsKey(prefix: string): string {
  return `${prefix}:metrics:vendor-calls`;
}

// Hash fields, `|`-separated (vendor and operation names cannot hold one: see operationLabel):
//   c|vendor|operation|outcome   calls
//   b|vendor|le                  latency bucket count (not cumulative; le from LATENCY_BUCKETS_SECONDS or +Inf)
//   s|vendor                     latency sum in microseconds (integers add exactly with HINCRBY)
//   n|vendor                     latency count
const bucketLabel = (i: number) => (i < LATENCY_BUCKETS_SECONDS.length ? String(LATENCY_BUCKETS_SECONDS[i]) : '+Inf');

export function createVendorCallStats(options: {
  redisUrl: string;
  prefix: string;
  flushEveryMs?: number;
}): VendorCallStats {
  // Commands wait while the connection (re)connects, but fail after one reconnect attempt so a flush
  // while Redis is down returns soon; its counts then wait in memory for the next flush.
  const redis = new Redis({
    ...redisConnection(options.redisUrl, false),
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
  });
  redis.on('error', () => undefined);
  const key = vendorCallsKey(options.prefix);
  const flushEveryMs = options.flushEveryMs ?? 1000;
  let pending = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;

  const add = (into: Map<string, number>, field: string, by: number) => into.set(field, (into.get(field) ?? 0) + by);

  async function flush(): Promise<void> {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (pending.size === 0) return;
    const batch = pending;
    pending = new Map();
    try {
      const pipeline = redis.pipeline();
      for (const [field, by] of batch) pipeline.hincrby(key, field, by);
      const results = (await pipeline.exec()) ?? [];
      // A field whose HINCRBY failed goes back into the next flush, so nothing is counted twice or lost.
      results.forEach(([err], i) => {
        if (err) {
          const [field, by] = [...batch][i];
          add(pending, field, by);
        }
      });
    } catch {
      for (const [field, by] of batch) add(pending, field, by);
    }
    if (pending.size > 0) schedule();
  }

  function schedule() {
    if (timer) return;
    timer = setTimeout(() => void flush(), flushEveryMs);
    timer.unref();
  }

  return {
    observe(call: VendorCall) {
      add(pending, `c|${call.vendor}|${call.operation}|${call.outcome}`, 1);
      add(pending, `b|${call.vendor}|${bucketLabel(bucketIndex(call.seconds))}`, 1);
      add(pending, `s|${call.vendor}`, Math.round(call.seconds * 1e6));
      add(pending, `n|${call.vendor}`, 1);
      schedule();
    },
    flush,
    async totals() {
      await flush();
      return parseTotals(await redis.hgetall(key));
    },
    async close() {
      await flush();
      if (timer) clearTimeout(timer);
      redis.disconnect();
    },
  };
}

/** The Redis hash back into counters; fields it does not know (another version's) are ignored. */
export function parseTotals(hash: Record<string, string>): VendorCallTotals {
  const calls: VendorCallTotals['calls'] = [];
  const latency = new Map<string, HistogramData>();
  const histogram = (vendor: string): HistogramData => {
    const known = latency.get(vendor);
    if (known) return known;
    const fresh = emptyHistogram();
    latency.set(vendor, fresh);
    return fresh;
  };
  for (const [field, raw] of Object.entries(hash)) {
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    const parts = field.split('|');
    const [kind, vendor] = parts;
    if (!vendor) continue;
    if (kind === 'c' && parts.length === 4)
      calls.push({ vendor, operation: parts[2], outcome: parts[3], count: value });
    else if (kind === 'b' && parts.length === 3) {
      const i =
        parts[2] === '+Inf'
          ? LATENCY_BUCKETS_SECONDS.length
          : LATENCY_BUCKETS_SECONDS.findIndex((le) => String(le) === parts[2]);
      if (i >= 0) histogram(vendor).buckets[i] += value;
    } else if (kind === 's' && parts.length === 2) histogram(vendor).sumSeconds += value / 1e6;
    else if (kind === 'n' && parts.length === 2) histogram(vendor).count += value;
  }
  calls.sort(
    (a, b) =>
      a.vendor.localeCompare(b.vendor) || a.operation.localeCompare(b.operation) || a.outcome.localeCompare(b.outcome),
  );
  return { calls, latency };
}
