import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisConnection } from '../infrastructure/queue-set.js';
import {
  abortReason,
  createTurnTaker,
  rateSpacing,
  sleep,
  type CallBudget,
  type CallRate,
  type ReleaseSlot,
} from './call-budget.js';

/**
 * One token bucket per scope in Redis, kept as a theoretical arrival time (GCRA), on Redis's clock
 * (so processes on machines with skewed clocks still share one budget). Takes a token when one is
 * there and returns 0, else returns the ms until one is due, reserving nothing: a caller that wakes
 * late takes its token late, and the next call is spaced from that (src/vendors/call-budget.ts).
 */
const PACE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowedAt = tat - (burst - 1) * interval
if allowedAt > now then return math.max(1, math.ceil(allowedAt - now)) end
local nextTat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', nextTat), 'PX', math.ceil(nextTat - now) + 1000)
return 0
`;

/**
 * A semaphore with leases: a sorted set of holders scored by when their lease ends. Expired leases
 * are dropped first, so slots of a killed process come back after `leaseMs`. Returns 0 when the
 * slot is taken, else the ms until the earliest lease ends (an upper bound on the wait).
 */
const HOLD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
  if redis.call('PTTL', KEYS[1]) < lease + 1000 then redis.call('PEXPIRE', KEYS[1], lease + 1000) end
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil(tonumber(first[2]) - now))
`;

/** How often a caller waiting for an in-flight slot asks again (slots are freed by release, not announced). */
const SLOT_POLL_MS = 25;

type BudgetRedis = Redis & {
  erasurePace(key: string, intervalMs: string, burst: number): Promise<number>;
  erasureHold(key: string, max: number, leaseMs: number, holder: string): Promise<number>;
};

/**
 * The call budgets of every vendor in Redis, shared by all processes on that Redis and queue
 * prefix (Invariant 12). Built once by the composition root (src/service.ts) and injected into
 * every vendor client. Keys hold scope names only (vendor and operation), never personal data.
 */
/** The Redis budget, with the two single round trips it is built on (tests read them directly). */
export interface RedisCallBudget extends CallBudget {
  /** One try at a token of `scope`: 0 when taken, else the ms until one is due (nothing reserved). */
  tryTake(scope: string, rate: CallRate): Promise<number>;
  /** One try at an in-flight slot: its release, or undefined when all `max` are held. */
  tryHold(scope: string, max: number, leaseMs: number): Promise<ReleaseSlot | undefined>;
}

export function createRedisCallBudget(options: { redisUrl: string; prefix: string }): RedisCallBudget {
  // Like a worker's connection: while Redis is away a call waits for it rather than skip its turn.
  const redis = new Redis(redisConnection(options.redisUrl, true)) as BudgetRedis;
  redis.on('error', () => undefined);
  redis.defineCommand('erasurePace', { numberOfKeys: 1, lua: PACE });
  redis.defineCommand('erasureHold', { numberOfKeys: 1, lua: HOLD });
  const key = (kind: string, scope: string) => `${options.prefix}:vendor-${kind}:${scope}`;

  async function tryTake(scope: string, rate: CallRate): Promise<number> {
    const { intervalMs, burst } = rateSpacing(rate);
    if (intervalMs === 0) return 0;
    return redis.erasurePace(key('budget', scope), intervalMs.toFixed(3), burst);
  }
  /** 0 and a release when the slot is held, else the ms until the earliest lease ends. */
  async function holdOnce(
    scope: string,
    max: number,
    leaseMs: number,
  ): Promise<{ waitMs: number; release?: ReleaseSlot }> {
    const slots = key('slots', scope);
    const holder = randomUUID();
    const waitMs = await redis.erasureHold(slots, max, Math.ceil(leaseMs), holder);
    if (waitMs > 0) return { waitMs };
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      // Not awaited: a lost release only keeps the slot until its lease ends.
      redis.zrem(slots, holder).catch(() => undefined);
    };
    return { waitMs: 0, release };
  }

  return {
    tryTake,
    async tryHold(scope, max, leaseMs) {
      return (await holdOnce(scope, max, leaseMs)).release;
    },
    // One round trip per call while the budget has tokens; a call that has to wait anyway asks again when its token is due.
    pace: createTurnTaker(tryTake),
    async hold(scope, max, leaseMs, signal): Promise<ReleaseSlot> {
      for (;;) {
        const { waitMs, release } = await abortable(holdOnce(scope, max, leaseMs), signal);
        if (release) return release;
        await sleep(Math.min(waitMs, SLOT_POLL_MS + Math.floor(Math.random() * SLOT_POLL_MS)), signal);
      }
    },
    close() {
      redis.disconnect();
      return Promise.resolve();
    },
  };
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      reject(abortReason(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error('failed', { cause: err }));
      },
    );
  });
}
