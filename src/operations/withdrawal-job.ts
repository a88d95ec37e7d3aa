import type { TaskRecord } from '../ledger/ledger-types.js';
import type { QueueSet } from '../infrastructure/queue-set.js';

/**
 * The job that withdraws a started task at its vendor after its request was cancelled. It runs in
 * the task's own vendor queue, so the vendor's limiter paces the withdrawal calls like any other
 * (Invariant 5), and never inside the cancel's HTTP request.
 */
export const WITHDRAW_TASK = 'withdraw-task';

/** The audit action of a withdrawal's outcome: the request's trail (and receipt) says what happened. */
export const WITHDRAWAL_AUDIT_ACTION = 'task.withdrawal';

/** What the job carries: ids only (Invariant 1); the worker reads the task and opens the person's identifiers. */
export interface WithdrawalJobData {
  requestId: string;
  taskId: string;
}

/** Deterministic and BullMQ-safe (no `:`): a cancel repeated, or sent twice, withdraws once. */
export const withdrawalJobId = (taskId: string) => `${taskId}__withdraw`;

/**
 * Queues the withdrawal of each task, in its vendor's queue. No priority: BullMQ serves a queue's
 * unprioritised jobs before its prioritised task jobs (src/planner/build-flow.ts, TASK_JOB_PRIORITY),
 * so a withdrawal is not left behind the backlog of task jobs it may make unnecessary.
 */
export async function addWithdrawalJobs(
  queues: QueueSet,
  tasks: Array<Pick<TaskRecord, 'id' | 'requestId' | 'queue'>>,
): Promise<void> {
  await Promise.all(
    tasks.map((task) => {
      const data: WithdrawalJobData = { requestId: task.requestId, taskId: task.id };
      return queues.queue(task.queue).add(WITHDRAW_TASK, data, { jobId: withdrawalJobId(task.id) });
    }),
  );
}
