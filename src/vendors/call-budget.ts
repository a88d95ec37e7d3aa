/**
 * A token bucket for a vendor's per-window call budget: at most `max` calls per `durationMs` in
 * this process, with bursts up to `max`, in call order. For vendors whose limit is a budget over a
 * window (App Center, Segment); Amplitude's per-second spacing is `CallPacer`.
 */
export class CallBudget {
  private tokens: number;
  private last = Date.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly max: number,
    private readonly durationMs: number,
  ) {
    this.tokens = max;
  }

  take(): Promise<void> {
    const turn = this.queue.then(() => this.wait());
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async wait(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.tokens = Math.min(this.max, this.tokens + ((now - this.last) * this.max) / this.durationMs);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(((1 - this.tokens) * this.durationMs) / this.max)));
    }
  }
}
