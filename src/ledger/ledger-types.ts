import type { VendorName } from '../vendors/vendor-name.js';

/** README.md, Task and request states. */
export const REQUEST_STATUSES = [
  'received',
  'scheduled',
  'in_progress',
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];
export const FINAL_REQUEST_STATUSES: readonly RequestStatus[] = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];

export const TASK_STATES = [
  'queued',
  'running',
  'waiting_vendor',
  'rate_limited',
  'waiting_manual',
  'succeeded',
  'not_found',
  'failed',
  'skipped',
  'cancelled',
] as const;
export type TaskState = (typeof TASK_STATES)[number];
/** States a task ends in. `failed` is final until an operator retries it. */
export const TERMINAL_TASK_STATES: readonly TaskState[] = ['succeeded', 'not_found', 'failed', 'skipped', 'cancelled'];
/** Terminal states a re-delivered job must not undo (at-least-once delivery, Invariant 3). */
export const SETTLED_TASK_STATES: readonly TaskState[] = ['succeeded', 'not_found', 'skipped', 'cancelled'];

export type Regulation = 'gdpr' | 'ccpa';

export interface RequestRecord {
  id: string;
  /** The client that submitted it: the submitting token's name (README.md, Clients, roles and idempotency). */
  client: string;
  kind: string;
  regulation: Regulation;
  status: RequestStatus;
  vendors: VendorName[];
  /** Keyed hash of the person's first identifier: safe to show operators. */
  subjectHash: string;
  callbackUrl: string | null;
  /** Where the request came from: 'native' (`/v1`) or 'opendsr' (`/v2`); callbacks follow its format. */
  origin: string;
  submittedAt: Date;
  dueAt: Date;
  notBefore: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What the planner decides a task is: vendor × resource × action, and the job that does it. */
export interface TaskSpec {
  id: string;
  vendor: VendorName;
  /** The vendor resource, e.g. `app/<pinpoint app id>`; never an identifier of a person. */
  resource: string;
  action: string;
  queue: string;
  jobName: string;
  /** Tasks the planner already knows cannot run (with why) start as skipped. */
  initialState?: 'queued' | 'skipped' | 'waiting_manual';
  /** Why a skipped task was skipped, or a manual task's instructions (never identifiers). */
  waitingReason?: string;
}

export interface TaskRecord extends Required<Omit<TaskSpec, 'initialState' | 'waitingReason'>> {
  requestId: string;
  state: TaskState;
  attempts: number;
  evidence: Record<string, unknown>;
  error: string | null;
  waitingReason: string | null;
  nextActionAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  updatedAt: Date;
}

/** A request moved from one status to another (committed): what status callbacks are sent for. */
export interface StatusChange {
  request: RequestRecord;
  from: RequestStatus;
  to: RequestStatus;
}
