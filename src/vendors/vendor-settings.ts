import Joi from 'joi';
import type { VendorName } from './vendor-name.js';
import { pinpointSettingsKeys, type PinpointSettings } from './pinpoint-settings.js';

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

/** `vendors.<name>` of the config file, one entry per vendor with an erasure path. A new vendor adds a line. */
export interface VendorSettingsMap {
  pinpoint?: PinpointSettings;
}

/** Queue defaults per vendor; a vendor's own settings file explains its numbers. */
export const VENDOR_QUEUE_DEFAULTS: Record<VendorName, VendorQueueSettings> = {
  // Pinpoint quotas are per operation; 300/s covers Get/DeleteUserEndpoints (vendor-contracts §1.5).
  pinpoint: { rateLimit: { max: 100, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 },
  s3: { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 },
  appcenter: { rateLimit: { max: 10, durationMs: 1000 }, concurrency: 5, throttleDelayMs: 5000 },
  segment: { rateLimit: { max: 10, durationMs: 1000 }, concurrency: 5, throttleDelayMs: 5000 },
  amplitude: { rateLimit: { max: 1, durationMs: 1000 }, concurrency: 8, throttleDelayMs: 1000 },
};

const queueKeys = {
  rateLimit: Joi.object({ max: Joi.number().integer().min(1).required(), durationMs: Joi.number().integer().min(1).required() }),
  concurrency: Joi.number().integer().min(1).max(1000),
  throttleDelayMs: Joi.number().integer().min(0),
};

export const vendorSettingsSchema = Joi.object({
  pinpoint: Joi.object({ ...queueKeys, ...pinpointSettingsKeys }),
});

/** Fills queue defaults into each configured vendor's settings. */
export function withQueueDefaults(vendors: Partial<VendorSettingsMap>): VendorSettingsMap {
  const out: Record<string, unknown> = {};
  for (const [vendor, settings] of Object.entries(vendors)) {
    if (settings) out[vendor] = { ...VENDOR_QUEUE_DEFAULTS[vendor as VendorName], ...settings };
  }
  return out as VendorSettingsMap;
}
