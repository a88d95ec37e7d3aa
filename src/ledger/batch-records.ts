import type { VendorName } from '../vendors/vendor-name.js';

// Shared batches and their members as src/ledger/batch-ledger.ts hands them out, and the rows they are read from.

export type BatchState = 'open' | 'running' | 'done' | 'failed';
export type MemberState = 'waiting' | 'done' | 'failed' | 'detached';

export interface BatchRecord {
  id: string;
  vendor: VendorName;
  kind: string;
  scope: string;
  state: BatchState;
  maxMembers: number;
  memberCount: number;
  closesAt: Date;
  evidence: Record<string, unknown>;
  error: string | null;
  attempts: number;
  createdAt: Date;
  finishedAt: Date | null;
}

export interface BatchMember {
  batchId: string;
  taskId: string;
  requestId: string;
  state: MemberState;
  result: Record<string, unknown> | null;
}

export interface JoinBatchInput {
  vendor: VendorName;
  /** The batch job's name, e.g. `export-segment`. */
  kind: string;
  /** What the batch is about, e.g. `app/<id>`: only members with the same scope share a batch. */
  scope: string;
  taskId: string;
  requestId: string;
  /** How long a new batch stays open for more members. */
  windowMs: number;
  /** A batch closes early when it has this many members. */
  maxMembers: number;
  /** How many failed batches a task may be moved out of and still join a new one. @defaultValue unlimited */
  maxRebatches?: number;
  /**
   * For batches whose work so far is not particular to their members (they `reopen` while they
   * wait for the vendor): join the scope's batch even while it runs. A member that joined during
   * the run that ended the batch is carried into a new batch (`complete`). @defaultValue false
   */
  joinWhileRunning?: boolean;
  now?: Date;
}

/** A joined task's membership, and whether the task opened the batch. */
export interface JoinResult {
  batch: BatchRecord;
  member: BatchMember;
  opened: boolean;
}

export interface BatchRow {
  id: string;
  vendor: VendorName;
  kind: string;
  scope: string;
  state: BatchState;
  max_members: number;
  member_count: number;
  closes_at: Date;
  evidence: Record<string, unknown>;
  error: string | null;
  attempts: number;
  created_at: Date;
  finished_at: Date | null;
}

/** A batch row with the joining task's membership. */
export type JoinedRow = BatchRow & { member_state: MemberState; member_result: Record<string, unknown> | null };

export interface MemberRow {
  batch_id: string;
  task_id: string;
  request_id: string;
  state: MemberState;
  result: Record<string, unknown> | null;
}

export function toBatch(row: BatchRow): BatchRecord {
  return {
    id: row.id,
    vendor: row.vendor,
    kind: row.kind,
    scope: row.scope,
    state: row.state,
    maxMembers: row.max_members,
    memberCount: row.member_count,
    closesAt: new Date(row.closes_at),
    evidence: row.evidence,
    error: row.error,
    attempts: row.attempts,
    createdAt: new Date(row.created_at),
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
  };
}

export function toMember(row: MemberRow): BatchMember {
  return {
    batchId: row.batch_id,
    taskId: row.task_id,
    requestId: row.request_id,
    state: row.state,
    result: row.result,
  };
}
