import type { DefaultJobOptions } from 'bullmq';
import type { Config, QueueLimit } from '../src/config/config-schema.js';
import { queueDefaultsOf } from '../src/connectors/registry.js';
import type { VendorName } from '../src/vendors/vendor-name.js';

/** One BullMQ queue: its name, what it is for, and the jobs it carries. */
export interface QueueDefinition {
  name: string;
  /** Shown in Bull Board. */
  description: string;
  /** The vendor whose rate limit the queue enforces, if any (Invariant 5). */
  vendor?: VendorName;
  /** Job names the queue's worker knows how to run. */
  jobNames: readonly string[];
}

/** A vendor queue as its file declares it; its connector adds the job names (src/connectors/connector.ts `connectorQueue`). */
export type VendorQueueDefinition = Omit<QueueDefinition, 'jobNames'> & { vendor: VendorName };

/** A queue definition with the settings config gives it. */
export interface ResolvedQueue extends QueueDefinition {
  limiter?: QueueLimit;
  concurrency: number;
  defaultJobOptions: DefaultJobOptions;
}

/** Retention and retry defaults every queue shares (Invariant 6). */
export function defaultJobOptions(config: Config): DefaultJobOptions {
  const r = config.jobs.retention;
  return {
    attempts: config.jobs.attempts,
    backoff: { type: 'exponential', delay: config.jobs.backoffMs, jitter: 0.5 },
    removeOnComplete: { age: r.completedAgeSeconds, count: r.completedCount },
    removeOnFail: { age: r.failedAgeSeconds, count: r.failedCount },
    keepLogs: 20,
    stackTraceLimit: 5,
    // Jobs carry ids only; anything bigger is a bug (maybe personal data), so refuse it.
    sizeLimit: 2048,
  };
}

export function resolveQueue(definition: QueueDefinition, config: Config): ResolvedQueue {
  const base = { ...definition, defaultJobOptions: defaultJobOptions(config) };
  if (!definition.vendor) return { ...base, concurrency: 20 };
  const settings = config.vendors[definition.vendor] ?? queueDefaultsOf(definition.vendor);
  return { ...base, limiter: settings.rateLimit, concurrency: settings.concurrency };
}
