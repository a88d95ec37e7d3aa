/**
 * A token bucket in real time: `ratePerSecond` tokens refill continuously up to `burst`.
 * The simulators use one per vendor operation to answer 429 the way the vendor would.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt = Date.now();

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number = ratePerSecond,
  ) {
    this.tokens = burst;
  }

  /** Takes one token; returns 0 when taken, else the milliseconds until one is available. */
  take(): number {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.ratePerSecond) * 1000);
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.ratePerSecond);
    this.updatedAt = now;
  }
}

/** Token buckets keyed by operation, with a default rate for operations not listed. */
export class OperationLimits {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly ratesPerSecond: Record<string, number>,
    private readonly defaultRatePerSecond: number,
  ) {}

  /** 0 when the call may proceed, else milliseconds until the operation has a token again. */
  take(operation: string): number {
    let bucket = this.buckets.get(operation);
    if (!bucket) {
      bucket = new TokenBucket(this.ratesPerSecond[operation] ?? this.defaultRatePerSecond);
      this.buckets.set(operation, bucket);
    }
    return bucket.take();
  }
}
