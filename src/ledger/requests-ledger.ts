import type { Database, Queryable } from './database.js';
import {
  FINAL_REQUEST_STATUSES,
  TERMINAL_TASK_STATES,
  type RequestRecord,
  type RequestStatus,
  type TaskRecord,
  type TaskState,
} from './ledger-types.js';
import { groupCommit } from './group-commit.js';
import { TASK_OUTCOME_COLUMNS, outcomeOf, settleRequestsIn } from './request-settlement.js';
import { atRiskCondition } from './deadline-risk-ledger.js';
import type { DurationEstimate } from '../deadlines/at-risk.js';
import { mayRequestMove, requestGuard, taskGuard } from './task-transitions.js';
import {
  SENT_MANUAL_STEP,
  decodeCursor,
  encodeCursor,
  toRequest,
  toTask,
  type RequestRow,
  type TaskRow,
} from './ledger-rows.js';
import { statusChangeOf, type UnitOfWork, type Written } from './status-changes.js';
import {
  insertRequest,
  insertRequests,
  prepareRequests,
  type CreateRequestResult,
  type NewRequest,
} from './request-creation.js';
import type { IdentityVault } from './identity-vault.js';
import type { RequestAudit } from './request-audit.js';

export { FINAL_REQUEST_STATUSES, outcomeOf };

export interface ListRequestsFilter {
  status?: RequestStatus;
  /** Only this client's requests (a submitter's own, or a staff filter). */
  client?: string;
  overdue?: boolean;
  /** Only requests at risk (true) or not at risk (false) under these duration estimates (src/deadlines/at-risk.ts). */
  atRisk?: { value: boolean; estimates: readonly DurationEstimate[] };
  /** Page size, 1..500. */
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  now?: Date;
}

/** What a cancel did to the request's tasks; undefined when the request had already ended. */
export interface CancelResult {
  cancelled: TaskRecord[];
  started: TaskRecord[];
  sent: TaskRecord[];
}

const SENT_CANNOT_CANCEL =
  'sent to the vendor before the cancel; it cannot be cancelled: record the vendor’s confirmation when it comes';
const SENT_CANNOT_CANCEL_WHY =
  'the request was cancelled after this manual step had been sent to the vendor, which cannot take it back';

/** Sets a request back to in_progress when REQUEST_TRANSITIONS allows it (never a cancelled one), returning the change. */
export async function reopenRequestIn(tx: Queryable, requestId: string): Promise<Written<RequestRecord | undefined>> {
  const { rows } = await tx.query<RequestRow & { old_status: RequestStatus }>(
    `UPDATE requests r SET status = 'in_progress', finished_at = NULL, updated_at = now()
     FROM (SELECT id, status FROM requests WHERE id = $1 FOR UPDATE) old
     WHERE r.id = old.id AND ${requestGuard('reopen', 'old.status')}
     RETURNING r.*, old.status AS old_status`,
    [requestId],
  );
  if (!rows[0]) return { result: undefined, changes: [] };
  return { result: toRequest(rows[0]), changes: statusChangeOf(rows[0], rows[0].old_status) };
}

/**
 * Requests (table `requests`): created with their vault entries and planned tasks, listed, moved
 * through REQUEST_TRANSITIONS (src/ledger/task-transitions.ts) and settled once their tasks end.
 * Status changes are published by the unit of work after the commit, never inside it.
 */
export class RequestsLedger {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentityVault,
    private readonly audit: RequestAudit,
    private readonly work: UnitOfWork,
  ) {}

  /**
   * Commits a request with its sealed identities and planned tasks in one transaction.
   * The same client's idempotency key twice returns the first request with `created: false`, and
   * `reusedKey` when the payload differs (README.md, Clients, roles and idempotency).
   */
  async createRequest(input: NewRequest): Promise<CreateRequestResult> {
    return this.db.transaction((tx) => insertRequest(tx, { vault: this.vault, audit: this.audit }, input));
  }

  /** Many native requests in one transaction, set-based (bulk intake; src/ledger/request-creation.ts). */
  async createRequests(inputs: NewRequest[]): Promise<CreateRequestResult[]> {
    const prepared = prepareRequests(this.vault, inputs);
    if (prepared.length === 0) return [];
    return this.db.transaction((tx) => insertRequests(tx, this.vault, prepared));
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const { rows } = await this.db.query<RequestRow>(`SELECT * FROM requests WHERE id = $1`, [id]);
    return rows[0] ? toRequest(rows[0]) : undefined;
  }

  /** Newest first, keyset-paged: `nextCursor` is set when there may be more. */
  async listRequests(filter: ListRequestsFilter): Promise<{ requests: RequestRecord[]; nextCursor?: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) where.push(`status = $${params.push(filter.status)}`);
    if (filter.client !== undefined) where.push(`client = $${params.push(filter.client)}`);
    if (filter.overdue !== undefined) {
      const at = params.push(filter.now ?? new Date());
      where.push(
        filter.overdue ? `finished_at IS NULL AND due_at < $${at}` : `NOT (finished_at IS NULL AND due_at < $${at})`,
      );
    }
    if (filter.atRisk) {
      const condition = atRiskCondition(params, filter.atRisk.estimates, filter.now ?? new Date());
      where.push(filter.atRisk.value ? condition : `NOT ${condition}`);
    }
    if (filter.cursor) {
      const [createdAt, id] = decodeCursor(filter.cursor);
      params.push(createdAt, id);
      where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(filter.limit + 1);
    const { rows } = await this.db.query<RequestRow>(
      `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, filter.limit).map(toRequest);
    const last = page.at(-1);
    return rows.length > filter.limit && last ? { requests: page, nextCursor: encodeCursor(last) } : { requests: page };
  }

  /** After the flow is in Redis: `received` → `in_progress` (or `scheduled` while a grace period runs). */
  async markEnqueued(requestId: string, now = new Date()): Promise<void> {
    await this.markEnqueuedMany([requestId], now);
  }

  /** `markEnqueued` for many requests in one transaction (bulk intake). */
  async markEnqueuedMany(requestIds: string[], now = new Date()): Promise<void> {
    if (requestIds.length === 0) return;
    await this.work.run(async (tx) => {
      const { rows } = await tx.query<RequestRow>(
        `UPDATE requests SET status = CASE WHEN not_before IS NOT NULL AND not_before > $2 THEN 'scheduled' ELSE 'in_progress' END, updated_at = now()
         WHERE id = ANY($1::uuid[]) AND ${requestGuard('enqueue')} RETURNING *`,
        [requestIds, now],
      );
      return { result: undefined, changes: rows.flatMap((row) => statusChangeOf(row, 'received')) };
    });
  }

  /**
   * When every task has ended, writes the request's outcome (completed / completed_with_errors /
   * failed) and returns it; otherwise returns undefined and changes nothing. Safe to call often.
   */
  async settleRequest(requestId: string, actor = 'system'): Promise<RequestStatus | undefined> {
    // Most calls change nothing (one task of several ended, or the flow parent runs after the last
    // task settled the request): one read says so, without a transaction or a row lock. The last
    // task to commit its end always sees every other task ended, so no settlement is missed.
    const before = await this.readOutcome(requestId);
    if (!before) return undefined;
    const states = before.states ?? [];
    if (states.some((s) => !TERMINAL_TASK_STATES.includes(s))) return undefined;
    if (before.status === 'cancelled' && before.finished_at === null) {
      // A cancel whose started tasks have now all ended: the request ends here, so its deadline
      // stops counting and its identities are shredded on schedule (shredIdentities).
      await this.db.query(
        `UPDATE requests SET finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'cancelled' AND finished_at IS NULL`,
        [requestId],
      );
      return 'cancelled';
    }
    const outcome = before.status === 'cancelled' ? 'cancelled' : outcomeOf(states, before.partial);
    if (outcome === before.status) return outcome;
    return this.work.run(async (tx) => {
      const { result, changes } = await settleRequestsIn(tx, [requestId], actor);
      return { result: result[0], changes };
    });
  }

  /**
   * settleRequest's first read, shared by concurrent callers (src/ledger/group-commit.ts): one
   * statement for a batch. A batch's statement starts after each of its calls was made, so every
   * caller's read sees what it had committed before calling.
   */
  private readonly readOutcome = groupCommit(async (requestIds: string[]) => {
    const { rows } = await this.db.query<{
      id: string;
      status: RequestStatus;
      finished_at: Date | null;
      states: TaskState[] | null;
      partial: number;
    }>(`SELECT id, status, finished_at, ${TASK_OUTCOME_COLUMNS} FROM requests r WHERE id = ANY($1::uuid[])`, [
      requestIds,
    ]);
    const byId = new Map(rows.map((row) => [row.id.toLowerCase(), row]));
    return requestIds.map((id) => byId.get(id.toLowerCase()));
  });

  /**
   * `settleRequest` for a caller whose own committed write saw every task of the request ended (the
   * last task's finish, `TasksLedger.finishTask`'s `lastOpen`): no read first, straight to the
   * settling write, which reads again under the locks and changes nothing when a task is open after all.
   */
  async settleEnded(requestId: string): Promise<RequestStatus | undefined> {
    return this.settleGroup(requestId);
  }

  /**
   * Concurrent `settleEnded` calls share one transaction (src/ledger/group-commit.ts): five
   * statements for the batch instead of five for each request.
   */
  private readonly settleGroup = groupCommit((requestIds: string[]) =>
    this.work.run((tx) => settleRequestsIn(tx, requestIds, 'system')),
  );

  /**
   * Cancels a request: tasks that have not started are cancelled; the rest are returned so the
   * caller can try to withdraw them at the vendor. Returns undefined when the request had already ended.
   */
  async cancelRequest(requestId: string, actor: string, reason: string): Promise<CancelResult | undefined> {
    return this.work.run(async (tx) => {
      const { rows: requests } = await tx.query<RequestRow>(`SELECT * FROM requests WHERE id = $1 FOR UPDATE`, [
        requestId,
      ]);
      const request = requests.at(0);
      if (!request || !mayRequestMove('cancel', request.status)) return { result: undefined, changes: [] };
      const { rows: cancelled } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'cancelled', waiting_reason = 'cancelled before it started', finished_at = now(), updated_at = now()
         WHERE request_id = $1 AND ${taskGuard('cancelUnstarted')} AND NOT ${SENT_MANUAL_STEP} RETURNING *`,
        [requestId],
      );
      // A manual step already sent to the vendor has started where no cancel reaches: it stays open, saying so.
      const { rows: sent } = await tx.query<TaskRow>(
        `UPDATE tasks SET waiting_reason = $2, updated_at = now(),
           evidence = evidence || jsonb_build_object('cancelAfterSent', jsonb_build_object('at', $3::text, 'withdrawn', false, 'why', $4::text))
         WHERE request_id = $1 AND ${taskGuard('keepSentOnCancel')} AND ${SENT_MANUAL_STEP} RETURNING *`,
        [requestId, SENT_CANNOT_CANCEL, new Date().toISOString(), SENT_CANNOT_CANCEL_WHY],
      );
      const { rows: started } = await tx.query<TaskRow>(
        `SELECT * FROM tasks WHERE request_id = $1 AND state IN ('running', 'waiting_vendor')`,
        [requestId],
      );
      // Ended now when nothing had started; otherwise when its last started task ends (settleRequest).
      const { rows: updated } = await tx.query<RequestRow>(
        `UPDATE requests SET status = 'cancelled', finished_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1 AND ${requestGuard('cancel')} RETURNING *`,
        [requestId, started.length === 0 && sent.length === 0],
      );
      await this.audit.appendIn(tx, requestId, actor, 'request.cancelled', {
        reason,
        tasksCancelled: cancelled.length,
        tasksAlreadyStarted: started.length,
        ...(sent.length ? { manualStepsAlreadySent: sent.map((t) => t.id) } : {}),
      });
      return {
        result: { cancelled: cancelled.map(toTask), started: started.map(toTask), sent: sent.map(toTask) },
        changes: statusChangeOf(updated[0], request.status),
      };
    });
  }

  /** Moves a request's deadline later (e.g. GDPR Art. 12(3) extension), with the reason in the audit trail. */
  async extendDeadline(
    requestId: string,
    days: number,
    actor: string,
    reason: string,
  ): Promise<RequestRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<RequestRow>(
        `UPDATE requests SET due_at = due_at + ($2 || ' days')::interval, updated_at = now() WHERE id = $1 RETURNING *`,
        [requestId, String(days)],
      );
      if (!rows[0]) return undefined;
      await this.audit.appendIn(tx, requestId, actor, 'request.deadline_extended', {
        days,
        reason,
        dueAt: new Date(rows[0].due_at).toISOString(),
      });
      return toRequest(rows[0]);
    });
  }
}
