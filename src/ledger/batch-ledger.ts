import { randomUUID } from 'node:crypto';
import type { Database, Queryable } from './database.js';
import type { VendorName } from '../vendors/vendor-name.js';
import {
  toBatch,
  toMember,
  type BatchMember,
  type BatchRecord,
  type BatchRow,
  type BatchState,
  type JoinBatchInput,
  type JoinedRow,
  type JoinResult,
  type MemberRow,
  type MemberState,
} from './batch-records.js';

export type { BatchMember, BatchRecord, BatchState, JoinBatchInput, JoinResult, MemberState };

const MAX_INT = 2_147_483_647;
/**
 * How far back the reconciler looks for members still asleep after their batch ended. A member
 * sleeps at most its fallback poll (`memberFallbackPollMs`, `windowBatchPollMs` in
 * src/connectors/processor-contract.ts: minutes, or the vendor's poll interval), so one whose batch ended an
 * hour ago has in practice woken by itself; the bound keeps each sweep to recent batches.
 */
const SLEEPER_LOOKBACK_MS = 60 * 60_000;

/**
 * Shared batches in the ledger (Invariant 7): tasks join the open batch for their vendor, kind and
 * scope; one batch job does the vendor work for all members and writes each member's result.
 * A batch that has started running takes no more members: late joiners open the next one, unless
 * its work is shared by whoever joins (`joinWhileRunning`, `reopen`).
 */
export class BatchLedger {
  constructor(private readonly db: Database) {}

  /**
   * Operator-retried tasks leave the batches that failed them (call in the retry's transaction):
   * a retried task must join a new shared batch, not re-read the one that failed it.
   */
  async detachFailedMembers(tx: Queryable, taskIds: readonly string[]): Promise<void> {
    await tx.query(`UPDATE batch_members SET state = 'detached' WHERE task_id = ANY($1) AND state = 'failed'`, [
      taskIds,
    ]);
  }

  /**
   * Joins the task to the open batch (or, with `joinWhileRunning`, the running one), or opens one.
   * Joining again returns the task's latest membership unchanged, so a re-delivered job does not
   * join twice. Returns undefined when the task would need a new batch but has already been
   * detached from more than `maxRebatches` batches of this kind (each failed for good): it must
   * not join another.
   */
  async join(input: JoinBatchInput): Promise<JoinResult | undefined> {
    const now = input.now ?? new Date();
    return this.db.transaction(async (tx) => {
      // The task's own membership needs no lock; a new one does. Joiners of one scope take turns:
      // without this, a burst of first joiners each finds no open batch and opens its own (one
      // vendor export per joiner instead of one per window).
      const { rows: seen } = await tx.query<Partial<JoinedRow> & { detached: number }>(
        `SELECT e.*, d.detached,
                CASE WHEN e.id IS NULL AND d.detached <= $3 THEN pg_advisory_xact_lock(hashtext($4)) END AS scope_locked
           FROM (SELECT count(*)::int AS detached FROM batch_members m JOIN batches b ON b.id = m.batch_id
                  WHERE m.task_id = $1 AND b.kind = $2 AND m.state = 'detached') d
           LEFT JOIN LATERAL (
             SELECT b.*, m.state AS member_state, m.result AS member_result FROM batch_members m JOIN batches b ON b.id = m.batch_id
              WHERE m.task_id = $1 AND b.kind = $2 AND m.state <> 'detached' ORDER BY m.joined_at DESC LIMIT 1) e ON true`,
        [input.taskId, input.kind, input.maxRebatches ?? MAX_INT, `batch|${input.vendor}|${input.kind}|${input.scope}`],
      );
      const found = seen[0];
      if (found.id) return this.joined(found as JoinedRow, input, false);
      if (found.detached > (input.maxRebatches ?? MAX_INT)) return undefined;

      // Read after the lock: the open batch's count includes every joiner before this one.
      const { rows: into } = await tx.query<JoinedRow>(
        `WITH target AS (
           SELECT id FROM batches WHERE vendor = $1 AND kind = $2 AND scope = $3 AND member_count < max_members
              AND (state = 'open' OR ($7::boolean AND state = 'running'))
            ORDER BY created_at LIMIT 1 FOR UPDATE),
         bumped AS (
           UPDATE batches b SET member_count = b.member_count + 1, updated_at = now(),
             closes_at = CASE WHEN b.member_count + 1 >= b.max_members THEN LEAST(b.closes_at, $4) ELSE b.closes_at END
            FROM target WHERE b.id = target.id RETURNING b.*),
         member AS (INSERT INTO batch_members (batch_id, task_id, request_id) SELECT id, $5, $6 FROM bumped RETURNING state, result)
         SELECT bumped.*, member.state AS member_state, member.result AS member_result FROM bumped, member`,
        [input.vendor, input.kind, input.scope, now, input.taskId, input.requestId, input.joinWhileRunning ?? false],
      );
      if (into[0]) return this.joined(into[0], input, false);
      const { rows: opened } = await tx.query<JoinedRow>(
        `WITH opened AS (
           INSERT INTO batches (id, vendor, kind, scope, state, max_members, member_count, closes_at)
           VALUES ($1, $2, $3, $4, 'open', $5::int, 1, CASE WHEN $5::int <= 1 THEN $6::timestamptz ELSE $7::timestamptz END) RETURNING *),
         member AS (INSERT INTO batch_members (batch_id, task_id, request_id) SELECT id, $8, $9 FROM opened RETURNING state, result)
         SELECT opened.*, member.state AS member_state, member.result AS member_result FROM opened, member`,
        [
          randomUUID(),
          input.vendor,
          input.kind,
          input.scope,
          input.maxMembers,
          now,
          new Date(now.getTime() + input.windowMs),
          input.taskId,
          input.requestId,
        ],
      );
      return this.joined(opened[0], input, true);
    });
  }

  private joined(row: JoinedRow, input: JoinBatchInput, opened: boolean): JoinResult {
    const member: BatchMember = {
      batchId: row.id,
      taskId: input.taskId,
      requestId: input.requestId,
      state: row.member_state,
      result: row.member_result,
    };
    return { batch: toBatch(row), member, opened };
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

  /**
   * `start` for batches whose runs change the same vendor objects (an S3 scan rewrites every
   * object of its location; an App Center sweep reads and deletes every notification of its app):
   * only one batch of a scope runs at a time, whichever process holds its job. While another runs,
   * this one stays open, takes every member that arrives, and its close moves `retryAfterMs` on:
   * `busyUntil` is when its job should look again. So a window grows while the scope is busy
   * instead of a new batch opening beside it. Takes the joiners' lock of the scope (`join`).
   */
  async startAlone(
    batchId: string,
    retryAfterMs: number,
    now = new Date(),
  ): Promise<{ batch: BatchRecord } | { busyUntil: Date } | undefined> {
    return this.db.transaction(async (tx) => {
      // The lock first, in a statement of its own: a later statement's snapshot sees every start before it.
      const { rows: locked } = await tx.query<{ id: string }>(
        `SELECT id, pg_advisory_xact_lock(hashtext('batch|' || vendor || '|' || kind || '|' || scope)) FROM batches WHERE id = $1 AND state IN ('open', 'running')`,
        [batchId],
      );
      if (!locked[0]) return undefined;
      const { rows: found } = await tx.query<{ busy: boolean }>(
        `SELECT EXISTS (SELECT 1 FROM batches o WHERE o.vendor = b.vendor AND o.kind = b.kind AND o.scope = b.scope AND o.state = 'running' AND o.id <> b.id) AS busy
           FROM batches b WHERE b.id = $1 AND b.state IN ('open', 'running')`,
        [batchId],
      );
      if (!found[0]) return undefined;
      if (found[0].busy) {
        const busyUntil = new Date(now.getTime() + retryAfterMs);
        await tx.query(
          `UPDATE batches SET closes_at = GREATEST(closes_at, $2), updated_at = now() WHERE id = $1 AND state = 'open'`,
          [batchId, busyUntil],
        );
        return { busyUntil };
      }
      const { rows } = await tx.query<BatchRow>(
        `UPDATE batches SET state = 'running', attempts = attempts + 1, updated_at = now() WHERE id = $1 AND state IN ('open', 'running') RETURNING *`,
        [batchId],
      );
      return rows[0] ? { batch: toBatch(rows[0]) } : undefined;
    });
  }

  async members(batchId: string): Promise<BatchMember[]> {
    const { rows } = await this.db.query<MemberRow>(
      `SELECT * FROM batch_members WHERE batch_id = $1 AND state <> 'detached' ORDER BY joined_at, task_id`,
      [batchId],
    );
    return rows.map(toMember);
  }

  /** Members of cancelled requests in no batch done before (one may have sent them, e.g. Amplitude's submit before its poll). */
  async membersOfCancelledRequests(batchId: string): Promise<Set<string>> {
    const { rows } = await this.db.query<{ task_id: string }>(
      `SELECT m.task_id FROM batch_members m JOIN requests r ON r.id = m.request_id WHERE m.batch_id = $1 AND m.state <> 'detached' AND r.status = 'cancelled'
         AND NOT EXISTS (SELECT 1 FROM batch_members e JOIN batches b ON b.id = e.batch_id WHERE e.task_id = m.task_id AND e.batch_id <> m.batch_id AND b.state = 'done')`,
      [batchId],
    );
    return new Set(rows.map((r) => r.task_id));
  }

  /**
   * A running batch that waits for the vendor takes members again until `closesAt` (when it runs
   * next), with its evidence saved. Only for batches whose work so far is not particular to their
   * members; the others just checkpoint.
   */
  async reopen(batchId: string, evidence: Record<string, unknown>, closesAt: Date): Promise<void> {
    await this.db.query(
      `UPDATE batches SET state = 'open', closes_at = $3, evidence = evidence || $2::jsonb, updated_at = now() WHERE id = $1 AND state = 'running'`,
      [batchId, JSON.stringify(evidence), closesAt],
    );
  }

  async checkpoint(batchId: string, evidence: Record<string, unknown>): Promise<void> {
    await this.db.query(`UPDATE batches SET evidence = evidence || $2::jsonb, updated_at = now() WHERE id = $1`, [
      batchId,
      JSON.stringify(evidence),
    ]);
  }

  /**
   * Writes every member's result and ends the batch, in one transaction. Only the first run to
   * finish wins: a second run of the same batch (a job that lost its lock and ran twice) gets
   * `completed: false` and changes nothing, so it cannot overwrite results with what it saw later.
   * Members that joined while this run went on (`joinWhileRunning`: not in `ranWith`, the members
   * the run read) are carried into a new batch of the same scope, due now; its job is the
   * caller's to add.
   */
  async complete(
    batchId: string,
    evidence: Record<string, unknown>,
    results: Map<string, { state: 'done' | 'failed'; result: Record<string, unknown> }>,
    ranWith: string[],
  ): Promise<{ completed: boolean; carriedTo?: BatchRecord }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<BatchRow>(
        `UPDATE batches SET state = 'done', evidence = evidence || $2::jsonb, error = NULL, finished_at = now(), updated_at = now()
         WHERE id = $1 AND state IN ('open', 'running') RETURNING *`,
        [batchId, JSON.stringify(evidence)],
      );
      const ended = rows.at(0);
      if (!ended) return { completed: false };
      // One statement for every member: a Segment batch has up to 5,000.
      const members = [...results];
      await tx.query(
        `UPDATE batch_members m SET state = r.state, result = r.result::jsonb
           FROM unnest($2::text[], $3::text[], $4::text[]) AS r(task_id, state, result)
          WHERE m.batch_id = $1 AND m.task_id = r.task_id`,
        [
          batchId,
          members.map(([taskId]) => taskId),
          members.map(([, r]) => r.state),
          members.map(([, r]) => JSON.stringify(r.result)),
        ],
      );
      // The batch row is locked above, so no joiner can slip in after this look.
      const { rows: carried } = await tx.query<BatchRow>(
        `WITH late AS (
           SELECT task_id FROM batch_members WHERE batch_id = $1 AND state = 'waiting' AND NOT (task_id = ANY($2::text[]))),
         opened AS (
           INSERT INTO batches (id, vendor, kind, scope, state, max_members, member_count, closes_at)
           SELECT $3, $4, $5, $6, 'open', $7, count(*), now() FROM late HAVING count(*) > 0 RETURNING *),
         moved AS (
           UPDATE batch_members m SET batch_id = opened.id FROM opened, late WHERE m.batch_id = $1 AND m.task_id = late.task_id),
         left_behind AS (
           UPDATE batches b SET member_count = b.member_count - opened.member_count FROM opened WHERE b.id = $1)
         SELECT * FROM opened`,
        [batchId, ranWith, randomUUID(), ended.vendor, ended.kind, ended.scope, ended.max_members],
      );
      return { completed: true, ...(carried[0] ? { carriedTo: toBatch(carried[0]) } : {}) };
    });
  }

  /**
   * The batch failed for good: its members are detached so that each can join a new batch
   * (nothing in a failed batch is lost). `error` must hold no identifier. Returns the task ids of
   * the members it detached, those that joined during the last run included: the ones to wake.
   * A batch that has already ended (another run completed it) is left as it is: none.
   */
  async fail(batchId: string, error: string): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const { rows: ended } = await tx.query(
        `UPDATE batches SET state = 'failed', error = $2, finished_at = now(), updated_at = now() WHERE id = $1 AND state IN ('open', 'running') RETURNING id`,
        [batchId, error],
      );
      if (!ended[0]) return [];
      const { rows } = await tx.query<{ task_id: string }>(
        `UPDATE batch_members SET state = 'detached' WHERE batch_id = $1 AND state = 'waiting' RETURNING task_id`,
        [batchId],
      );
      return rows.map((r) => r.task_id);
    });
  }

  /**
   * Takes members out of a running batch without counting a failed batch against them (unlike
   * `fail`, which detaches): their identities are sealed with a key the running process does not
   * hold (a rolling key rotation), so they join a new batch when their task runs again. They are due
   * now: with no membership left, a lost wake is found by the reconciler's look at stale tasks. Returns the task ids taken out.
   */
  async setAside(batchId: string, taskIds: string[]): Promise<string[]> {
    if (taskIds.length === 0) return [];
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ task_id: string }>(
        `DELETE FROM batch_members WHERE batch_id = $1 AND task_id = ANY($2::text[]) AND state = 'waiting' RETURNING task_id`,
        [batchId, taskIds],
      );
      await tx.query(`UPDATE batches SET member_count = member_count - $2::int, updated_at = now() WHERE id = $1`, [
        batchId,
        rows.length,
      ]);
      await tx.query(
        `UPDATE tasks SET next_action_at = now() WHERE id = ANY($1::text[]) AND state IN ('queued', 'waiting_vendor')`,
        [rows.map((r) => r.task_id)],
      );
      return rows.map((r) => r.task_id);
    });
  }

  /**
   * Members still asleep after their batch ended: the task's latest membership is in a batch that
   * is done or failed, and the task has not moved since (it waits for the wake the batch runner
   * sends, which a Redis outage can lose). For the reconciler to wake them. Task ids and queues.
   */
  async sleepersOfEndedBatches(
    limit: number,
    now = new Date(),
    endedWithinMs = SLEEPER_LOOKBACK_MS,
  ): Promise<Array<{ taskId: string; queue: string }>> {
    const { rows } = await this.db.query<{ id: string; queue: string }>(
      `SELECT t.id, t.queue FROM batches b
         JOIN batch_members m ON m.batch_id = b.id
         JOIN tasks t ON t.id = m.task_id
        WHERE b.finished_at > $3 AND b.state IN ('done', 'failed')
          AND t.state IN ('queued', 'waiting_vendor') AND t.next_action_at > $1 AND t.updated_at <= b.finished_at
          AND NOT EXISTS (SELECT 1 FROM batch_members later WHERE later.task_id = m.task_id AND later.joined_at > m.joined_at)
        ORDER BY b.finished_at LIMIT $2`,
      [now, limit, new Date(now.getTime() - endedWithinMs)],
    );
    return rows.map((r) => ({ taskId: r.id, queue: r.queue }));
  }

  /** The error of the last failed batch of `kind` the task was detached from (free of identifiers), so its final failure can say why. */
  async lastFailure(taskId: string, kind: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ error: string | null }>(
      `SELECT b.error FROM batch_members m JOIN batches b ON b.id = m.batch_id
        WHERE m.task_id = $1 AND b.kind = $2 AND m.state = 'detached' AND b.state = 'failed' ORDER BY b.finished_at DESC NULLS LAST LIMIT 1`,
      [taskId, kind],
    );
    return rows[0]?.error ?? undefined;
  }

  /** Batches not yet ended, oldest first (for the reconciler and for the benchmark). */
  async unfinished(limit: number): Promise<BatchRecord[]> {
    const { rows } = await this.db.query<BatchRow>(
      `SELECT * FROM batches WHERE state IN ('open', 'running') ORDER BY updated_at LIMIT $1`,
      [limit],
    );
    return rows.map(toBatch);
  }

  async count(vendor: VendorName, kind: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM batches WHERE vendor = $1 AND kind = $2`,
      [vendor, kind],
    );
    return rows.at(0)?.n ?? 0;
  }
}
