import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { VENDOR_NAMES, isVendorName, type VendorName } from '../vendors/vendor-name.js';
import { redisConnection, type QueueSet } from './queue-set.js';

/**
 * Why a vendor's breaker opened: a configuration mistake, a failed or drifted canary (the vendor's
 * contract no longer matches what the jobs read: src/preflight/), or a storm of 5xx/timeouts.
 */
export type BreakerFault = 'credentials' | 'scope_missing' | 'canary' | 'transient';

/**
 * One vendor's circuit breaker (README "Circuit breaker per vendor"):
 * - `closed`: the queue runs;
 * - `open`: the vendor's queue is paused; its tasks wait (`waiting_vendor`) with `reason`, no attempt spent;
 * - `half_open`: after a transient storm, the queue runs again on probation: the next success
 *   closes the breaker, the next 5xx/timeout opens it again.
 * Credential, scope and canary faults stay open until an operator resumes the queue (`erasure queues resume V`).
 */
export interface BreakerState {
  vendor: VendorName;
  state: 'closed' | 'open' | 'half_open';
  fault?: BreakerFault;
  /** Free of identifiers: built from the vendor, operation, status, error code and config key. */
  reason?: string;
  configKey?: string;
  openedAt?: string;
  /** When a transient breaker lets a probe through (half-open). */
  probeAt?: string;
}

export interface BreakerSettings {
  /** Consecutive 5xx/timeouts (across every process) that open a vendor's breaker. */
  consecutiveFailures: number;
  /** How long a breaker opened by 5xx/timeouts stays open before it lets a probe through. */
  probeAfterMs: number;
  /** Operator webhook: receives a JSON POST whenever a breaker opens. */
  webhookUrl?: string;
}

export const BREAKER_DEFAULTS: BreakerSettings = { consecutiveFailures: 10, probeAfterMs: 60_000 };

/** How often one process writes a vendor's successes to Redis (resetting its failure count, closing a half-open breaker). */
const SUCCESS_WRITE_EVERY_MS = 1000;

/** A vendor's failure counter expires this long after its last failure: "consecutive" means within a storm. */
const FAILURE_WINDOW_S = 600;

export interface VendorBreaker {
  /** Opens the vendor's breaker (idempotent: the first reason stays), pauses its queue and alerts. */
  trip(vendor: VendorName, fault: BreakerFault, reason: string, configKey?: string): Promise<void>;
  /** Counts one 5xx/timeout; true when this one opened the breaker (or it was already open). */
  recordTransient(vendor: VendorName, reason: string): Promise<boolean>;
  /** A vendor call chain ended well: resets the count, and closes a half-open breaker. */
  recordSuccess(vendor: VendorName): Promise<void>;
  state(vendor: VendorName): Promise<BreakerState>;
  states(): Promise<BreakerState[]>;
  /** The operator's resume: closes the breaker and resumes the queue. Nothing waiting is lost. */
  reset(vendor: VendorName): Promise<void>;
  /** Lets a probe through each transient breaker whose time has come (half-open, queue resumed). */
  probeDue(now?: number): Promise<VendorName[]>;
  close(): Promise<void>;
}

/** What the breaker's steps share: its settings, Redis keys, queues and connection. */
interface BreakerContext {
  settings: BreakerSettings;
  key: (vendor: VendorName) => string;
  failuresKey: (vendor: VendorName) => string;
  queueOf: (vendor: VendorName) => ReturnType<QueueSet['queue']> | undefined;
  client: () => Promise<Redis>;
  logger: Logger;
}

async function readBreaker(ctx: BreakerContext, vendor: VendorName): Promise<BreakerState> {
  const fields = await (await ctx.client()).hgetall(ctx.key(vendor));
  if (!fields.state) return { vendor, state: 'closed' };
  return {
    vendor,
    state: fields.state as BreakerState['state'],
    fault: fields.fault as BreakerFault,
    reason: fields.reason,
    configKey: fields.configKey || undefined,
    openedAt: fields.openedAt,
    probeAt: fields.probeAt || undefined,
  };
}

async function alertBreakerOpen(ctx: BreakerContext, state: BreakerState): Promise<void> {
  const { settings } = ctx;
  if (!settings.webhookUrl) return;
  try {
    const res = await fetch(settings.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'vendor_breaker_open', ...state }),
      signal: AbortSignal.timeout(5000),
    });
    if (!res.ok) ctx.logger.warn('breaker webhook answered an error', { vendor: state.vendor, status: res.status });
  } catch (err) {
    ctx.logger.warn('breaker webhook unreachable', { vendor: state.vendor, errorName: (err as Error).name });
  }
}

async function tripBreaker(
  ctx: BreakerContext,
  vendor: VendorName,
  fault: BreakerFault,
  reason: string,
  configKey?: string,
): Promise<void> {
  const { key, failuresKey } = ctx;
  const now = Date.now();
  const redis = await ctx.client();
  const current = await readBreaker(ctx, vendor);
  // A config fault outranks a transient one; otherwise the first reason stays.
  if (current.state === 'open' && (current.fault !== 'transient' || fault === 'transient')) return;
  const openedAt = new Date(now).toISOString();
  const state: BreakerState = {
    vendor,
    state: 'open',
    fault,
    reason,
    ...(configKey ? { configKey } : {}),
    openedAt,
    ...(fault === 'transient' ? { probeAt: new Date(now + ctx.settings.probeAfterMs).toISOString() } : {}),
  };
  await redis
    .multi()
    .del(key(vendor))
    .hset(key(vendor), {
      state: 'open',
      fault,
      reason,
      configKey: configKey ?? '',
      openedAt,
      probeAt: state.probeAt ?? '',
    })
    .del(failuresKey(vendor))
    .exec();
  await ctx.queueOf(vendor)?.pause();
  ctx.logger.error('vendor breaker opened: queue paused', { vendor, fault, reason, configKey });
  await alertBreakerOpen(ctx, state);
}

/**
 * The breaker's state lives in Redis, under the queue prefix, so every worker and API process
 * shares it (several workers meet the same revoked key; the API shows it). Pausing uses BullMQ's
 * queue pause, which also holds for every worker process.
 */
export function createVendorBreaker(deps: {
  redisUrl: string;
  queues: QueueSet;
  settings?: Partial<BreakerSettings>;
  logger: Logger;
}): VendorBreaker {
  const settings = { ...BREAKER_DEFAULTS, ...deps.settings };
  const key = (vendor: VendorName) => `${deps.queues.prefix}:breaker:${vendor}`;
  const failuresKey = (vendor: VendorName) => `${deps.queues.prefix}:breaker:${vendor}:failures`;
  const queueOf = (vendor: VendorName) =>
    deps.queues.definitions.some((d) => d.name === vendor) ? deps.queues.queue(vendor) : undefined;
  // Commands wait for the first connection (a worker may trip a breaker right after boot), but fail fast after one retry.
  const connection = new Redis({ ...redisConnection(deps.redisUrl, false), enableOfflineQueue: true });
  connection.on('error', () => undefined);
  const client = () => Promise.resolve(connection);
  const ctx: BreakerContext = { settings, key, failuresKey, queueOf, client, logger: deps.logger };
  const read = (vendor: VendorName) => readBreaker(ctx, vendor);

  const lastSuccessWrite = new Map<VendorName, number>();
  const breaker: VendorBreaker = {
    trip: (vendor, fault, reason, configKey) => tripBreaker(ctx, vendor, fault, reason, configKey),
    async recordTransient(vendor, reason) {
      lastSuccessWrite.delete(vendor);
      const redis = await client();
      const answers = await redis
        .multi()
        .incr(failuresKey(vendor))
        .expire(failuresKey(vendor), FAILURE_WINDOW_S)
        .hget(key(vendor), 'state')
        .exec();
      const failures = Number(answers?.[0]?.[1] ?? 0);
      const state = answers?.[2]?.[1] as string | null | undefined;
      if (state === 'open') return true;
      if (state === 'half_open' || failures >= settings.consecutiveFailures) {
        await breaker.trip(vendor, 'transient', `${failures} consecutive failures; last: ${reason}`);
        return true;
      }
      return false;
    },
    async recordSuccess(vendor) {
      // At most one Redis round trip per vendor and second per process: a success per task would
      // otherwise cost every task a call, and "consecutive" needs no finer grain than that.
      const now = Date.now();
      if (now - (lastSuccessWrite.get(vendor) ?? 0) < SUCCESS_WRITE_EVERY_MS) return;
      lastSuccessWrite.set(vendor, now);
      const redis = await client();
      const answers = await redis.multi().del(failuresKey(vendor)).hget(key(vendor), 'state').exec();
      const state = answers?.[1]?.[1] as string | null | undefined;
      if (state === 'half_open') {
        await redis.del(key(vendor));
        deps.logger.info('vendor breaker closed after a successful probe', { vendor });
      }
    },
    state: read,
    async states() {
      return Promise.all(VENDOR_NAMES.filter((v) => queueOf(v)).map(read));
    },
    async reset(vendor) {
      await (await client()).del(key(vendor), failuresKey(vendor));
      await queueOf(vendor)?.resume();
    },
    async probeDue(now = Date.now()) {
      lastSuccessWrite.clear();
      const probed: VendorName[] = [];
      for (const state of await breaker.states()) {
        if (state.state !== 'open' || state.fault !== 'transient' || !state.probeAt || Date.parse(state.probeAt) > now)
          continue;
        await (await client()).hset(key(state.vendor), { state: 'half_open' });
        await queueOf(state.vendor)?.resume();
        deps.logger.info('vendor breaker half-open: queue resumed for a probe', { vendor: state.vendor });
        probed.push(state.vendor);
      }
      return probed;
    },
    close() {
      connection.disconnect();
      return Promise.resolve();
    },
  };
  return breaker;
}

/** The waiting reason of a task held by an open breaker: free of identifiers, naming the config key to fix. */
export function breakerWaitingReason(
  state: Pick<BreakerState, 'vendor' | 'reason'>,
  fallback = 'its circuit breaker is open',
): string {
  return `${state.vendor} paused by its circuit breaker: ${state.reason ?? fallback}`;
}

/** The breaker's vendor for a queue name, when the queue is a vendor's. */
export function breakerVendor(queueName: string): VendorName | undefined {
  return isVendorName(queueName) ? queueName : undefined;
}
