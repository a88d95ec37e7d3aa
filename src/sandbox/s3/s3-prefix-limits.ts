/** S3 budgets PUT/COPY/POST/DELETE and GET/HEAD separately (vendor-contracts §2.5). */
export type S3RequestKind = 'write' | 'read';

/** Maps a request to the partition whose budget it spends: bucket plus the key's first path segment by default. */
export type PartitionOf = (bucket: string, keyOrPrefix: string) => string;

export const defaultPartitionOf: PartitionOf = (bucket, keyOrPrefix) => {
  const slash = keyOrPrefix.indexOf('/');
  return `${bucket}/${slash < 0 ? '' : keyOrPrefix.slice(0, slash + 1)}`;
};

/**
 * A token bucket that may run into debt: a DeleteObjects of 1,000 keys goes through when any
 * token is left and then costs all 1,000, so large batches are never starved when the budget is
 * set below the batch size, yet still slow the prefix down afterwards. Real time, not the sandbox clock.
 */
class DebtTokenBucket {
  private tokens: number;
  private updatedAt = Date.now();

  constructor(private readonly ratePerSecond: number) {
    this.tokens = ratePerSecond;
  }

  /** 0 when taken, else milliseconds until a token is available. */
  take(cost: number): number {
    const now = Date.now();
    this.tokens = Math.min(this.ratePerSecond, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
    if (this.tokens < 1) return Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
    this.tokens -= cost;
    return 0;
  }
}

/** Per-partition token buckets for reads and writes: S3's per-prefix request rates answering 503 SlowDown. */
export class PrefixRateLimits {
  private readonly buckets = new Map<string, DebtTokenBucket>();

  constructor(
    private readonly rates: Record<S3RequestKind, number>,
    readonly partitionOf: PartitionOf = defaultPartitionOf,
  ) {}

  /**
   * Spends `cost` requests in each partition named; all partitions must have budget or none is
   * spent. Returns 0 when the request may proceed, else the milliseconds until it might.
   */
  take(kind: S3RequestKind, costs: ReadonlyMap<string, number>): number {
    let wait = 0;
    for (const partition of costs.keys()) wait = Math.max(wait, this.bucket(kind, partition).take(0));
    if (wait > 0) return wait;
    for (const [partition, cost] of costs) this.bucket(kind, partition).take(cost);
    return 0;
  }

  private bucket(kind: S3RequestKind, partition: string): DebtTokenBucket {
    const name = `${kind}\u0000${partition}`;
    let bucket = this.buckets.get(name);
    if (!bucket) {
      bucket = new DebtTokenBucket(this.rates[kind]);
      this.buckets.set(name, bucket);
    }
    return bucket;
  }
}
