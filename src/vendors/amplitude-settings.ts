import Joi from 'joi';
import type { VendorQueueSettings } from './vendor-settings.js';

/**
 * Work with no API: Amplitude's self-service event / property deletion runs in its UI only
 * (docs/vendors/amplitude.md).
 */
export interface AmplitudeManualTask {
  /** The task's action name, e.g. `self-service-event-deletion` (unique per request). */
  action: string;
  /** What the operator must do; shown as the task's waiting reason. Never a person's identifier. */
  instructions: string;
}

/**
 * `vendors.amplitude`: one Amplitude project (one API key = one project, docs/vendors/amplitude.md), erased through the
 * User Privacy API v1. Two kinds of limit apply:
 * - the queue's `rateLimit` / `concurrency` bound **jobs**: most Amplitude jobs are per-request
 *   bookkeeping (joining a shared batch, no vendor call), so they are not held to Amplitude's 1/s;
 * - `requestsPerSecond` / `maxInFlight` bound **HTTP calls to Amplitude** (1 per second, 8 in flight,
 *   docs/vendors/amplitude.md), applied by the client to every call it makes (batch POSTs, polls, withdrawals), and a 429
 *   anyway costs no attempt.
 */
export interface AmplitudeSettings extends VendorQueueSettings {
  /** https://amplitude.com (US) or https://analytics.eu.amplitude.com (EU residency). */
  baseUrl: string;
  /** The project's API key (Basic auth user name). */
  apiKey: string;
  /** The project's secret key (Basic auth password). */
  secretKey: string;
  /** A label for the project in task resources and receipts, e.g. its name. Not a secret. @defaultValue 'default' */
  project: string;
  /** HTTP calls per second to Amplitude from all processes together, kept in Redis (Amplitude allows 1 per key). @defaultValue 1 */
  requestsPerSecond: number;
  /** HTTP calls in flight at once from all processes together, kept in Redis (Amplitude allows 8 per project). @defaultValue 8 */
  maxInFlight: number;
  /** How long a deletion batch collects requests before it is sent. @defaultValue 60000 */
  batchWindowMs: number;
  /** Ids per deletion call; Amplitude takes ≤ 100 (user ids and Amplitude ids together, docs/vendors/amplitude.md). @defaultValue 100 */
  maxIdsPerRequest: number;
  /** How often a deletion job is polled until `done`. @defaultValue 43200000 (12 h) */
  pollIntervalMs: number;
  /** Random extra share of the poll interval, so polls spread out. @defaultValue 0.1 */
  pollJitter: number;
  /** `requester` sent with each deletion call, for Amplitude's audit (not a person's identifier). @defaultValue 'erasure' */
  requester: string;
  /** Per-call timeout. @defaultValue 30000 */
  requestTimeoutMs: number;
  /** Manual tasks planned for every request that names Amplitude. @defaultValue [] */
  manualTasks: AmplitudeManualTask[];
}

export const AMPLITUDE_DEFAULTS = Object.freeze({
  baseUrl: 'https://amplitude.com',
  project: 'default',
  requestsPerSecond: 1,
  maxInFlight: 8,
  batchWindowMs: 60_000,
  maxIdsPerRequest: 100,
  pollIntervalMs: 12 * 3_600_000,
  pollJitter: 0.1,
  requester: 'erasure',
  requestTimeoutMs: 30_000,
  manualTasks: [] as AmplitudeManualTask[],
});

/** Amplitude's cap on ids per create-deletion call (docs/vendors/amplitude.md). */
export const AMPLITUDE_MAX_IDS = 100;
/** Days from `active_scrub_done_date` until Amplitude reports a job `done`, once backups are cleared (about five, docs/vendors/amplitude.md). */
export const AMPLITUDE_BACKUP_CLEAR_DAYS = 5;

const ACTION = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const amplitudeSettingsKeys = {
  baseUrl: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default(AMPLITUDE_DEFAULTS.baseUrl),
  apiKey: Joi.string().min(8).required(),
  secretKey: Joi.string().min(8).required(),
  project: Joi.string()
    .pattern(/^[A-Za-z0-9_.-]{1,64}$/)
    .default(AMPLITUDE_DEFAULTS.project),
  requestsPerSecond: Joi.number().greater(0).max(1000).default(AMPLITUDE_DEFAULTS.requestsPerSecond),
  maxInFlight: Joi.number().integer().min(1).max(100).default(AMPLITUDE_DEFAULTS.maxInFlight),
  batchWindowMs: Joi.number().integer().min(0).max(86_400_000).default(AMPLITUDE_DEFAULTS.batchWindowMs),
  maxIdsPerRequest: Joi.number().integer().min(1).max(AMPLITUDE_MAX_IDS).default(AMPLITUDE_DEFAULTS.maxIdsPerRequest),
  pollIntervalMs: Joi.number()
    .integer()
    .min(10)
    .max(7 * 86_400_000)
    .default(AMPLITUDE_DEFAULTS.pollIntervalMs),
  pollJitter: Joi.number().min(0).max(1).default(AMPLITUDE_DEFAULTS.pollJitter),
  requester: Joi.string().max(200).default(AMPLITUDE_DEFAULTS.requester),
  requestTimeoutMs: Joi.number().integer().min(100).max(600_000).default(AMPLITUDE_DEFAULTS.requestTimeoutMs),
  manualTasks: Joi.array()
    .items(
      Joi.object({
        action: Joi.string().pattern(ACTION).required(),
        instructions: Joi.string().min(1).max(2000).required(),
      }),
    )
    .unique('action')
    .default([]),
};
