import Joi from 'joi';
import type { VendorName } from './vendor-name.js';
import { pinpointSettingsKeys, type PinpointSettings } from './pinpoint-settings.js';
import { segmentSettingsKeys, type SegmentSettings } from './segment-settings.js';
import { amplitudeSettingsKeys, type AmplitudeSettings } from './amplitude-settings.js';
import { appcenterSettingsKeys, type AppCenterSettings } from './appcenter-settings.js';
import { s3SettingsKeys, type S3Settings } from './s3-settings.js';

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
  s3?: S3Settings;
  segment?: SegmentSettings;
  amplitude?: AmplitudeSettings;
  appcenter?: AppCenterSettings;
}

/** Queue defaults per vendor; a vendor's own settings file explains its numbers. */
export const VENDOR_QUEUE_DEFAULTS: Record<VendorName, VendorQueueSettings> = {
  // Pinpoint quotas are per operation; 300/s covers Get/DeleteUserEndpoints (vendor-contracts §1.5).
  pinpoint: { rateLimit: { max: 100, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 },
  s3: { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 },
  appcenter: { rateLimit: { max: 10, durationMs: 1000 }, concurrency: 5, throttleDelayMs: 5000 },
  // Segment jobs are mostly per-request bookkeeping (joining a shared regulation batch, no vendor call; two runs per
  // request), so the queue is not held to Segment's call budget: the client spends `requestsPerSecond` (100) on
  // HTTP calls (§4.5), and a 429 costs no attempt. Creates are one per batch of up to 5,000 people.
  segment: { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 5000 },
  // Amplitude jobs are mostly per-request bookkeeping (joining a shared batch, no vendor call; three runs per request),
  // so the queue is not held to Amplitude's 1 call/s: the client paces every HTTP call to `requestsPerSecond` (1) and
  // `maxInFlight` (8), §5.6, and a 429 costs no attempt.
  amplitude: { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 },
};

const queueKeys = {
  rateLimit: Joi.object({ max: Joi.number().integer().min(1).required(), durationMs: Joi.number().integer().min(1).required() }),
  concurrency: Joi.number().integer().min(1).max(1000),
  throttleDelayMs: Joi.number().integer().min(0),
};

export const vendorSettingsSchema = Joi.object({
  pinpoint: Joi.object({ ...queueKeys, ...pinpointSettingsKeys }),
  s3: Joi.object({ ...queueKeys, ...s3SettingsKeys }),
  segment: Joi.object({ ...queueKeys, ...segmentSettingsKeys }),
  amplitude: Joi.object({ ...queueKeys, ...amplitudeSettingsKeys }),
  appcenter: Joi.object({ ...queueKeys, ...appcenterSettingsKeys }),
});

/** Fills queue defaults into each configured vendor's settings. */
export function withQueueDefaults(vendors: Partial<VendorSettingsMap>): VendorSettingsMap {
  const out: Record<string, unknown> = {};
  for (const [vendor, settings] of Object.entries(vendors)) {
    if (settings) out[vendor] = { ...VENDOR_QUEUE_DEFAULTS[vendor as VendorName], ...settings };
  }
  return out;
}
