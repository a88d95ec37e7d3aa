import type { IdentifierKind, Subject } from '../privacy/subject.js';
import type { PinpointClient } from '../vendors/pinpoint-client.js';
import type { S3VendorClient } from '../vendors/s3-client.js';
import type { AmplitudeClient } from '../vendors/amplitude-client.js';
import type { SegmentClient } from '../vendors/segment-client.js';
import type { AppCenterClient } from '../vendors/appcenter-client.js';
import type { ScopeSightings } from '../ledger/scope-sightings.js';

/** What a processor gets for one run of one task. Plain data plus two callbacks. */
export interface TaskInput {
  requestId: string;
  taskId: string;
  /** The vendor resource the task is about, e.g. `app/<pinpoint app id>`. */
  resource: string;
  /** The person's identifiers, opened from the vault for this run only. Never log or return them. */
  subject: Subject;
  /** 1 for the first run. */
  attempt: number;
  /** Evidence saved by earlier runs of this task (after a crash or retry). */
  previous: Record<string, unknown>;
  /** Saves evidence now, before a destructive call, so a re-run knows what happened. */
  checkpoint(evidence: Record<string, unknown>): Promise<void>;
  /**
   * Joins (or re-reads) this task's membership of a shared batch (Invariant 7). While the batch
   * is open or running the answer is `waiting`: return `waiting_vendor` and the task runs again
   * when the batch ends. A batch that failed for good is joined anew, up to `maxRebatches`.
   */
  awaitBatch(request: BatchRequest): Promise<BatchOutcome>;
  signal?: AbortSignal;
}

/** Which shared batch a task belongs in. */
export interface BatchRequest {
  /** The batch job's name in this vendor's queue, e.g. `export-segment`. */
  kind: string;
  /** Only tasks with the same scope share a batch, e.g. `app/<id>`. */
  scope: string;
  /** How long a new batch waits for more members. */
  windowMs: number;
  /** A batch starts early once it has this many members. */
  maxMembers: number;
  /** Fresh batches to try after batches that failed for good. @defaultValue 3 */
  maxRebatches?: number;
  /**
   * For batches whose work is shared by whoever joins (they are `openToLateMembers`): join the
   * scope's batch even while it runs, rather than open another. @defaultValue false
   */
  joinWhileRunning?: boolean;
}

export type BatchOutcome =
  | { state: 'waiting'; batchId: string; closesAt: Date }
  | { state: 'done'; batchId: string; result: Record<string, unknown> }
  | { state: 'failed'; batchId: string; result: Record<string, unknown> };

/** One member of a batch, as the batch processor sees it. */
export interface BatchMemberInput {
  taskId: string;
  requestId: string;
  /** Opened from the vault for this run only. Never log or return it. */
  subject: Subject;
}

export interface BatchInput {
  batchId: string;
  scope: string;
  members: BatchMemberInput[];
  attempt: number;
  /** Evidence saved by earlier runs of this batch (e.g. the vendor's job id while polling). */
  previous: Record<string, unknown>;
  checkpoint(evidence: Record<string, unknown>): Promise<void>;
  /**
   * Seals an identifier the vendor revealed for a member (e.g. the Amplitude ID a user id maps to)
   * into that request's vault, unless it already has one of that kind, so later steps (withdrawing
   * after a cancel) can use it. Never put such an identifier in evidence instead.
   */
  rememberIdentifier?(requestId: string, kind: IdentifierKind, value: string): Promise<void>;
  signal?: AbortSignal;
}

/** Per member: `done` (with what the member needs next) or `failed` (with a reason free of identifiers). */
export interface MemberResult {
  state: 'done' | 'failed';
  result: Record<string, unknown>;
}

export type BatchResult =
  | { outcome: 'done'; evidence: Evidence; members: Map<string, MemberResult> }
  | {
      outcome: 'waiting_vendor';
      evidence: Evidence;
      pollAfterMs: number;
      reason: string;
      /**
       * True when nothing the batch has done so far is particular to its members (e.g. polling a
       * vendor job they all share): the batch takes new members of its scope while it waits,
       * instead of their opening a batch of their own. @defaultValue false
       */
      openToLateMembers?: boolean;
    };

/** A batch job processor: one vendor call (or export, or scan) for every member at once. */
export type BatchProcessor<C = unknown> = ((input: BatchInput, deps: ProcessorDeps<C>) => Promise<BatchResult>) & {
  /**
   * Its runs change objects every run of the scope reads (an S3 location's files, an App Center
   * app's notifications): one batch of a scope runs at a time across all processes, and the next
   * takes every member that arrives meanwhile (BatchLedger.startAlone). Two at once would rewrite
   * a file from a version the other had already replaced, and put back rows it had removed.
   */
  readonly oneRunPerScope?: boolean;
};

/** Evidence is what a receipt shows: counts, vendor ids, verification. Never an identifier of a person. */
export type Evidence = Record<string, unknown>;

export type TaskResult =
  | { outcome: 'succeeded' | 'not_found' | 'skipped'; evidence: Evidence }
  /** The vendor is still working (an async job): run again after `pollAfterMs`. */
  | { outcome: 'waiting_vendor'; evidence: Evidence; pollAfterMs: number; reason: string };

/**
 * What a task or batch processor gets besides its input: its own vendor's client (the one its
 * connector's `createClient` made; absent when this worker has no settings for the vendor), and
 * the scopes seen to exist. Never another vendor's client.
 */
export interface ProcessorDeps<C> {
  client: C | undefined;
  /** Scopes seen to exist (src/ledger/scope-sightings.ts): lets an app seen before that answers 404 end `scope_gone`. */
  scopeSightings?: ScopeSightings;
}

/**
 * The built-in vendors' clients by vendor name, for the parts that talk to several vendors
 * (preflight, canaries, scope lookups, project deletion); injected so tests can pass the
 * sandbox-backed real clients or fakes.
 */
export type VendorClients = {
  pinpoint?: PinpointClient;
  s3?: S3VendorClient;
  amplitude?: AmplitudeClient;
  segment?: SegmentClient;
  appcenter?: AppCenterClient;
  /** Scopes seen to exist (src/ledger/scope-sightings.ts): lets an app seen before that answers 404 end `scope_gone`. */
  scopeSightings?: ScopeSightings;
};

/** A job processor: a function of the task and its dependencies, with no wiring of its own. */
export type TaskProcessor<C = unknown> = (input: TaskInput, deps: ProcessorDeps<C>) => Promise<TaskResult>;

/** Parses `kind/value` resource strings, e.g. `app/123`. */
export function resourceValue(resource: string, kind: string): string {
  const prefix = `${kind}/`;
  if (!resource.startsWith(prefix)) throw new Error(`resource ${resource} is not a ${kind}`);
  return resource.slice(prefix.length);
}

/** The processor's own vendor client; `vendor` only names it in the error when this worker has none. */
export function requireClient<C>(deps: ProcessorDeps<C>, vendor: string): C {
  if (deps.client === undefined) throw new Error(`no ${vendor} client is configured in this worker`);
  return deps.client;
}

/**
 * The clients a worker holds, by vendor name (each connector's `createClient`), and the scopes
 * seen to exist. Runners hand each processor its own vendor's slot only (`processorDeps`).
 */
export type WorkerClients = Readonly<Record<string, unknown>> & { scopeSightings?: ScopeSightings };

/** What a processor of `vendor` gets: that vendor's client alone, and the scope sightings. */
export function processorDeps(clients: WorkerClients, vendor: string): ProcessorDeps<unknown> {
  return { client: clients[vendor], scopeSightings: clients.scopeSightings };
}

/** A built-in vendor's client from the bag (for code that talks to several vendors). */
export function requireVendorClient<K extends keyof VendorClients>(
  deps: VendorClients,
  name: K,
): NonNullable<VendorClients[K]> {
  const client = deps[name];
  if (!client) throw new Error(`no ${name} client is configured in this worker`);
  return client;
}

/**
 * How long a member of a shared batch sleeps between looks at it when nobody wakes it. The batch
 * runner wakes every member when the batch ends (src/workers/batch-runner.ts), so this is only a
 * safety net: at least ten minutes, and never shorter than the vendor's own poll interval.
 */
export function memberFallbackPollMs(pollIntervalMs: number): number {
  return Math.max(10 * 60_000, pollIntervalMs);
}

/** A member of a windowed batch (export, S3 scan) looks again this long at the latest while its batch is not done. */
const WINDOW_BATCH_FALLBACK_POLL_MS = 5 * 60_000;
/** ...and one whose batch is still open looks again this soon after the window closes. */
const AFTER_CLOSE_POLL_MS = 30_000;

/**
 * When a member of a windowed batch that is not done yet looks again on its own: shortly after
 * the window closes, or after the fallback if that is sooner or the window has closed. The batch
 * runner wakes members when the batch ends, so this only matters when that wake is lost.
 */
export function windowBatchPollMs(closesAt: Date, now = Date.now()): number {
  const untilClose = closesAt.getTime() - now;
  return untilClose > 0
    ? Math.min(WINDOW_BATCH_FALLBACK_POLL_MS, untilClose + AFTER_CLOSE_POLL_MS)
    : WINDOW_BATCH_FALLBACK_POLL_MS;
}
