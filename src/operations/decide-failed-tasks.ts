import type { OperatorDecision } from '../ledger/tasks-ledger.js';
import type { Ledger } from '../ledger/ledger.js';
import type { TaskRecord, TaskState } from '../ledger/ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { scrub } from '../logger.js';

/** What one decided task looks like in an answer (API and CLI): never an identifier of a person. */
export interface DecidedTask {
  requestId: string;
  taskId: string;
  vendor: string;
  action: string;
  resource: string;
  error: string | null;
  failedAt: string | null;
}

export function decidedTask(t: TaskRecord): DecidedTask {
  return {
    requestId: t.requestId,
    taskId: t.id,
    vendor: t.vendor,
    action: t.action,
    resource: t.resource,
    error: t.error,
    failedAt: t.finishedAt?.toISOString() ?? null,
  };
}

/** The task is not failed (any more): nothing changed. `state` is where it is, undefined when there is no such task. */
export class NotAFailedTaskError extends Error {
  constructor(readonly state: TaskState | undefined) {
    super(
      state
        ? `the task is ${state}, not failed: only a failed task can be skipped or resolved`
        : 'no task with that id in this request',
    );
    this.name = 'NotAFailedTaskError';
  }
}

/**
 * On-call closes one failed task that will never succeed: skip it, or record it resolved outside the
 * service. The reason (free text a person typed) is scrubbed like a manual task's note, recorded in
 * the audit chain and beside the decision; then the request settles (completed_with_errors at best:
 * a decision is never a verified outcome, src/ledger/request-settlement.ts TASK_OUTCOME_COLUMNS).
 */
export async function decideFailedTask(
  deps: { ledger: Ledger },
  input: { requestId: string; taskId: string; decision: OperatorDecision; actor: string; reason: string },
): Promise<TaskRecord> {
  const result = await deps.ledger.tasks.decideFailedTask(
    input.requestId,
    input.taskId,
    input.decision,
    input.actor,
    scrub(input.reason),
  );
  if (!result.applied || !result.task) throw new NotAFailedTaskError(result.state);
  await deps.ledger.requests.settleRequest(input.requestId, input.actor);
  return result.task;
}

/**
 * The bulk form, as POST /v1/retries: failed tasks by vendor, request or time (or all), up to
 * `limit`; `dryRun` lists them and touches nothing. A task that stopped being failed meanwhile
 * (retried, decided by someone else) is left out of the answer.
 */
export async function decideFailedTasks(
  deps: { ledger: Ledger },
  input: {
    decision: OperatorDecision;
    actor: string;
    reason: string;
    vendor?: VendorName;
    requestId?: string;
    since?: Date;
    limit: number;
    dryRun: boolean;
  },
): Promise<DecidedTask[]> {
  const tasks = await deps.ledger.queries.failedTasks(
    { vendor: input.vendor, requestId: input.requestId, since: input.since },
    input.limit,
  );
  if (input.dryRun) return tasks.map(decidedTask);
  const decided: DecidedTask[] = [];
  const touched = new Set<string>();
  const reason = scrub(input.reason);
  for (const task of tasks) {
    const result = await deps.ledger.tasks.decideFailedTask(
      task.requestId,
      task.id,
      input.decision,
      input.actor,
      reason,
    );
    if (!result.applied) continue;
    decided.push(decidedTask(task));
    touched.add(task.requestId);
  }
  for (const requestId of touched) await deps.ledger.requests.settleRequest(requestId, input.actor);
  return decided;
}
