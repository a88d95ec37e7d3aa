import type { Ledger } from '../ledger/ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { connectorFor } from '../connectors/registry.js';
import { addWithdrawalJobs } from './withdrawal-job.js';

export interface CancelReport {
  /** Tasks that had not started: nothing was done at the vendor. */
  cancelled: string[];
  /**
   * Started tasks whose withdrawal at the vendor is queued (a `withdraw-task` job in the vendor's
   * queue, src/operations/withdrawal-job.ts). Each outcome arrives later: the task's state and
   * evidence in the request's status, and a `task.withdrawal` entry in its audit trail.
   */
  withdrawals: { pending: number; taskIds: string[] };
  /** Started tasks that cannot be withdrawn, with why: they run to their end. */
  notWithdrawn: Array<{ taskId: string; vendor: string; reason: string }>;
}

/**
 * Cancels a request: stops what has not run, queues the withdrawal of what has started where the
 * vendor allows it, and reports at once what is pending. No vendor is called here: withdrawals run
 * as jobs in their vendor's queue, under its limiter. Undefined when the request had ended.
 */
export async function cancelRequest(
  deps: { ledger: Ledger; queues: QueueSet },
  input: { requestId: string; actor: string; reason: string },
): Promise<CancelReport | undefined> {
  const result = await deps.ledger.requests.cancelRequest(input.requestId, input.actor, input.reason);
  if (!result) return undefined;
  const report: CancelReport = {
    cancelled: result.cancelled.map((t) => t.id),
    withdrawals: { pending: 0, taskIds: [] },
    notWithdrawn: [],
  };
  for (const task of result.sent) {
    report.notWithdrawn.push({
      taskId: task.id,
      vendor: task.vendor,
      reason:
        'the manual step was sent to the vendor before the cancel and cannot be cancelled; it stays open until the vendor confirms',
    });
  }
  const withdrawable = result.started.filter((task) => connectorFor(task.vendor)?.cancelTask !== undefined);
  for (const task of result.started.filter((t) => !withdrawable.includes(t))) {
    report.notWithdrawn.push({
      taskId: task.id,
      vendor: task.vendor,
      reason: `${task.vendor} work that has started cannot be withdrawn; it will run to its end`,
    });
  }
  await addWithdrawalJobs(deps.queues, withdrawable);
  report.withdrawals = { pending: withdrawable.length, taskIds: withdrawable.map((t) => t.id) };
  await deps.ledger.requests.settleRequest(input.requestId);
  await deps.ledger.audit.append(input.requestId, input.actor, 'request.cancel_report', { ...report });
  return report;
}
