import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { ProjectDeletionLedger, ProjectDeletionRecord } from '../ledger/project-deletion-ledger.js';
import type { Logger } from '../logger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { addProjectDeletionJob } from '../planner/project-deletion-job.js';

const DAY_MS = 86_400_000;

/** Why a project deletion cannot be scheduled as asked, by field, in words that echo no input. */
export class ProjectDeletionRefused extends Error {
  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`${field} ${problem}`);
    this.name = 'ProjectDeletionRefused';
  }
}

export interface ScheduleProjectDeletionInput {
  appId: string;
  /** The app id typed a second time: a slip of the keyboard must not delete the wrong project. */
  confirmAppId: string;
  reason: string;
  actor: string;
  /** Longer than the configured grace period, never shorter. */
  gracePeriodDays?: number;
}

/**
 * Schedules the deletion of a whole Pinpoint project: checks that it is a configured app, typed
 * twice the same, records it in the ledger (the truth: when it may run and what S3 prefixes go
 * with it) and adds its delayed job. If Redis refuses the job, the deletion stays scheduled and the
 * reconciler adds the job from the ledger. An open deletion of the same app is returned as it is.
 */
export async function scheduleProjectDeletion(
  deps: { config: Config; deletions: ProjectDeletionLedger; queues: QueueSet; logger: Logger },
  input: ScheduleProjectDeletionInput,
  now = new Date(),
): Promise<{ deletion: ProjectDeletionRecord; created: boolean }> {
  const pinpoint = deps.config.vendors.pinpoint;
  if (input.confirmAppId !== input.appId)
    throw new ProjectDeletionRefused(
      'confirmAppId',
      'must repeat appId exactly: the app id is typed twice so that a slip cannot delete another project',
    );
  if (!pinpoint) throw new ProjectDeletionRefused('appId', 'cannot be deleted: Pinpoint is not configured');
  if (!pinpoint.appIds.includes(input.appId))
    throw new ProjectDeletionRefused(
      'appId',
      `is not a configured Pinpoint app (vendors.pinpoint.appIds lists ${pinpoint.appIds.length})`,
    );
  const configured = deps.config.projectDeletion.gracePeriodDays;
  const gracePeriodDays = input.gracePeriodDays ?? configured;
  if (gracePeriodDays < configured)
    throw new ProjectDeletionRefused(
      'gracePeriodDays',
      `can only lengthen the configured grace period of ${configured} days`,
    );

  const { deletion, created } = await deps.deletions.create({
    id: randomUUID(),
    appId: input.appId,
    reason: input.reason,
    actor: input.actor,
    s3Locations: pinpoint.projectPrefixes?.[input.appId] ?? [],
    gracePeriodDays,
    runAt: new Date(now.getTime() + gracePeriodDays * DAY_MS),
  });
  if (!created) return { deletion, created };
  try {
    await addProjectDeletionJob(deps.queues, deletion, now);
  } catch (err) {
    deps.logger.warn('could not add the project deletion job; the reconciler will add it from the ledger', {
      projectDeletionId: deletion.id,
      errorName: (err as Error).name,
    });
  }
  deps.logger.info('project deletion scheduled', {
    projectDeletionId: deletion.id,
    appId: deletion.appId,
    runAt: deletion.runAt.toISOString(),
  });
  return { deletion, created };
}
