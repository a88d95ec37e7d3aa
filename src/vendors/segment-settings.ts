import Joi from 'joi';
import type { VendorQueueSettings } from './vendor-settings.js';

/**
 * Regulation types that erase (docs/vendors/segment.md). SUPPRESS_ONLY and UNSUPPRESS delete
 * nothing, so they are not offered; DELETE_ARCHIVE_ONLY exists only for source-scoped regulations.
 */
export const SEGMENT_ERASING_REGULATION_TYPES = [
  'SUPPRESS_WITH_DELETE',
  'DELETE_ONLY',
  'SUPPRESS_WITH_DELETE_INTERNAL',
  'DELETE_INTERNAL',
  'DELETE_ARCHIVE_ONLY',
] as const;
export type SegmentRegulationType = (typeof SEGMENT_ERASING_REGULATION_TYPES)[number];

/** Where regulations are created: one workspace regulation, or one per configured event source. */
export type SegmentScope = 'workspace' | { sourceIds: string[] };

/** Work with no API (source / Unify space / workspace deletion by e-mail to Segment support). */
export interface SegmentManualTask {
  /** The task's action name, e.g. `request-source-deletion` (unique per resource). */
  action: string;
  /** What the operator must do; shown as the task's waiting reason. Never a person's identifier. */
  instructions: string;
  /** What the task is about, e.g. `source/<id>` or `unify/<space id>`. @defaultValue 'workspace' */
  resource?: string;
}

export interface SegmentSettings extends VendorQueueSettings {
  /** Public API host: https://api.segmentapis.com (US) or https://eu1.api.segmentapis.com (EU). */
  baseUrl: string;
  /** The workspace's Public API token (not a Config API token). */
  token: string;
  /** @defaultValue 'SUPPRESS_WITH_DELETE' */
  regulationType: SegmentRegulationType;
  /** @defaultValue 'workspace' */
  scope: SegmentScope;
  /** How long a regulation batch collects user ids before it is sent. @defaultValue 300000 (5 min) */
  batchWindowMs: number;
  /** A batch is sent as soon as it holds this many user ids (Segment takes ≤ 5,000 per call). @defaultValue 5000 */
  maxIdsPerRegulation: number;
  /** How often a running regulation is polled. @defaultValue 3600000 (hourly) */
  pollIntervalMs: number;
  /** Random extra share of the poll interval, so regulations do not all poll together. @defaultValue 0.1 */
  pollJitter: number;
  /** Per-call timeout. @defaultValue 30000 */
  requestTimeoutMs: number;
  /**
   * HTTP calls all processes together make to Segment per second, as a budget with bursts kept in
   * Redis (src/vendors/redis-call-budget.ts; docs/vendors/segment.md: the
   * general limits are not published; the create endpoints allow 600/min and a batch is one create
   * for up to 5,000 people). It bounds calls, not jobs: most Segment jobs make none. @defaultValue 100
   */
  requestsPerSecond: number;
  /** Manual tasks planned for every request that names Segment. @defaultValue [] */
  manualTasks: SegmentManualTask[];
}

export const SEGMENT_DEFAULTS = Object.freeze({
  baseUrl: 'https://api.segmentapis.com',
  regulationType: 'SUPPRESS_WITH_DELETE',
  scope: 'workspace',
  batchWindowMs: 300_000,
  maxIdsPerRegulation: 5_000,
  pollIntervalMs: 3_600_000,
  pollJitter: 0.1,
  requestTimeoutMs: 30_000,
  requestsPerSecond: 100,
  manualTasks: [] as SegmentManualTask[],
});

/** Segment's limit on `subjectIds` per create call (docs/vendors/segment.md). */
export const SEGMENT_MAX_SUBJECT_IDS = 5_000;

const SOURCE_ID = /^[A-Za-z0-9]+$/;
const ACTION = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const segmentSettingsKeys = {
  baseUrl: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default(SEGMENT_DEFAULTS.baseUrl),
  token: Joi.string().min(8).required(),
  regulationType: Joi.string()
    .valid(...SEGMENT_ERASING_REGULATION_TYPES)
    .default(SEGMENT_DEFAULTS.regulationType)
    // DELETE_ARCHIVE_ONLY exists only at source scope (docs/vendors/segment.md).
    .when('scope', { is: Joi.object().required(), otherwise: Joi.invalid('DELETE_ARCHIVE_ONLY') }),
  scope: Joi.alternatives(
    Joi.string().valid('workspace'),
    Joi.object({ sourceIds: Joi.array().items(Joi.string().pattern(SOURCE_ID).max(64)).min(1).unique().required() }),
  ).default(SEGMENT_DEFAULTS.scope),
  batchWindowMs: Joi.number().integer().min(0).max(86_400_000).default(SEGMENT_DEFAULTS.batchWindowMs),
  maxIdsPerRegulation: Joi.number()
    .integer()
    .min(1)
    .max(SEGMENT_MAX_SUBJECT_IDS)
    .default(SEGMENT_DEFAULTS.maxIdsPerRegulation),
  pollIntervalMs: Joi.number()
    .integer()
    .min(100)
    .max(7 * 86_400_000)
    .default(SEGMENT_DEFAULTS.pollIntervalMs),
  pollJitter: Joi.number().min(0).max(1).default(SEGMENT_DEFAULTS.pollJitter),
  requestTimeoutMs: Joi.number().integer().min(100).max(600_000).default(SEGMENT_DEFAULTS.requestTimeoutMs),
  requestsPerSecond: Joi.number().integer().min(1).max(10_000).default(SEGMENT_DEFAULTS.requestsPerSecond),
  manualTasks: Joi.array()
    .items(
      Joi.object({
        action: Joi.string().pattern(ACTION).required(),
        instructions: Joi.string().trim().min(3).max(2000).required(),
        resource: Joi.string()
          .pattern(/^[A-Za-z0-9/_.-]+$/)
          .max(200),
      }),
    )
    .unique(
      (a: { action: string; resource?: string }, b: { action: string; resource?: string }) =>
        a.action === b.action && (a.resource ?? 'workspace') === (b.resource ?? 'workspace'),
    )
    .default([]),
};

/** The vendor resources regulation tasks are about: `workspace`, or `source/<id>` per configured source. */
export function segmentResources(scope: SegmentScope): string[] {
  return scope === 'workspace' ? ['workspace'] : scope.sourceIds.map((id) => `source/${id}`);
}
