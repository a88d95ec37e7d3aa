import { randomUUID } from 'node:crypto';
import type { Database } from './database.js';
import type { VendorName } from '../vendors/vendor-name.js';

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
  now?: Date;
}

/**
 * Shared batches in the ledger (Invariant 7): tasks join the open batch for their vendor, kind and
 * scope; one batch job does the vendor work for all members and writes each member's result.
 * A batch that has started running takes no more members: late joiners open the next one.
 */
export class BatchLedger {
  constructor(private readonly db: Database) {}

  /**
   * Joins the task to the open batch (or opens one). Joining again returns the task's latest
   * membership unchanged, so a re-delivered job does not join twice.
   */
  async join(input: JoinBatchInput): Promise<{ batch: BatchRecord; member: BatchMember; opened: boolean }> {
    const now = input.now ?? new Date();
    return this.db.transaction(async (tx) => {
      const existing = await tx.query<BatchRow & { member_state: MemberState; member_result: Record<string, unknown> | null }>(
        `SELECT b.*, m.state AS member_state, m.result AS member_result FROM batch_members m JOIN batches b ON b.id = m.batch_id
          WHERE m.task_id = $1 AND b.kind = $2 AND m.state <> 'detached' ORDER BY m.joined_at DESC LIMIT 1`,
        [input.taskId, input.kind],
      );
      const found = existing.rows[0];
      if (found) {
        const member: BatchMember = { batchId: found.id, taskId: input.taskId, requestId: input.requestId, state: found.member_state, result: found.member_result };
        return { batch: toBatch(found), member, opened: false };
      }

      // Joiners of one scope take turns: without this, a burst of first joiners each finds no open
      // batch and opens its own (one vendor export per joiner instead of one per window).
      await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [`batch|${input.vendor}|${input.kind}|${input.scope}`]);
      const open = await tx.query<BatchRow>(
        `SELECT * FROM batches WHERE vendor = $1 AND kind = $2 AND scope = $3 AND state = 'open' AND member_count < max_members
          ORDER BY created_at LIMIT 1 FOR UPDATE`,
        [input.vendor, input.kind, input.scope],
      );
      let row = open.rows[0];
      let opened = false;
      if (!row) {
        const created = await tx.query<BatchRow>(
          `INSERT INTO batches (id, vendor, kind, scope, state, max_members, closes_at) VALUES ($1, $2, $3, $4, 'open', $5, $6) RETURNING *`,
          [randomUUID(), input.vendor, input.kind, input.scope, input.maxMembers, new Date(now.getTime() + input.windowMs)],
        );
        row = created.rows[0]!;
        opened = true;
      }
      const { rows } = await tx.query<BatchRow>(
        `UPDATE batches SET member_count = member_count + 1, updated_at = now(),
           closes_at = CASE WHEN member_count + 1 >= max_members THEN LEAST(closes_at, $2) ELSE closes_at END
         WHERE id = $1 RETURNING *`,
        [row.id, now],
      );
      const member = await tx.query<MemberRow>(`INSERT INTO batch_members (batch_id, task_id, request_id) VALUES ($1, $2, $3) RETURNING *`, [row.id, input.taskId, input.requestId]);
      return { batch: toBatch(rows[0]!), member: toMember(member.rows[0]!), opened };
    });
  }

  async get(batchId: string): Promise<BatchRecord | undefined> {
    const { rows } = await this.db.query<BatchRow>(`SELECT * FROM batches WHERE id = $1`, [batchId]);
    return rows[0] ? toBatch(rows[0]) : undefined;
  }

  /** Closes the batch to new members and counts an attempt. Returns undefined when it already ended. */
  async start(batchId: string): Promise<BatchRecord | undefined> {
    const { rows } = await this.db.query<BatchRow>(
      `UPDATE batches SET state = 'running', attempts = attempts + 1, updated_at = now() WHERE id = $1 AND state IN ('open', 'running') RETURNING *`,
      [batchId],
    );
    return rows[0] ? toBatch(rows[0]) : undefined;
  }

  async members(batchId: string): Promise<BatchMember[]> {
    const { rows } = await this.db.query<MemberRow>(`SELECT * FROM batch_members WHERE batch_id = $1 AND state <> 'detached' ORDER BY joined_at, task_id`, [batchId]);
    return rows.map(toMember);
  }

  async checkpoint(batchId: string, evidence: Record<string, unknown>): Promise<void> {
    await this.db.query(`UPDATE batches SET evidence = evidence || $2::jsonb, updated_at = now() WHERE id = $1`, [batchId, JSON.stringify(evidence)]);
  }

  /**
   * Writes every member's result and ends the batch, in one transaction. Only the first run to
   * finish wins: a second run of the same batch (a job that lost its lock and ran twice) gets
   * `false` and changes nothing, so it cannot overwrite results with what it saw later.
   */
  async complete(batchId: string, evidence: Record<string, unknown>, results: Map<string, { state: 'done' | 'failed'; result: Record<string, unknown> }>): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `UPDATE batches SET state = 'done', evidence = evidence || $2::jsonb, error = NULL, finished_at = now(), updated_at = now()
         WHERE id = $1 AND state IN ('open', 'running') RETURNING id`,
        [batchId, JSON.stringify(evidence)],
      );
      if (rows.length === 0) return false;
      for (const [taskId, r] of results) {
        await tx.query(`UPDATE batch_members SET state = $3, result = $4::jsonb WHERE batch_id = $1 AND task_id = $2`, [batchId, taskId, r.state, JSON.stringify(r.result)]);
      }
      return true;
    });
  }

  /**
   * The batch failed for good: its members are detached so that each can join a new batch
   * (nothing in a failed batch is lost). `error` must hold no identifier.
   */
  async fail(batchId: string, error: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`UPDATE batch_members SET state = 'detached' WHERE batch_id = $1 AND state = 'waiting'`, [batchId]);
      await tx.query(`UPDATE batches SET state = 'failed', error = $2, finished_at = now(), updated_at = now() WHERE id = $1`, [batchId, error]);
    });
  }

  /** Every member, detached ones included (after a failure, to wake them). */
  async membersOf(batchId: string): Promise<BatchMember[]> {
    const { rows } = await this.db.query<MemberRow>(`SELECT * FROM batch_members WHERE batch_id = $1`, [batchId]);
    return rows.map(toMember);
  }

  /** How many batches of this kind the task has been detached from (to stop re-batching after a few). */
  async detachedCount(taskId: string, kind: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM batch_members m JOIN batches b ON b.id = m.batch_id WHERE m.task_id = $1 AND b.kind = $2 AND m.state = 'detached'`,
      [taskId, kind],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** Batches not yet ended, oldest first (for the reconciler and for the benchmark). */
  async unfinished(limit: number): Promise<BatchRecord[]> {
    const { rows } = await this.db.query<BatchRow>(`SELECT * FROM batches WHERE state IN ('open', 'running') ORDER BY updated_at LIMIT $1`, [limit]);
    return rows.map(toBatch);
  }

  async count(vendor: VendorName, kind: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM batches WHERE vendor = $1 AND kind = $2`, [vendor, kind]);
    return Number(rows[0]?.n ?? 0);
  }
}

interface BatchRow {
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

interface MemberRow {
  batch_id: string;
  task_id: string;
  request_id: string;
  state: MemberState;
  result: Record<string, unknown> | null;
}

function toBatch(row: BatchRow): BatchRecord {
  return {
    id: row.id,
    vendor: row.vendor,
    kind: row.kind,
    scope: row.scope,
    state: row.state,
    maxMembers: Number(row.max_members),
    memberCount: Number(row.member_count),
    closesAt: new Date(row.closes_at),
    evidence: row.evidence ?? {},
    error: row.error,
    attempts: Number(row.attempts),
    createdAt: new Date(row.created_at),
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
  };
}

function toMember(row: MemberRow): BatchMember {
  return { batchId: row.batch_id, taskId: row.task_id, requestId: row.request_id, state: row.state, result: row.result };
}
