/**
 * A vendor's call budgets, shared by everything that calls that vendor (Invariant 12): every
 * client paces through one of these, received by injection. The service builds the Redis one
 * (src/vendors/redis-call-budget.ts), so N processes together stay within one budget per vendor
 * and operation; tests, tools and single-process fakes can use `createInMemoryCallBudget`.
 */
export interface CallRate {
  /** Calls per `durationMs`. */
  max: number;
  durationMs: number;
  /** Calls that may start back to back before the rate applies. @defaultValue max */
  burst?: number;
}

/** Gives back an in-flight slot; calling it twice is harmless. */
export type ReleaseSlot = () => void;

export interface CallBudget {
  /**
   * Waits for the call's turn in `scope` (a vendor, or vendor and operation; never an identifier
   * of a person): a token bucket of `rate.burst` tokens refilled at `rate.max` per
   * `rate.durationMs`. Turns are reserved in order, so waiting callers never stampede.
   */
  pace(scope: string, rate: CallRate, signal?: AbortSignal): Promise<void>;
  /**
   * Holds one of `max` in-flight slots of `scope` until released. A slot not released within
   * `leaseMs` (its holder died) is free again, so a killed process leaks nothing for long.
   */
  hold(scope: string, max: number, leaseMs: number, signal?: AbortSignal): Promise<ReleaseSlot>;
  close(): Promise<void>;
}

/** Milliseconds between turns, and how many turns may be taken ahead of that spacing. */
export function rateSpacing(rate: CallRate): { intervalMs: number; burst: number } {
  if (!Number.isFinite(rate.max) || rate.max <= 0) return { intervalMs: 0, burst: 1 };
  return { intervalMs: rate.durationMs / rate.max, burst: Math.max(1, Math.floor(rate.burst ?? rate.max)) };
}

/**
 * The same budget in this process's memory: right for one process (tests, the CLI's doctor), and
 * what a client uses when none is injected. The arithmetic is the Redis script's (GCRA: a
 * theoretical arrival time per scope), so both behave alike.
 */
export function createInMemoryCallBudget(now: () => number = Date.now): CallBudget {
  const arrival = new Map<string, number>();
  const slots = new Map<string, { held: number; waiting: Array<() => void> }>();
  return {
    async pace(scope, rate, signal) {
      const { intervalMs, burst } = rateSpacing(rate);
      if (intervalMs === 0) return;
      const at = now();
      const tat = Math.max(arrival.get(scope) ?? 0, at);
      const start = Math.max(at, tat - (burst - 1) * intervalMs);
      arrival.set(scope, tat + intervalMs);
      await sleep(start - at, signal);
    },
    async hold(scope, max, _leaseMs, signal) {
      let entry = slots.get(scope);
      if (!entry) slots.set(scope, (entry = { held: 0, waiting: [] }));
      const slot = entry;
      if (slot.held < max) slot.held += 1;
      else {
        // The slot is handed over by release, so `held` stays counted.
        await new Promise<void>((resolve, reject) => {
          const take = () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          };
          const onAbort = () => {
            slot.waiting.splice(slot.waiting.indexOf(take), 1);
            reject(signal?.reason ?? new Error('aborted'));
          };
          if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
          signal?.addEventListener('abort', onAbort, { once: true });
          slot.waiting.push(take);
        });
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const next = slot.waiting.shift();
        if (next) next();
        else slot.held -= 1;
      };
    },
    async close() {},
  };
}

/** Resolves after `ms` (at once when ms ≤ 0); rejects when the signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    if (ms <= 0) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
