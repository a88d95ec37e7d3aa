/**
 * Slows down token guessing: after `maxFailures` failed authentications from one address within
 * `windowMs`, that address gets 429 until its window ends. In memory, per process: behind a load
 * balancer each API process limits on its own, which still bounds guessing.
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  /** @param maxFailures failures allowed per window. @defaultValue 20 @param windowMs @defaultValue 60000 */
  constructor(
    private readonly maxFailures = 20,
    private readonly windowMs = 60_000,
  ) {}

  /** Milliseconds the address must wait, or 0 when it may try. */
  blockedFor(address: string, now = Date.now()): number {
    const entry = this.failures.get(address);
    if (!entry || entry.resetAt <= now) return 0;
    return entry.count >= this.maxFailures ? entry.resetAt - now : 0;
  }

  recordFailure(address: string, now = Date.now()): void {
    const entry = this.failures.get(address);
    if (!entry || entry.resetAt <= now) this.failures.set(address, { count: 1, resetAt: now + this.windowMs });
    else entry.count += 1;
    if (this.failures.size > 10_000) this.prune(now);
  }

  private prune(now: number): void {
    for (const [address, entry] of this.failures) if (entry.resetAt <= now) this.failures.delete(address);
  }
}
