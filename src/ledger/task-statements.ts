import type { Queryable } from './database.js';
import { TERMINAL_TASK_STATES, type TaskState } from './ledger-types.js';
import {
  TASK_EVIDENCE_STATES,
  checkTaskTarget,
  stateIn,
  taskGuard,
  type TaskTransitionName,
  type TaskWriteResult,
} from './task-transitions.js';
import type { SealedIdentity, TaskRow } from './ledger-rows.js';

/*
 * Task statements of TasksLedger (src/ledger/tasks-ledger.ts): the one guarded transition, and the
 * statements it runs for many concurrent calls at once through src/ledger/group-commit.ts (each takes
 * its inputs in order and answers in the same order, undefined where the guard refused a task).
 * Every guard comes from src/ledger/task-transitions.ts.
 */

/** The state of one task, or undefined when there is no such task. */
export async function taskStateOf(q: Queryable, taskId: string): Promise<TaskState | undefined> {
  const { rows } = await q.query<{ state: TaskState }>(`SELECT state FROM tasks WHERE id = $1`, [taskId]);
  return rows[0]?.state;
}

/**
 * The one guarded write of a task's state: moves it to `to` only from a state the transition
 * allows (TASK_TRANSITIONS in src/ledger/task-transitions.ts), setting the columns in `set`
 * (parameters from $3). A write that finds the task in another state (another writer won the
 * race: a cancel, another run) changes nothing and reports that state.
 */
export async function transitionTask(
  q: Queryable,
  name: TaskTransitionName,
  taskId: string,
  to: TaskState,
  set: string,
  params: unknown[],
): Promise<TaskWriteResult> {
  checkTaskTarget(name, to);
  const { rows } = await q.query<{ state: TaskState }>(
    `UPDATE tasks SET state = $2, ${set}, updated_at = now() WHERE id = $1 AND ${taskGuard(name)} RETURNING state`,
    [taskId, to, ...params],
  );
  return rows[0] ? { applied: true, state: rows[0].state } : { applied: false, state: await taskStateOf(q, taskId) };
}

/** A task's begun row with its request's sealed identities (undefined: not begun). */
export type BegunRow = (TaskRow & { identities: SealedIdentity[] | null }) | undefined;

/**
 * beginTask's common case for many tasks in one statement, shared by concurrent job runs
 * (src/ledger/group-commit.ts). A task asked for twice at once (two runs of one job) is begun
 * once per run, as two statements would: its later run goes in a later batch.
 */
export async function beginInProgressTasks(db: Queryable, taskIds: string[]): Promise<BegunRow[]> {
  const { rows } = await db.query<NonNullable<BegunRow>>(
    `WITH begun AS (
       UPDATE tasks t SET state = 'running', attempts = t.attempts + 1, started_at = COALESCE(t.started_at, now()), error = NULL,
         waiting_reason = NULL, next_action_at = NULL, finished_at = NULL, updated_at = now()
       FROM requests r
       WHERE t.id = ANY($1::text[]) AND ${taskGuard('begin', 't.state')} AND r.id = t.request_id AND r.status = 'in_progress'
       RETURNING t.*)
     SELECT begun.*, (SELECT json_agg(json_build_object('kind', i.kind, 'sealed', i.sealed)) FROM request_identities i WHERE i.request_id = begun.request_id) AS identities
       FROM begun`,
    [taskIds],
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  return taskIds.map((id) => byId.get(id));
}

/** Evidence to merge into a task that has not ended. */
export interface EvidenceSave {
  taskId: string;
  /** JSON text of the evidence object. */
  evidence: string;
}

/** Concurrent checkpoints in one statement; answers each task's state, or undefined once it has ended. */
export async function checkpointTasks(db: Queryable, saves: EvidenceSave[]): Promise<Array<TaskState | undefined>> {
  const { rows } = await db.query<{ id: string; state: TaskState }>(
    `UPDATE tasks t SET evidence = t.evidence || v.evidence::jsonb, updated_at = now() FROM unnest($1::text[], $2::text[]) AS v(id, evidence)
        WHERE t.id = v.id AND ${stateIn(TASK_EVIDENCE_STATES, 't.state')} RETURNING t.id, t.state`,
    [saves.map((c) => c.taskId), saves.map((c) => c.evidence)],
  );
  const byId = new Map(rows.map((row) => [row.id, row.state]));
  return saves.map((c) => byId.get(c.taskId));
}

/** A running task's outcome. */
export interface TaskEnd extends EvidenceSave {
  state: TaskState;
}

/**
 * Concurrent finishes in one statement (src/ledger/group-commit.ts). Two tasks of one request
 * finishing in the same statement each see the other still open (`lastOpen` false), so both
 * settle by settleRequest, whose read follows the commit.
 */
export async function finishTasks(
  db: Queryable,
  ends: TaskEnd[],
): Promise<Array<{ id: string; state: TaskState; last_open: boolean } | undefined>> {
  const { rows } = await db.query<{ id: string; state: TaskState; last_open: boolean }>(
    `WITH finished AS (
         UPDATE tasks t SET state = v.state, evidence = t.evidence || v.evidence::jsonb, error = NULL, waiting_reason = NULL, next_action_at = NULL, finished_at = now(), updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::text[]) AS v(id, state, evidence)
          WHERE t.id = v.id AND ${taskGuard('finish', 't.state')} RETURNING t.id, t.state, t.request_id)
       SELECT f.id, f.state, NOT EXISTS (SELECT 1 FROM tasks o WHERE o.request_id = f.request_id AND o.id <> f.id AND NOT ${stateIn(TERMINAL_TASK_STATES, 'o.state')}) AS last_open
         FROM finished f`,
    [ends.map((e) => e.taskId), ends.map((e) => e.state), ends.map((e) => e.evidence)],
  );
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ends.map((e) => byId.get(e.taskId));
}
