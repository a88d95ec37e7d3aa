import type { Ledger } from '../ledger/ledger.js';
import { toTask, type TaskRow } from '../ledger/ledger-rows.js';
import type { TaskRecord } from '../ledger/ledger-types.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { connectorFor } from '../connectors/registry.js';
import { WITHDRAWAL_AUDIT_ACTION, addWithdrawalJobs, withdrawalJobId } from './withdrawal-job.js';

/**
 * Started tasks of cancelled requests still waiting for their withdrawal: the request has not
 * ended, the task is still open, and no withdrawal outcome is in the request's audit trail (a
 * withdrawal that ran, whatever its answer, left one: src/workers/withdrawal-runner.ts).
 */
async function tasksAwaitingWithdrawal(ledger: Ledger, limit: number): Promise<TaskRecord[]> {
  // A read through the unit of work: it changes no status, so it publishes nothing.
  const rows = await ledger.work.run(async (tx) => {
    const { rows: found } = await tx.query<TaskRow>(
      `SELECT t.* FROM tasks t JOIN requests r ON r.id = t.request_id
        WHERE r.status = 'cancelled' AND r.finished_at IS NULL AND t.state IN ('running', 'waiting_vendor')
          AND NOT EXISTS (SELECT 1 FROM audit_events a WHERE a.request_id = t.request_id AND a.action = $2 AND a.detail->>'taskId' = t.id)
        ORDER BY t.updated_at LIMIT $1`,
      [limit, WITHDRAWAL_AUDIT_ACTION],
    );
    return { result: found, changes: [] };
  });
  return rows.map(toTask).filter((task) => connectorFor(task.vendor)?.cancelTask !== undefined);
}

/**
 * Invariant 4 for cancels: a withdrawal job lost with Redis, or whose add failed after the cancel
 * committed (src/operations/cancel-request.ts), is added again. The job id is deterministic, so
 * adding one that exists changes nothing; only a job missing from Redis is counted. Returns how
 * many were re-created.
 */
export async function recreateLostWithdrawals(
  deps: { ledger: Ledger; queues: QueueSet },
  limit: number,
): Promise<number> {
  const lost: TaskRecord[] = [];
  for (const task of await tasksAwaitingWithdrawal(deps.ledger, limit)) {
    const job = await deps.queues.queue(task.queue).getJob(withdrawalJobId(task.id));
    if (!job) lost.push(task);
  }
  await addWithdrawalJobs(deps.queues, lost);
  return lost.length;
}
