import type { Database } from './database.js';
import { FINAL_REQUEST_STATUSES, type RequestStatus, type TaskRecord, type TaskState } from './ledger-types.js';
import type { Subject } from '../privacy/subject.js';
import type { VendorName } from '../vendors/vendor-name.js';
import {
  checkTaskTarget,
  mayRequestMove,
  taskGuard,
  type TaskTransitionName,
  type TaskWriteResult,
} from './task-transitions.js';
import { SENT_MANUAL_STEP, toTask, type TaskRow } from './ledger-rows.js';
import { reopenRequestIn } from './requests-ledger.js';
import type { UnitOfWork, Written } from './status-changes.js';
import type { IdentityVault } from './identity-vault.js';
import type { RequestAudit } from './request-audit.js';
import type { BatchLedger } from './batch-ledger.js';
import { groupCommit } from './group-commit.js';
import {
  beginInProgressTasks,
  checkpointTasks,
  finishTasks,
  taskStateOf,
  transitionTask,
  type EvidenceSave,
  type TaskEnd,
} from './task-statements.js';

/** What on-call decided about a failed task that will never succeed. */
export type OperatorDecision = 'skipped' | 'resolved';

export interface TaskDeferral {
  state: Extract<TaskState, 'queued' | 'rate_limited' | 'waiting_vendor' | 'waiting_manual'>;
  reason: string;
  nextActionAt?: Date;
  error?: string;
  /** What the task has learnt so far, merged into its evidence (as `checkpointTask` does). */
  evidence?: Record<string, unknown>;
}

/** A finish's guarded write, and whether it ended the request's last open task (`finishTask`). */
export interface FinishResult extends TaskWriteResult {
  lastOpen?: boolean;
}

/** What an operator's decision on a failed task did: `applied`, or lost (the task's state then). */
export interface DecisionResult {
  task?: TaskRecord;
  applied: boolean;
  state: TaskState | undefined;
}

/**
 * Tasks (table `tasks`): read, begun, checkpointed, parked, finished and failed by the job runs,
 * and decided by operators, each write guarded by TASK_TRANSITIONS (src/ledger/task-transitions.ts).
 */
export class TasksLedger {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentityVault,
    private readonly audit: RequestAudit,
    private readonly batches: BatchLedger,
    private readonly work: UnitOfWork,
  ) {}

  async getTasks(requestId: string): Promise<TaskRecord[]> {
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE request_id = $1 ORDER BY vendor, id`, [
      requestId,
    ]);
    return rows.map(toTask);
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE id = $1`, [taskId]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /** Tasks of many requests, by request id (bulk intake). */
  async getTasksOf(requestIds: string[]): Promise<Map<string, TaskRecord[]>> {
    const { rows } = await this.db.query<TaskRow>(
      `SELECT * FROM tasks WHERE request_id = ANY($1::uuid[]) ORDER BY vendor, id`,
      [requestIds],
    );
    const out = new Map<string, TaskRecord[]>(requestIds.map((id) => [id, []]));
    for (const row of rows) out.get(row.request_id)?.push(toTask(row));
    return out;
  }

  /** The states of many tasks at once; a task that does not exist is absent. */
  async taskStates(taskIds: string[]): Promise<Map<string, TaskState>> {
    if (taskIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; state: TaskState }>(
      `SELECT id, state FROM tasks WHERE id = ANY($1::text[])`,
      [taskIds],
    );
    return new Map(rows.map((r) => [r.id, r.state]));
  }

  /** beginTask's common case, shared by concurrent job runs (src/ledger/task-statements.ts). */
  private readonly beginInProgress = groupCommit((taskIds: string[]) => beginInProgressTasks(this.db, taskIds), {
    keyOf: (taskId) => taskId,
  });

  /**
   * Marks a task running for one more attempt and opens the person's identifiers for it (in
   * memory only). Returns undefined when the task already settled (a re-delivered job): the caller
   * must then do nothing.
   */
  async beginTask(taskId: string): Promise<{ task: TaskRecord; subject: Subject } | undefined> {
    // The common case, its request already in progress, needs no reopening: one statement, no
    // transaction, and the sealed identifiers come back with the task.
    const begunAlone = await this.beginInProgress(taskId);
    if (begunAlone) {
      const { identities, ...row } = begunAlone;
      return { task: toTask(row), subject: this.vault.openSubject(identities ?? []) };
    }
    const begun = await this.work.run(async (tx) => {
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), error = NULL,
           waiting_reason = NULL, next_action_at = NULL, finished_at = NULL, updated_at = now()
         WHERE id = $1 AND ${taskGuard('begin')} RETURNING *`,
        [taskId],
      );
      const task = rows.at(0);
      if (!task) return { result: undefined, changes: [] };
      const { changes } = await reopenRequestIn(tx, task.request_id);
      return { result: toTask(task), changes };
    });
    return begun ? { task: begun, subject: await this.vault.loadSubject(begun.requestId) } : undefined;
  }

  /**
   * Saves what a task has learnt so far, so a re-run after a crash can pick up from it. Refused
   * (`applied: false`) once the task has ended: a run that lost its task to a cancel or to another
   * run must stop, not add to evidence that is already final.
   */
  async checkpointTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    const saved = await this.checkpointGroup({ taskId, evidence: JSON.stringify(evidence) });
    return saved ? { applied: true, state: saved } : { applied: false, state: await taskStateOf(this.db, taskId) };
  }

  /** Concurrent checkpoints in one statement (src/ledger/task-statements.ts). */
  private readonly checkpointGroup = groupCommit((saves: EvidenceSave[]) => checkpointTasks(this.db, saves), {
    keyOf: (save) => save.taskId,
  });

  /**
   * A vendor's circuit breaker opened (src/infrastructure/vendor-breaker.ts): every open task of the
   * vendor that is not running says why it waits. Only waiting states change; nothing settled or
   * cancelled is touched. `reason` must be free of identifiers. Returns how many tasks it marked.
   */
  async deferVendorTasks(vendor: VendorName, reason: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `WITH marked AS (
         UPDATE tasks SET state = 'waiting_vendor', waiting_reason = $2, next_action_at = NULL, updated_at = now()
          WHERE vendor = $1 AND ${taskGuard('pause')} AND waiting_reason IS DISTINCT FROM $2
          RETURNING 1)
       SELECT count(*)::int AS n FROM marked`,
      [vendor, reason],
    );
    return rows.at(0)?.n ?? 0;
  }

  /**
   * The running task's outcome. Lost (`applied: false`) when the task is no longer running, e.g.
   * withdrawn by a cancel. `lastOpen` says whether the same statement saw every other task of the
   * request ended: true lets the caller settle the request without reading its tasks first
   * (`RequestsLedger.settleEnded`); false may be stale (a sibling ending at the same time), so the
   * caller then settles as usual (`settleRequest`, whose read comes after this commit).
   */
  async finishTask(
    taskId: string,
    state: 'succeeded' | 'not_found' | 'skipped',
    evidence: Record<string, unknown>,
  ): Promise<FinishResult> {
    checkTaskTarget('finish', state);
    const row = await this.finishGroup({ taskId, state, evidence: JSON.stringify(evidence) });
    return row
      ? { applied: true, state: row.state, lastOpen: row.last_open }
      : { applied: false, state: await taskStateOf(this.db, taskId) };
  }

  /** Concurrent finishes in one statement (src/ledger/task-statements.ts). */
  private readonly finishGroup = groupCommit((ends: TaskEnd[]) => finishTasks(this.db, ends), {
    keyOf: (end) => end.taskId,
  });

  /** The running task parks itself. Lost when the task is no longer running: its job must then not be delayed or retried. */
  async deferTask(taskId: string, deferral: TaskDeferral): Promise<TaskWriteResult> {
    return transitionTask(
      this.db,
      'defer',
      taskId,
      deferral.state,
      `waiting_reason = $3, next_action_at = $4, error = COALESCE($5, error), evidence = evidence || $6::jsonb`,
      [deferral.reason, deferral.nextActionAt ?? null, deferral.error ?? null, JSON.stringify(deferral.evidence ?? {})],
    );
  }

  /** Final failure (until an operator retries). `error` must already be free of identifiers. Lost when the task has already ended. */
  async failTask(taskId: string, error: string): Promise<TaskWriteResult> {
    return transitionTask(
      this.db,
      'fail',
      taskId,
      'failed',
      `error = $3, waiting_reason = NULL, next_action_at = NULL, finished_at = now()`,
      [error],
    );
  }

  /**
   * A started task withdrawn at the vendor after a cancel: it ends `cancelled` with what happened.
   * Lost when the task ended first (its job finished or failed before the withdrawal was recorded).
   */
  async cancelStartedTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    return transitionTask(
      this.db,
      'withdraw',
      taskId,
      'cancelled',
      `evidence = evidence || $3::jsonb, waiting_reason = NULL, next_action_at = NULL, finished_at = now()`,
      [JSON.stringify(evidence)],
    );
  }

  /**
   * Failed tasks back to queued so they can run again; the request is open again. Returns the tasks
   * reopened: none for a cancelled request, which is never revived (its failed tasks stay failed).
   */
  async reopenFailedTasks(
    requestId: string,
    actor: string,
    reason: string,
    vendor?: VendorName,
  ): Promise<TaskRecord[]> {
    return this.work.run(async (tx) => {
      // The request's row first, as a cancel takes it: a cancel and a retry cannot both win.
      const { rows: locked } = await tx.query<{ status: RequestStatus }>(
        `SELECT status FROM requests WHERE id = $1 FOR UPDATE`,
        [requestId],
      );
      const status = locked.at(0)?.status;
      if (!status || (status !== 'in_progress' && !mayRequestMove('reopen', status)))
        return { result: [], changes: [] };
      const params: unknown[] = [requestId];
      if (vendor) params.push(vendor);
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'queued', waiting_reason = 'retry requested by an operator', finished_at = NULL, updated_at = now()
         WHERE request_id = $1 AND ${taskGuard('retry')} ${vendor ? 'AND vendor = $2' : ''} RETURNING *`,
        params,
      );
      if (rows.length === 0) return { result: [], changes: [] };
      await this.batches.detachFailedMembers(
        tx,
        rows.map((r) => r.id),
      );
      await tx.query(`UPDATE requests SET finished_at = NULL, updated_at = now() WHERE id = $1`, [requestId]);
      const { changes } = await reopenRequestIn(tx, requestId);
      await this.audit.appendIn(tx, requestId, actor, 'request.retried', { reason, tasks: rows.map((r) => r.id) });
      return { result: rows.map(toTask), changes };
    });
  }

  /**
   * An operator completes a manual task (work with no API, e.g. an e-mail to a vendor's support)
   * with a note, which goes into the evidence and the audit trail.
   */
  async completeManualTask(
    requestId: string,
    taskId: string,
    actor: string,
    note: string,
  ): Promise<TaskRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows: open } = await tx.query<{ id: string }>(
        `SELECT id FROM tasks WHERE id = $2 AND request_id = $1 AND state = 'waiting_manual' FOR UPDATE`,
        [requestId, taskId],
      );
      if (!open[0]) return undefined;
      // The evidence carries the note as the audit write path scrubbed it; shredding removes it from both.
      const texts = await this.audit.appendIn(tx, requestId, actor, 'task.completed_manually', { taskId, note });
      const evidence = { completedBy: actor, note: texts.note ?? '', completedAt: new Date().toISOString() };
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'succeeded', evidence = evidence || $3::jsonb, waiting_reason = NULL, finished_at = now(), updated_at = now()
         WHERE id = $2 AND request_id = $1 AND ${taskGuard('completeManual')} RETURNING *`,
        [requestId, taskId, JSON.stringify(evidence)],
      );
      return rows[0] ? toTask(rows[0]) : undefined;
    });
  }

  /**
   * An operator records that a manual step was sent to the vendor (TASK_TRANSITIONS markManualSent):
   * when and under which ticket or reference. Undefined when no unsent manual step waits with that id.
   */
  async markManualTaskSent(
    requestId: string,
    taskId: string,
    actor: string,
    sent: { at: Date; reference: string },
  ): Promise<TaskRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const record = { at: sent.at.toISOString(), by: actor, reference: sent.reference };
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET waiting_reason = $3, updated_at = now(), evidence = evidence || jsonb_build_object('sent', $4::jsonb)
         WHERE id = $2 AND request_id = $1 AND ${taskGuard('markManualSent')} AND job_name = 'manual' AND NOT ${SENT_MANUAL_STEP} RETURNING *`,
        [
          requestId,
          taskId,
          `sent to the vendor at ${record.at}; waiting for the vendor's confirmation`,
          JSON.stringify(record),
        ],
      );
      if (!rows[0]) return undefined;
      await this.audit.appendIn(tx, requestId, actor, 'task.manual_sent', {
        taskId,
        sentAt: record.at,
        reference: sent.reference,
      });
      return toTask(rows[0]);
    });
  }

  /**
   * On-call closes a failed task that will never succeed (TASK_TRANSITIONS skipFailed / resolveFailed):
   * `skipped`, or `succeeded` when it was done outside the service. The evidence records the decision
   * (`verification: unverifiable`, reason `operator_decision`: never a verified outcome) and the reason goes into the audit
   * chain. A settled request is reopened so that settling again counts the decision; the caller settles.
   */
  async decideFailedTask(
    requestId: string,
    taskId: string,
    decision: OperatorDecision,
    actor: string,
    reason: string,
  ): Promise<DecisionResult> {
    const name: TaskTransitionName = decision === 'skipped' ? 'skipFailed' : 'resolveFailed';
    const to: TaskState = decision === 'skipped' ? 'skipped' : 'succeeded';
    checkTaskTarget(name, to);
    return this.work.run(async (tx): Promise<Written<DecisionResult>> => {
      // The request's row first, as a cancel and a retry take it.
      const { rows: locked } = await tx.query<{ status: RequestStatus }>(
        `SELECT status FROM requests WHERE id = $1 FOR UPDATE`,
        [requestId],
      );
      if (!locked[0]) return { result: { applied: false, state: undefined }, changes: [] };
      const at = new Date().toISOString();
      const { rows } = await tx.query<TaskRow>(
        // The error it failed with moves into the decision (SET reads the row as it was), so the receipt shows both.
        `UPDATE tasks SET state = $3, waiting_reason = $4, error = NULL, next_action_at = NULL, finished_at = now(), updated_at = now(),
           evidence = evidence || jsonb_build_object('verification', 'unverifiable', 'unverifiableReason', 'operator_decision', 'operatorDecision', $5::jsonb || jsonb_build_object('failedWith', error))
         WHERE id = $2 AND request_id = $1 AND ${taskGuard(name)} RETURNING *`,
        [requestId, taskId, to, `${decision} by an operator`, JSON.stringify({ decision, by: actor, at, reason })],
      );
      if (!rows[0]) {
        const { rows: current } = await tx.query<{ state: TaskState }>(
          `SELECT state FROM tasks WHERE id = $1 AND request_id = $2`,
          [taskId, requestId],
        );
        return { result: { applied: false, state: current[0]?.state }, changes: [] };
      }
      const { changes } =
        FINAL_REQUEST_STATUSES.includes(locked[0].status) && mayRequestMove('reopen', locked[0].status)
          ? await reopenRequestIn(tx, requestId)
          : { changes: [] };
      // The evidence carries the reason as the audit write path scrubbed it; shredding removes it from both.
      const texts = await this.audit.appendIn(
        tx,
        requestId,
        actor,
        `task.${decision === 'skipped' ? 'skipped' : 'resolved'}`,
        { taskId, vendor: rows[0].vendor, decision, reason },
      );
      const { rows: scrubbed } = await tx.query<TaskRow>(
        `UPDATE tasks SET evidence = jsonb_set(evidence, '{operatorDecision,reason}', to_jsonb($2::text)) WHERE id = $1 RETURNING *`,
        [taskId, texts.reason ?? ''],
      );
      return { result: { task: toTask(scrubbed[0]), applied: true, state: to }, changes };
    });
  }
}
