import type { Database } from './database.js';
import { appendAuditEvent } from './audit-log.js';
import { allows, stateIn, type Transition } from './task-transitions.js';
import type { ChainEntry } from '../receipts/audit-chain.js';
import type { Instructions } from '../scope-deletions/scope-kinds.js';

/**
 * A guided scope deletion's life: `drafted` (instructions ready; cancel just drops it) → `sent`
 * (the operator did it at the vendor; the vendor's clock runs) → `confirmed` (the vendor's
 * confirmation recorded as evidence). Within a vendor's cancel window a sent one goes to
 * `cancel_requested` (the cancellation e-mail drafted) and then `cancelled` once the vendor
 * confirms. `overdue` is not stored: it is a sent one past `expected_by` (src/scope-deletions/scope-deletions.ts).
 */
export const SCOPE_DELETION_STATUSES = ['drafted', 'sent', 'cancel_requested', 'confirmed', 'cancelled'] as const;
export type ScopeDeletionStatus = (typeof SCOPE_DELETION_STATUSES)[number];

/** Every change of a guided scope deletion's status, as data (Invariant 9); each write's guard derives from it. */
export const SCOPE_DELETION_TRANSITIONS = {
  send: { from: ['drafted'], to: ['sent'] },
  confirm: { from: ['sent'], to: ['confirmed'] },
  cancelDraft: { from: ['drafted'], to: ['cancelled'] },
  requestCancel: { from: ['sent'], to: ['cancel_requested'] },
  confirmCancel: { from: ['cancel_requested'], to: ['cancelled'] },
} as const satisfies Record<string, Transition<ScopeDeletionStatus>>;
export type ScopeDeletionTransition = keyof typeof SCOPE_DELETION_TRANSITIONS;

const guard = (name: ScopeDeletionTransition) => stateIn(SCOPE_DELETION_TRANSITIONS[name].from, 'status');

export function mayScopeDeletionMove(name: ScopeDeletionTransition, from: ScopeDeletionStatus): boolean {
  return allows(SCOPE_DELETION_TRANSITIONS[name], from);
}

export interface ScopeDeletionRecord {
  id: string;
  kind: string;
  vendor: string;
  scope: string;
  fields: Record<string, unknown>;
  reason: string;
  requestedBy: string;
  status: ScopeDeletionStatus;
  instructions: Instructions;
  sentAt: Date | null;
  sentBy: string | null;
  sentReference: string | null;
  /** Until when the vendor lets a sent one be cancelled (null: it does not, or not sent yet). */
  cancelDeadline: Date | null;
  /** When the vendor should have finished; past it and not confirmed, the deletion is overdue. */
  expectedBy: Date | null;
  evidence: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

interface Row {
  id: string;
  kind: string;
  vendor: string;
  scope: string;
  fields: Record<string, unknown>;
  reason: string;
  requested_by: string;
  status: ScopeDeletionStatus;
  instructions: Instructions;
  sent_at: Date | null;
  sent_by: string | null;
  sent_reference: string | null;
  cancel_deadline: Date | null;
  expected_by: Date | null;
  evidence: Record<string, unknown>;
  created_at: Date;
  updated_at: Date;
}

const date = (d: Date | string | null) => (d ? new Date(d) : null);

function toRecord(r: Row): ScopeDeletionRecord {
  return {
    id: r.id,
    kind: r.kind,
    vendor: r.vendor,
    scope: r.scope,
    fields: r.fields,
    reason: r.reason,
    requestedBy: r.requested_by,
    status: r.status,
    instructions: r.instructions,
    sentAt: date(r.sent_at),
    sentBy: r.sent_by,
    sentReference: r.sent_reference,
    cancelDeadline: date(r.cancel_deadline),
    expectedBy: date(r.expected_by),
    evidence: r.evidence,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** What a guarded write did: applied, or refused because the record is elsewhere (its status then). */
export interface ScopeWriteResult {
  applied: boolean;
  record: ScopeDeletionRecord | undefined;
}

/**
 * The ledger of guided scope deletions. Times come from `now` (the ledger's clock: real time in
 * the service, moved by hand in tests), so the vendor's clock (cancel deadlines, overdue) is
 * measured on one clock. Each deletion has its own hash-chained audit trail.
 */
export class ScopeDeletionLedger {
  constructor(
    private readonly db: Database,
    readonly now: () => Date = () => new Date(),
  ) {}

  async create(input: {
    id: string;
    kind: string;
    vendor: string;
    scope: string;
    fields: Record<string, unknown>;
    reason: string;
    actor: string;
    instructions: Instructions;
  }): Promise<ScopeDeletionRecord> {
    const at = this.now();
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `INSERT INTO scope_deletions (id, kind, vendor, scope, fields, reason, requested_by, status, instructions, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, 'drafted', $8::jsonb, $9, $9) RETURNING *`,
        [
          input.id,
          input.kind,
          input.vendor,
          input.scope,
          JSON.stringify(input.fields),
          input.reason,
          input.actor,
          JSON.stringify(input.instructions),
          at,
        ],
      );
      await appendAuditEvent(tx, input.id, input.actor, 'scope_deletion.requested', {
        kind: input.kind,
        scope: input.scope,
        reason: input.reason,
      });
      return toRecord(rows[0]);
    });
  }

  async get(id: string): Promise<ScopeDeletionRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT * FROM scope_deletions WHERE id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async list(limit: number, status?: ScopeDeletionStatus): Promise<ScopeDeletionRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM scope_deletions ${status ? 'WHERE status = $2' : ''} ORDER BY created_at DESC, id LIMIT $1`,
      status ? [limit, status] : [limit],
    );
    return rows.map(toRecord);
  }

  /** The operator did it at the vendor: when, under which reference; the vendor's clock starts then. */
  async markSent(
    id: string,
    actor: string,
    sent: { at: Date; reference: string; cancelDeadline: Date | null; expectedBy: Date },
  ): Promise<ScopeWriteResult> {
    return this.move(
      'send',
      id,
      actor,
      'scope_deletion.sent',
      { sentAt: sent.at.toISOString(), reference: sent.reference },
      `sent_at = $4, sent_by = $5, sent_reference = $6, cancel_deadline = $7, expected_by = $8`,
      [sent.at, actor, sent.reference, sent.cancelDeadline, sent.expectedBy],
    );
  }

  /** The vendor confirmed: its answer is the evidence. */
  async confirm(id: string, actor: string, evidence: Record<string, unknown>): Promise<ScopeWriteResult> {
    return this.move(
      'confirm',
      id,
      actor,
      'scope_deletion.confirmed',
      evidence,
      `evidence = evidence || jsonb_build_object('confirmation', $4::jsonb)`,
      [JSON.stringify(evidence)],
    );
  }

  async cancelDraft(id: string, actor: string, reason: string): Promise<ScopeWriteResult> {
    return this.move(
      'cancelDraft',
      id,
      actor,
      'scope_deletion.cancelled',
      { reason },
      `evidence = evidence || jsonb_build_object('cancel', $4::jsonb)`,
      [JSON.stringify({ at: this.now().toISOString(), reason, sentToVendor: false })],
    );
  }

  /** Within the vendor's cancel window: the cancellation e-mail is drafted; the operator sends it. */
  async requestCancel(
    id: string,
    actor: string,
    reason: string,
    cancellation: Instructions,
  ): Promise<ScopeWriteResult> {
    return this.move(
      'requestCancel',
      id,
      actor,
      'scope_deletion.cancel_requested',
      { reason },
      `evidence = evidence || jsonb_build_object('cancel', $4::jsonb)`,
      [JSON.stringify({ at: this.now().toISOString(), reason, cancellation })],
    );
  }

  async confirmCancel(id: string, actor: string, evidence: Record<string, unknown>): Promise<ScopeWriteResult> {
    return this.move(
      'confirmCancel',
      id,
      actor,
      'scope_deletion.cancelled',
      evidence,
      `evidence = evidence || jsonb_build_object('cancelConfirmation', $4::jsonb)`,
      [JSON.stringify(evidence)],
    );
  }

  /** A cancel the vendor's rules refuse: nothing changes but the audit trail, which records the attempt. */
  async auditRefusal(id: string, actor: string, action: string, detail: Record<string, unknown>): Promise<void> {
    await this.db.transaction((tx) => appendAuditEvent(tx, id, actor, action, detail));
  }

  async auditTrail(id: string): Promise<ChainEntry[]> {
    const { rows } = await this.db.query<{
      id: number | string;
      at: Date;
      request_id: string | null;
      actor: string;
      action: string;
      detail: Record<string, unknown>;
      prev_hash: string | null;
      hash: string;
    }>(
      `SELECT id, at, request_id, actor, action, detail, prev_hash, hash FROM audit_events WHERE request_id = $1 ORDER BY id LIMIT 10000`,
      [id],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      requestId: r.request_id,
      actor: r.actor,
      action: r.action,
      detail: r.detail,
      prevHash: r.prev_hash,
      hash: r.hash,
    }));
  }

  /** The one guarded write: applies only from a status the transition allows, with its audit entry in the same transaction. */
  private async move(
    name: ScopeDeletionTransition,
    id: string,
    actor: string,
    action: string,
    detail: Record<string, unknown>,
    set: string,
    params: unknown[],
  ): Promise<ScopeWriteResult> {
    const to = SCOPE_DELETION_TRANSITIONS[name].to[0];
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `UPDATE scope_deletions SET status = $2, updated_at = $3, ${set} WHERE id = $1 AND ${guard(name)} RETURNING *`,
        [id, to, this.now(), ...params],
      );
      if (!rows[0]) {
        const { rows: current } = await tx.query<Row>(`SELECT * FROM scope_deletions WHERE id = $1`, [id]);
        return { applied: false, record: current[0] ? toRecord(current[0]) : undefined };
      }
      await appendAuditEvent(tx, id, actor, action, detail);
      return { applied: true, record: toRecord(rows[0]) };
    });
  }
}
