import type { ProjectDeletionRecord } from '../ledger/project-deletion-ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';

import { DELETE_PROJECT } from '../../jobs/delete-project.js';

export { DELETE_PROJECT };

/** What the job carries: the deletion's id, nothing else (the ledger holds what to delete). */
export interface ProjectDeletionJobData {
  projectDeletionId: string;
}

/** Deterministic and BullMQ-safe (no `:`): adding the job twice, or from the reconciler, adds it once. */
export const projectDeletionJobId = (deletionId: string) => `project-deletion__${deletionId}`;

/**
 * Puts the deletion's job in Redis as a delayed job that becomes due when the grace period ends
 * (a delayed job, not a sleep: no worker is held while it waits). The job only wakes the runner,
 * which checks the ledger before it acts, so a job that runs early or after a cancel does nothing.
 */
export async function addProjectDeletionJob(
  queues: QueueSet,
  deletion: Pick<ProjectDeletionRecord, 'id' | 'runAt'>,
  now = new Date(),
): Promise<void> {
  const data: ProjectDeletionJobData = { projectDeletionId: deletion.id };
  await queues.queue(pinpointQueue.name).add(DELETE_PROJECT, data, {
    jobId: projectDeletionJobId(deletion.id),
    delay: Math.max(0, deletion.runAt.getTime() - now.getTime()),
  });
}
