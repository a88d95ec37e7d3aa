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
   * `rate.durationMs`. Callers of one process take turns in call order.
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
 * Takes turns of a scope through `tryTake` (0: taken now, else ms until a token is due; nothing is
 * reserved). In this process callers queue per scope and only the head asks, so waiting callers
 * never stampede; a head that wakes late simply takes its token late, so the next one is still
 * spaced from when this one really started (a reserved schedule would let a late call and an
 * on-time one bunch up).
 */
export function createTurnTaker(
  tryTake: (scope: string, rate: CallRate) => Promise<number> | number,
): CallBudget['pace'] {
  const queues = new Map<string, Promise<void>>();
  return async (scope, rate, signal) => {
    const previous = queues.get(scope) ?? Promise.resolve();
    const mine = previous.then(async () => {
      for (;;) {
        if (signal?.aborted) throw signal.reason ?? new Error('aborted');
        const waitMs = await tryTake(scope, rate);
        if (waitMs <= 0) return;
        await sleep(waitMs, signal);
      }
    });
    const tail = mine.catch(() => undefined);
    queues.set(scope, tail);
    void tail.then(() => {
      if (queues.get(scope) === tail) queues.delete(scope);
    });
    await mine;
  };
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
    pace: createTurnTaker((scope, rate) => {
      const { intervalMs, burst } = rateSpacing(rate);
      if (intervalMs === 0) return 0;
      const at = now();
      const tat = Math.max(arrival.get(scope) ?? 0, at);
      const allowedAt = tat - (burst - 1) * intervalMs;
      if (allowedAt > at) return Math.max(1, Math.ceil(allowedAt - at));
      arrival.set(scope, tat + intervalMs);
      return 0;
    }),
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
            reject(abortReason(signal));
          };
          if (signal?.aborted) {
            reject(abortReason(signal));
            return;
          }
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

/**
 * Why a signal aborted, as an Error: its reason when that is one (AbortController's default reason
 * is a DOMException), else an Error carrying the reason as its cause.
 */
export function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}

/** Resolves after `ms` (at once when ms ≤ 0); rejects when the signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    if (ms <= 0) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
