import { randomBytes } from 'node:crypto';
import { seededId } from '../seed.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A 27-character base62 id shaped like Segment's KSUIDs, from hex entropy. */
export function segmentId(hex: string): string {
  let n = BigInt(`0x${hex}`);
  let out = '';
  while (n > 0n) {
    out = BASE62[Number(n % 62n)] + out;
    n /= 62n;
  }
  return out.padStart(27, '0').slice(-27);
}

/** Every `regulationType` the Public API knows (vendor-contracts §4.3). */
export const REGULATION_TYPES = [
  'SUPPRESS_ONLY',
  'UNSUPPRESS',
  'SUPPRESS_WITH_DELETE',
  'DELETE_INTERNAL',
  'SUPPRESS_WITH_DELETE_INTERNAL',
  'DELETE_ONLY',
  'DELETE_ARCHIVE_ONLY',
] as const;
export type RegulationType = (typeof REGULATION_TYPES)[number];

export const SUBJECT_TYPES = ['USER_ID', 'OBJECT_ID', 'ANONYMOUS_ID'] as const;
export type SubjectType = (typeof SUBJECT_TYPES)[number];

/** Used for `overallStatus`, the list entries' `status` and every destination's `status`. */
export const REGULATION_STATUSES = [
  'INITIALIZED',
  'RUNNING',
  'FINISHED',
  'FAILED',
  'PARTIAL_SUCCESS',
  'NOT_SUPPORTED',
  'INVALID',
] as const;
export type RegulationStatus = (typeof REGULATION_STATUSES)[number];

/** The statuses a regulation can end in. */
export type FinalStatus = 'FINISHED' | 'PARTIAL_SUCCESS' | 'FAILED' | 'NOT_SUPPORTED';

/** Which create endpoint a regulation came through. */
export type RegulationScope =
  | { kind: 'workspace' }
  | { kind: 'source'; sourceId: string }
  | { kind: 'cloudSource'; sourceId: string; collection: string };
export type RegulationScopeKind = RegulationScope['kind'];

const WORKSPACE_TYPES: readonly RegulationType[] = REGULATION_TYPES.filter((t) => t !== 'DELETE_ARCHIVE_ONLY');
/** DELETE_ARCHIVE_ONLY exists only at source scope (§4.3). */
export const REGULATION_TYPES_BY_SCOPE: Readonly<Record<RegulationScopeKind, readonly RegulationType[]>> = {
  workspace: WORKSPACE_TYPES,
  source: REGULATION_TYPES,
  cloudSource: WORKSPACE_TYPES,
};
export const SUBJECT_TYPES_BY_SCOPE: Readonly<Record<RegulationScopeKind, readonly SubjectType[]>> = {
  workspace: ['USER_ID', 'OBJECT_ID'],
  source: ['USER_ID', 'ANONYMOUS_ID'],
  cloudSource: ['OBJECT_ID'],
};

/** The two create-endpoint rate-limit budgets (§4.5). */
export type RateLimitGroup = 'segment-only' | 'segment-and-destination';
const FORWARDING_TYPES: ReadonlySet<RegulationType> = new Set(['DELETE_ONLY', 'SUPPRESS_WITH_DELETE']);
const SUPPRESSING_TYPES: ReadonlySet<RegulationType> = new Set([
  'SUPPRESS_ONLY',
  'SUPPRESS_WITH_DELETE',
  'SUPPRESS_WITH_DELETE_INTERNAL',
]);
const DELETING_TYPES: ReadonlySet<RegulationType> = new Set([
  'DELETE_ONLY',
  'SUPPRESS_WITH_DELETE',
  'DELETE_INTERNAL',
  'SUPPRESS_WITH_DELETE_INTERNAL',
  'DELETE_ARCHIVE_ONLY',
]);

export function isRegulationType(value: unknown): value is RegulationType {
  return typeof value === 'string' && (REGULATION_TYPES as readonly string[]).includes(value);
}

export function isRegulationStatus(value: unknown): value is RegulationStatus {
  return typeof value === 'string' && (REGULATION_STATUSES as readonly string[]).includes(value);
}

/** Forwarding types spend the "Segment & Destination" budget, everything else the "Segment-only" one. */
export function rateLimitGroup(type: RegulationType): RateLimitGroup {
  return FORWARDING_TYPES.has(type) ? 'segment-and-destination' : 'segment-only';
}

export const MAX_SUBJECT_IDS = 5_000;
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Above this many subjects in 30 days Segment no longer promises its SLA (§4.6): a warning, not a refusal. */
export const VOLUME_GUARD_SUBJECTS = 110_000;
const DAY_MS = 86_400_000;
export const VOLUME_GUARD_WINDOW_MS = 30 * DAY_MS;
/** Regulations older than this are gone from get and list (§4.2). */
export const REGULATION_RETENTION_MS = 90 * DAY_MS;

/** A Public API answer other than success: the simulator turns it into the `errors[]` envelope. */
export class SegmentFault extends Error {
  constructor(
    readonly status: number,
    readonly errorType: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'SegmentFault';
  }
}

export const validationFailure = (message: string, field?: string) =>
  new SegmentFault(422, 'ValidationFailure', message, field);
export const notFound = (message = 'Resource not found') => new SegmentFault(404, 'NotFound', message);

export interface SegmentDestination {
  id: string;
  name: string;
  /** Segment forwards deletions to it (Amplitude, Braze, Webhooks, … §4.6); other destinations report NOT_SUPPORTED. */
  supportsDeletion: boolean;
}

export interface SegmentSource {
  id: string;
  name: string;
  /** Event sources take source regulations; cloud sources take cloud-source regulations (with a collection). */
  kind: 'event' | 'cloud';
  collections: string[];
  destinations: SegmentDestination[];
}

/** One identified subject's data in the workspace: a user, an anonymous visitor or a cloud-source object. */
export interface SegmentSubjectData {
  subjectType: SubjectType;
  subjectId: string;
  traits: Record<string, string>;
  /** Archived events per source id; a deletion removes the entries of the sources in its scope. */
  eventsBySource: Map<string, number>;
}

/** How a regulation ends, planned when it is created. */
export interface RegulationOutcome {
  status: FinalStatus;
  /**
   * The destination (by name) that fails. PARTIAL_SUCCESS defaults to the first destination that
   * supports deletion, FAILED to the first one that does not (an unsupported destination failing
   * turns the whole regulation FAILED, §4.3).
   */
  failingDestination?: string;
  /** The failing destination's `errString`. @defaultValue a 401-style message naming the destination */
  errString?: string;
}

/** Sandbox-clock durations of a regulation's life. */
export interface SegmentTimings {
  /** From creation until the regulation leaves INITIALIZED. @defaultValue 15 minutes */
  startAfterMs: number;
  /** From creation until the final status; destinations finish one by one before it. @defaultValue 6 hours */
  finishAfterMs: number;
  /** From creation until a SUPPRESS_* or UNSUPPRESS regulation shows in `GET /suppressions`. @defaultValue 1 hour */
  suppressAfterMs: number;
}

export const DEFAULT_SEGMENT_TIMINGS: Readonly<SegmentTimings> = Object.freeze({
  startAfterMs: 15 * 60_000,
  finishAfterMs: 6 * 60 * 60_000,
  suppressAfterMs: 60 * 60_000,
});

export const DEFAULT_SEGMENT_WORKSPACE_ID = segmentId(seededId('segment-workspace', 'main'));

export interface SegmentStoreOptions {
  /** Sandbox time; every state machine reads it, never Date.now(). */
  clock: { now(): number };
  /** Overrides of the regulation timeline. */
  timings?: Partial<SegmentTimings>;
  /** How a new regulation ends when no planned outcome applies. @defaultValue 'FINISHED' */
  finalStatus?: FinalStatus;
  /** @defaultValue DEFAULT_SEGMENT_WORKSPACE_ID */
  workspaceId?: string;
  /**
   * The overall status of a regulation that finished everywhere it could but reached destinations
   * that do not take deletions (NOT_SUPPORTED). Segment's docs say FAILED ("the overall status
   * turns FAILED if an unsupported destination fails", vendor-contracts §4.3); FINISHED is the
   * other reading, kept so contract tests prove the client copes with both. @defaultValue 'FAILED'
   */
  unsupportedDestinationsOverall?: 'FAILED' | 'FINISHED';
}

interface DestinationPlan {
  destination: SegmentDestination;
  status: FinalStatus;
  errString: string;
  finishAt: number;
}

/** A regulation as the store keeps it: its request, its planned timeline and what it covered. */
export interface StoredRegulation {
  id: string;
  workspaceId: string;
  scope: RegulationScope;
  regulationType: RegulationType;
  subjectType: SubjectType;
  /** Held in memory only, and dropped with the regulation after 90 days. */
  subjectIds: string[];
  /** The subjects Segment actually held data for in the regulation's scope when it was created. */
  coveredSubjectIds: string[];
  createdAt: number;
  runningAt: number;
  finishAt: number;
  finalStatus: FinalStatus;
  streams: Array<{ id: string; destinations: DestinationPlan[] }>;
  /** Created while more than 110,000 subjects were regulated in the last 30 days (the SLA no longer holds). */
  overVolumeLimit: boolean;
}

/** A regulation's status at one instant, as get and list report it. */
export interface RegulationSnapshot {
  overallStatus: RegulationStatus;
  finishedAt?: number;
  streams: Array<{
    id: string;
    destinations: Array<{ id: string; name: string; status: RegulationStatus; errString: string; finishedAt?: number }>;
  }>;
}

export interface SuppressedSubject {
  subjectType: SubjectType;
  subjectId: string;
}

interface SuppressionEntry extends SuppressedSubject {
  /** 'workspace' or the source id that suppressed the subject. */
  scopes: Set<string>;
}

interface TimedEffect {
  at: number;
  apply(): void;
}

const WORKSPACE_SCOPE = 'workspace';

/**
 * The Segment workspace behind the simulator: sources and their destinations, the subjects' data,
 * regulations with their clock-driven status machine, and the suppression list. Everything that
 * depends on time is computed from `clock.now()` when read.
 */
export class SegmentStore {
  readonly workspaceId: string;
  readonly timings: SegmentTimings;
  readonly sources = new Map<string, SegmentSource>();
  /** Keyed by `subjectKey(type, id)`. */
  readonly subjects = new Map<string, SegmentSubjectData>();
  /** Regulations created, ever (expired ones included); tests and the benchmark read it. */
  regulationsCreated = 0;
  finalStatus: FinalStatus;
  unsupportedDestinationsOverall: 'FAILED' | 'FINISHED';

  private readonly clock: { now(): number };
  /** Insertion (= creation) order, which the retention pruning relies on. */
  private readonly regulations = new Map<string, StoredRegulation>();
  private readonly plannedOutcomes: RegulationOutcome[] = [];
  private readonly suppressed = new Map<string, SuppressionEntry>();
  /** Workspace-level suppressions once every regulation created so far has taken effect. */
  private readonly projectedWorkspaceSuppressed = new Set<string>();
  private readonly pendingEffects: TimedEffect[] = [];
  private readonly volume: Array<{ at: number; subjects: number }> = [];

  constructor(options: SegmentStoreOptions) {
    this.clock = options.clock;
    this.timings = { ...DEFAULT_SEGMENT_TIMINGS, ...(options.timings ?? {}) };
    if (!(this.timings.startAfterMs <= this.timings.finishAfterMs))
      throw new RangeError('startAfterMs must not exceed finishAfterMs');
    this.finalStatus = options.finalStatus ?? 'FINISHED';
    this.workspaceId = options.workspaceId ?? DEFAULT_SEGMENT_WORKSPACE_ID;
    this.unsupportedDestinationsOverall = options.unsupportedDestinationsOverall ?? 'FAILED';
  }

  now(): number {
    return this.clock.now();
  }

  addSource(source: SegmentSource): SegmentSource {
    this.sources.set(source.id, source);
    return source;
  }

  /** Adds events for a subject in one source (seeding, or tests setting up data there is no API for). */
  addSubjectEvents(
    subjectType: SubjectType,
    subjectId: string,
    sourceId: string,
    events: number,
    traits: Record<string, string> = {},
  ): void {
    const key = subjectKey(subjectType, subjectId);
    let data = this.subjects.get(key);
    if (!data) {
      data = { subjectType, subjectId, traits: {}, eventsBySource: new Map() };
      this.subjects.set(key, data);
    }
    Object.assign(data.traits, traits);
    data.eventsBySource.set(sourceId, (data.eventsBySource.get(sourceId) ?? 0) + events);
  }

  /** The subject's remaining data, after every deletion that is due. */
  subjectData(subjectType: SubjectType, subjectId: string): SegmentSubjectData | undefined {
    this.settle();
    return this.subjects.get(subjectKey(subjectType, subjectId));
  }

  /**
   * Makes the next `count` regulations end as `outcome` (a PARTIAL_SUCCESS naming its failing
   * destination, a FAILED because an unsupported destination failed, …). There is no API for it.
   */
  planOutcomes(count: number, outcome: RegulationOutcome): void {
    if (!Number.isInteger(count) || count < 1) throw new RangeError('count must be a positive integer');
    if (
      outcome.failingDestination !== undefined &&
      !this.allDestinations().some((d) => d.name === outcome.failingDestination)
    ) {
      throw new RangeError(`no seeded destination is named ${outcome.failingDestination}`);
    }
    for (let i = 0; i < count; i++) this.plannedOutcomes.push({ ...outcome });
  }

  /** Checks a create request the way the Public API does; throws a 422 SegmentFault. */
  validate(
    scope: RegulationScope,
    input: unknown,
  ): { regulationType: RegulationType; subjectType: SubjectType; subjectIds: string[] } {
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw validationFailure('request body must be a JSON object');
    const { regulationType, subjectType, subjectIds } = input as Record<string, unknown>;
    const types = REGULATION_TYPES_BY_SCOPE[scope.kind];
    if (!isRegulationType(regulationType) || !types.includes(regulationType)) {
      throw validationFailure(`regulationType must be one of ${types.join(', ')}`, 'regulationType');
    }
    const subjectTypes = SUBJECT_TYPES_BY_SCOPE[scope.kind];
    if (typeof subjectType !== 'string' || !(subjectTypes as readonly string[]).includes(subjectType)) {
      throw validationFailure(`subjectType must be one of ${subjectTypes.join(', ')}`, 'subjectType');
    }
    if (subjectType === 'ANONYMOUS_ID' && regulationType !== 'DELETE_ARCHIVE_ONLY') {
      throw validationFailure(
        'subjectType ANONYMOUS_ID is only supported with regulationType DELETE_ARCHIVE_ONLY',
        'subjectType',
      );
    }
    if (!Array.isArray(subjectIds) || subjectIds.length === 0)
      throw validationFailure('subjectIds must be a non-empty array', 'subjectIds');
    if (subjectIds.length > MAX_SUBJECT_IDS)
      throw validationFailure(`subjectIds must not have more than ${MAX_SUBJECT_IDS} items`, 'subjectIds');
    if (subjectIds.some((id) => typeof id !== 'string' || id.length === 0))
      throw validationFailure('subjectIds must be non-empty strings', 'subjectIds');
    return { regulationType, subjectType: subjectType as SubjectType, subjectIds: subjectIds as string[] };
  }

  /** The source a source or cloud-source regulation names; 404 when it is unknown or of the other kind. */
  sourceFor(sourceId: string, kind: SegmentSource['kind']): SegmentSource {
    const source = this.sources.get(sourceId);
    if (!source || source.kind !== kind)
      throw notFound(`${kind === 'cloud' ? 'Cloud source' : 'Source'} ${sourceId} not found`);
    return source;
  }

  /** Creates a regulation after validating it; returns it with its planned timeline. */
  createRegulation(scope: RegulationScope, input: unknown): StoredRegulation {
    const { regulationType, subjectType, subjectIds } = this.validate(scope, input);
    if (scope.kind === 'source') this.sourceFor(scope.sourceId, 'event');
    if (scope.kind === 'cloudSource') {
      const source = this.sourceFor(scope.sourceId, 'cloud');
      if (!scope.collection)
        throw validationFailure('collection is required for a cloud source regulation', 'collection');
      if (source.collections.length && !source.collections.includes(scope.collection)) {
        throw validationFailure(`collection must be one of ${source.collections.join(', ')}`, 'collection');
      }
    }
    this.settle();
    const now = this.now();
    const uniqueIds = [...new Set(subjectIds)];
    const scopeSources = this.scopeSources(scope, subjectType);
    const scopeSourceIds = new Set(scopeSources.map((s) => s.id));
    const covered = uniqueIds.filter((id) => {
      const data = this.subjects.get(subjectKey(subjectType, id));
      return data !== undefined && [...data.eventsBySource.keys()].some((sourceId) => scopeSourceIds.has(sourceId));
    });

    const forwards = FORWARDING_TYPES.has(regulationType);
    const outcome = this.outcomeFor(scope, regulationType, subjectType, uniqueIds);
    if (
      forwards &&
      outcome.failingDestination === undefined &&
      (outcome.status === 'PARTIAL_SUCCESS' || outcome.status === 'FAILED')
    ) {
      const wantsSupported = outcome.status === 'PARTIAL_SUCCESS';
      const candidate = scopeSources.flatMap((s) => s.destinations).find((d) => d.supportsDeletion === wantsSupported);
      outcome.failingDestination = candidate?.name;
    }
    const runningAt = now + this.timings.startAfterMs;
    const finishAt = now + this.timings.finishAfterMs;
    const streams = scopeSources.map((source) => ({
      id: source.id,
      destinations: forwards ? source.destinations.map((destination) => planDestination(destination, outcome)) : [],
    }));
    const plans = streams.flatMap((s) => s.destinations);
    plans.forEach((plan, k) => {
      // Destinations finish one after another while the regulation runs.
      plan.finishAt = Math.round(runningAt + ((finishAt - runningAt) * (k + 1)) / (plans.length + 1));
    });

    this.volume.push({ at: now, subjects: uniqueIds.length });
    const regulation: StoredRegulation = {
      id: segmentId(randomBytes(20).toString('hex')),
      workspaceId: this.workspaceId,
      scope,
      regulationType,
      subjectType,
      subjectIds: uniqueIds,
      coveredSubjectIds: covered,
      createdAt: now,
      runningAt,
      finishAt,
      finalStatus:
        outcome.status === 'FINISHED' &&
        this.unsupportedDestinationsOverall === 'FAILED' &&
        plans.some((plan) => plan.status === 'NOT_SUPPORTED')
          ? 'FAILED'
          : outcome.status,
      streams,
      overVolumeLimit: this.volumeInWindow(now) > VOLUME_GUARD_SUBJECTS,
    };
    this.regulations.set(regulation.id, regulation);
    this.regulationsCreated += 1;
    this.scheduleEffects(regulation);
    return regulation;
  }

  /** A regulation younger than 90 days; 404 otherwise. */
  regulation(id: string): StoredRegulation {
    this.settle();
    const regulation = this.regulations.get(id);
    if (!regulation) throw notFound(`Regulation ${id} not found`);
    return regulation;
  }

  /** Regulations younger than 90 days, newest first, optionally only those of one scope. */
  listRegulations(filter: { scope?: RegulationScopeKind; sourceId?: string } = {}): StoredRegulation[] {
    this.settle();
    const out: StoredRegulation[] = [];
    for (const regulation of this.regulations.values()) {
      if (filter.scope && regulation.scope.kind !== filter.scope) continue;
      if (filter.sourceId && (regulation.scope.kind === 'workspace' || regulation.scope.sourceId !== filter.sourceId))
        continue;
      out.push(regulation);
    }
    return out.reverse();
  }

  /** Where a regulation is at sandbox time `now`. */
  snapshot(regulation: StoredRegulation, now = this.now()): RegulationSnapshot {
    const overallStatus: RegulationStatus =
      now < regulation.runningAt ? 'INITIALIZED' : now < regulation.finishAt ? 'RUNNING' : regulation.finalStatus;
    return {
      overallStatus,
      finishedAt: now >= regulation.finishAt ? regulation.finishAt : undefined,
      streams: regulation.streams.map((stream) => ({
        id: stream.id,
        destinations: stream.destinations.map((plan) => {
          const done = now >= plan.finishAt;
          return {
            id: plan.destination.id,
            name: plan.destination.name,
            status: now < regulation.runningAt ? 'INITIALIZED' : done ? plan.status : 'RUNNING',
            errString: done ? plan.errString : '',
            finishedAt: done ? plan.finishAt : undefined,
          };
        }),
      })),
    };
  }

  /** Subjects currently suppressed anywhere in the workspace, in the order they were suppressed. */
  listSuppressed(): SuppressedSubject[] {
    this.settle();
    return [...this.suppressed.values()].map(({ subjectType, subjectId }) => ({ subjectType, subjectId }));
  }

  /** Subjects regulated in the last 30 days (sandbox clock). */
  volumeInWindow(now = this.now()): number {
    while (this.volume.length && this.volume[0].at <= now - VOLUME_GUARD_WINDOW_MS) this.volume.shift();
    return this.volume.reduce((sum, v) => sum + v.subjects, 0);
  }

  /** The volume guard's warning: more than 110,000 subjects in 30 days means the 30-day SLA is off. */
  overVolumeLimit(): boolean {
    return this.volumeInWindow() > VOLUME_GUARD_SUBJECTS;
  }

  /** Applies the deletions and suppression changes that are due, and forgets regulations past retention. */
  private settle(): void {
    const now = this.now();
    while (this.pendingEffects.length && this.pendingEffects[0].at <= now) this.pendingEffects.shift()?.apply();
    for (const [id, regulation] of this.regulations) {
      if (regulation.createdAt > now - REGULATION_RETENTION_MS) break;
      this.regulations.delete(id);
    }
  }

  private schedule(effect: TimedEffect): void {
    let i = this.pendingEffects.length;
    while (i > 0 && this.pendingEffects[i - 1].at > effect.at) i--;
    this.pendingEffects.splice(i, 0, effect);
  }

  private scheduleEffects(regulation: StoredRegulation): void {
    const { scope, regulationType, subjectType, subjectIds } = regulation;
    const scopeKey = scope.kind === 'workspace' ? WORKSPACE_SCOPE : scope.sourceId;
    const suppressAt = regulation.createdAt + this.timings.suppressAfterMs;
    if (SUPPRESSING_TYPES.has(regulationType)) {
      if (scope.kind === 'workspace')
        for (const id of subjectIds) this.projectedWorkspaceSuppressed.add(subjectKey(subjectType, id));
      this.schedule({
        at: suppressAt,
        apply: () => {
          this.suppress(scopeKey, subjectType, subjectIds);
        },
      });
    }
    if (regulationType === 'UNSUPPRESS' && regulation.finalStatus !== 'FAILED') {
      if (scope.kind === 'workspace')
        for (const id of subjectIds) this.projectedWorkspaceSuppressed.delete(subjectKey(subjectType, id));
      this.schedule({
        at: suppressAt,
        apply: () => {
          this.unsuppress(scopeKey, subjectType, subjectIds);
        },
      });
    }
    if (DELETING_TYPES.has(regulationType) && regulation.finalStatus !== 'NOT_SUPPORTED') {
      const sourceIds = regulation.streams.map((s) => s.id);
      const covered = regulation.coveredSubjectIds;
      this.schedule({
        at: regulation.finishAt,
        apply: () => {
          this.deleteData(subjectType, covered, sourceIds);
        },
      });
    }
  }

  private suppress(scopeKey: string, subjectType: SubjectType, subjectIds: string[]): void {
    for (const subjectId of subjectIds) {
      const key = subjectKey(subjectType, subjectId);
      let entry = this.suppressed.get(key);
      if (!entry) {
        entry = { subjectType, subjectId, scopes: new Set() };
        this.suppressed.set(key, entry);
      }
      entry.scopes.add(scopeKey);
    }
  }

  /** A workspace UNSUPPRESS lifts every suppression of the subject; a source one only that source's. */
  private unsuppress(scopeKey: string, subjectType: SubjectType, subjectIds: string[]): void {
    for (const subjectId of subjectIds) {
      const key = subjectKey(subjectType, subjectId);
      const entry = this.suppressed.get(key);
      if (!entry) continue;
      if (scopeKey === WORKSPACE_SCOPE) entry.scopes.clear();
      else entry.scopes.delete(scopeKey);
      if (entry.scopes.size === 0) this.suppressed.delete(key);
    }
  }

  private deleteData(subjectType: SubjectType, subjectIds: string[], sourceIds: string[]): void {
    for (const subjectId of subjectIds) {
      const key = subjectKey(subjectType, subjectId);
      const data = this.subjects.get(key);
      if (!data) continue;
      for (const sourceId of sourceIds) data.eventsBySource.delete(sourceId);
      if (data.eventsBySource.size === 0) this.subjects.delete(key);
    }
  }

  /** The sources a regulation reaches: one for source scopes; at workspace scope, those holding that kind of subject. */
  private scopeSources(scope: RegulationScope, subjectType: SubjectType): SegmentSource[] {
    if (scope.kind !== 'workspace') {
      const source = this.sources.get(scope.sourceId);
      return source ? [source] : [];
    }
    const kind = subjectType === 'OBJECT_ID' ? 'cloud' : 'event';
    return [...this.sources.values()].filter((s) => s.kind === kind);
  }

  private outcomeFor(
    scope: RegulationScope,
    type: RegulationType,
    subjectType: SubjectType,
    subjectIds: string[],
  ): RegulationOutcome {
    // Workspace suppression wins: a source UNSUPPRESS of a workspace-suppressed subject fails (§4.6).
    if (
      type === 'UNSUPPRESS' &&
      scope.kind === 'source' &&
      subjectIds.some((id) => this.projectedWorkspaceSuppressed.has(subjectKey(subjectType, id)))
    ) {
      return { status: 'FAILED' };
    }
    const planned = this.plannedOutcomes.shift();
    return planned ? { ...planned } : { status: this.finalStatus };
  }

  private allDestinations(): SegmentDestination[] {
    return [...this.sources.values()].flatMap((s) => s.destinations);
  }
}

function planDestination(destination: SegmentDestination, outcome: RegulationOutcome): DestinationPlan {
  const plan: DestinationPlan = {
    destination,
    status: destination.supportsDeletion ? 'FINISHED' : 'NOT_SUPPORTED',
    errString: '',
    finishAt: 0,
  };
  if (outcome.status === 'NOT_SUPPORTED') plan.status = 'NOT_SUPPORTED';
  const fails =
    outcome.failingDestination === destination.name &&
    (outcome.status === 'PARTIAL_SUCCESS' || outcome.status === 'FAILED');
  if (fails) {
    plan.status = 'FAILED';
    plan.errString = outcome.errString ?? `${destination.name} rejected the deletion request: 401 Unauthorized`;
  }
  return plan;
}

export function subjectKey(subjectType: SubjectType, subjectId: string): string {
  return `${subjectType}\u0000${subjectId}`;
}
