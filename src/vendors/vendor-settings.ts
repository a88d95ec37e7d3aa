import Joi from 'joi';

/** A BullMQ limiter for one vendor queue: at most `max` jobs per `durationMs`, across all workers. */
export interface QueueLimit {
  max: number;
  durationMs: number;
}

/** Settings every vendor queue has (Invariant 5). */
export interface VendorQueueSettings {
  /** Jobs per window across all worker processes. */
  rateLimit: QueueLimit;
  /** Jobs one worker process runs at once on this queue. */
  concurrency: number;
  /** Delay before retrying a throttled call when the vendor gives no hint, in ms. */
  throttleDelayMs: number;
}

/** `vendors.<name>` of the config file, derived from the registered connectors (src/connectors/registry.ts). */
export type { VendorSettingsMap } from '../connectors/registry.js';

/** The keys every vendor's settings have (Invariant 5); a connector adds its own (`settingsKeys`). */
export const queueSettingsKeys = {
  rateLimit: Joi.object({
    max: Joi.number().integer().min(1).required(),
    durationMs: Joi.number().integer().min(1).required(),
  }),
  concurrency: Joi.number().integer().min(1).max(1000),
  throttleDelayMs: Joi.number().integer().min(0),
};
