/**
 * Rows of the `requests` and `tasks` tables as the driver returns them, and the records the ledger
 * answers with. Shared by the ledger modules that own those tables.
 */
import type { Regulation, RequestRecord, RequestStatus, TaskRecord, TaskState } from './ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';

/** A vault row: a shredded one has no sealed value left. */
export interface SealedIdentity {
  kind: string;
  sealed: string | null;
}

export interface RequestRow {
  id: string;
  idempotency_hash: string | null;
  idempotency_fingerprint: string | null;
  client: string;
  kind: string;
  regulation: Regulation;
  status: RequestStatus;
  vendors: VendorName[];
  subject_hash: string;
  callback_url: string | null;
  origin: string | null;
  submitted_at: Date;
  due_at: Date;
  not_before: Date | null;
  finished_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export interface TaskRow {
  id: string;
  request_id: string;
  vendor: VendorName;
  resource: string;
  action: string;
  queue: string;
  job_name: string;
  state: TaskState;
  attempts: number;
  evidence: Record<string, unknown>;
  error: string | null;
  waiting_reason: string | null;
  next_action_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

export function toRequest(row: RequestRow): RequestRecord {
  return {
    id: row.id,
    client: row.client,
    kind: row.kind,
    regulation: row.regulation,
    status: row.status,
    vendors: row.vendors,
    subjectHash: row.subject_hash,
    callbackUrl: row.callback_url,
    origin: row.origin ?? 'native',
    submittedAt: new Date(row.submitted_at),
    dueAt: new Date(row.due_at),
    notBefore: row.not_before ? new Date(row.not_before) : null,
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

export function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    requestId: row.request_id,
    vendor: row.vendor,
    resource: row.resource,
    action: row.action,
    queue: row.queue,
    jobName: row.job_name,
    state: row.state,
    attempts: row.attempts,
    evidence: row.evidence,
    error: row.error,
    waitingReason: row.waiting_reason,
    nextActionAt: row.next_action_at ? new Date(row.next_action_at) : null,
    startedAt: row.started_at ? new Date(row.started_at) : null,
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    updatedAt: new Date(row.updated_at),
  };
}

export function encodeCursor(request: RequestRecord): string {
  return Buffer.from(`${request.createdAt.toISOString()}|${request.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): [Date, string] {
  const [at = '', id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at);
  if (!id || Number.isNaN(date.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw new RangeError('invalid cursor');
  return [date, id];
}

/** SQL: the task is a manual step an operator has recorded as sent to the vendor (markManualTaskSent). */
export const SENT_MANUAL_STEP = `(job_name = 'manual' AND evidence ? 'sent')`;
