/**
 * Time for the simulators' asynchronous state machines (export jobs, regulations, deletion
 * batches). It runs at `speed` times real time from its creation, plus whatever tests add with
 * `advance`, so a test can jump days ahead and a demo can make a ten-day job finish in a minute.
 * Rate limits do not use it: throttling is always in real time.
 */
export class SandboxClock {
  private readonly startedAt = Date.now();
  private offsetMs = 0;

  /** @param speed how many sandbox milliseconds pass per real millisecond. @defaultValue 1 */
  constructor(private readonly speed = 1) {}

  now(): number {
    return this.startedAt + (Date.now() - this.startedAt) * this.speed + this.offsetMs;
  }

  /** Moves sandbox time forward; state machines see it on their next read. */
  advance(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError('advance takes a non-negative number of milliseconds');
    this.offsetMs += ms;
  }

  describe(): { now: string; speed: number; offsetMs: number } {
    return { now: new Date(this.now()).toISOString(), speed: this.speed, offsetMs: this.offsetMs };
  }
}
