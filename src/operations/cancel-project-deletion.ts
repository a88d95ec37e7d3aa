import type { ProjectDeletionLedger, ProjectDeletionRecord } from '../ledger/project-deletion-ledger.js';
import type { Logger } from '../logger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { projectDeletionJobId } from '../planner/project-deletion-job.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';

/**
 * Cancels a project deletion that has not started: the ledger first (the truth, which the runner
 * checks before it acts), then its delayed job is removed so nothing wakes up for it. A job that
 * cannot be removed (Redis away, or just taken by a worker) is harmless: the runner finds the
 * deletion cancelled and does nothing. Undefined when there is no such deletion.
 */
export async function cancelProjectDeletion(
  deps: { deletions: ProjectDeletionLedger; queues: QueueSet; logger: Logger },
  input: { id: string; actor: string; reason: string },
): Promise<{ cancelled: boolean; deletion: ProjectDeletionRecord } | undefined> {
  const result = await deps.deletions.cancel(input.id, input.actor, input.reason);
  if (!result?.cancelled) return result;
  try {
    const job = await deps.queues.queue(pinpointQueue.name).getJob(projectDeletionJobId(input.id));
    await job?.remove();
  } catch (err) {
    deps.logger.warn(
      'could not remove a cancelled project deletion job; it will find the deletion cancelled and do nothing',
      { projectDeletionId: input.id, errorName: (err as Error).name },
    );
  }
  deps.logger.info('project deletion cancelled', { projectDeletionId: input.id });
  return result;
}
