/** One request counted against a fixed window, in the terms Segment reports it (§4.5). */
export interface RateLimitAnswer {
  allowed: boolean;
  /** Points spent in the current window, this request included (it counts even when refused). */
  consumed: number;
  remaining: number;
  /** Epoch milliseconds when the window resets (`X-RateLimit-Reset`). */
  resetAt: number;
  msBeforeNext: number;
}

/**
 * Fixed windows per key, in real time like every sandbox rate limit. Segment's 429 body
 * (`remainingPoints`, `msBeforeNext`, `consumedPoints`) is the vocabulary of a fixed-window
 * limiter that starts its window on the first request, so that is what this models.
 */
export class FixedWindowLimiter {
  private readonly windows = new Map<string, { startedAt: number; consumed: number }>();

  constructor(
    readonly points: number,
    readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    if (!(points >= 1)) throw new RangeError('a rate limit needs at least one point per window');
  }

  consume(key: string): RateLimitAnswer {
    const now = this.now();
    let window = this.windows.get(key);
    if (!window || now >= window.startedAt + this.windowMs) {
      window = { startedAt: now, consumed: 0 };
      this.windows.set(key, window);
    }
    window.consumed += 1;
    const resetAt = window.startedAt + this.windowMs;
    return {
      allowed: window.consumed <= this.points,
      consumed: window.consumed,
      remaining: Math.max(0, this.points - window.consumed),
      resetAt,
      msBeforeNext: Math.max(0, resetAt - now),
    };
  }
}
