import type { Ledger } from '../ledger/ledger.js';
import type { TaskRecord } from '../ledger/ledger-types.js';
import { childJob } from '../planner/build-flow.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { VendorName } from '../vendors/vendor-name.js';

/**
 * On-call's retry: failed tasks of a request back to queued (with the reason in the audit log),
 * and their jobs run again: the failed job is retried in place when Redis still has it, or a new
 * one is added under the same id when it was removed by retention or a wipe.
 */
export async function retryFailedTasks(
  deps: { ledger: Ledger; queues: QueueSet },
  input: { requestId: string; actor: string; reason: string; vendor?: VendorName },
): Promise<TaskRecord[]> {
  const tasks = await deps.ledger.tasks.reopenFailedTasks(input.requestId, input.actor, input.reason, input.vendor);
  for (const task of tasks) {
    const queue = deps.queues.queue(task.queue);
    const job = await queue.getJob(task.id);
    if (job && (await job.getState()) === 'failed') {
      await job.retry('failed', { resetAttemptsMade: true });
      continue;
    }
    if (job) await job.remove().catch(() => undefined);
    const child = childJob({ ...task, requestId: task.requestId }, 'ignore', queue.defaultJobOptions);
    await queue.add(child.name, child.data, child.opts);
  }
  return tasks;
}
