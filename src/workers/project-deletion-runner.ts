import { UnrecoverableError, type Job } from 'bullmq';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import type { Logger } from '../logger.js';
import type { ProjectDeletionJobData } from '../planner/project-deletion-job.js';
import type { ScopeProcessor } from '../../jobs/delete-project.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import { delayJob, firstLedgerStep, settleFailure, supersededRun, waitIfLedgerDown } from './job-outcome.js';
import { recordJobFailure, type JobFailureDeps } from './record-job-failure.js';

export interface ProjectDeletionRunnerDeps {
  deletions: ProjectDeletionLedger;
  /** Where failures are recorded (`recordJobFailure`); a scope job has no task of its own. */
  ledger: JobFailureDeps['ledger'];
  /** The `scope` jobs' processors, by job name (src/connectors/connector.ts). */
  processors: Readonly<Partial<Record<string, ScopeProcessor>>>;
  clients: VendorClients;
  logger: Logger;
}

/**
 * Runs one project deletion job. The ledger decides, not the job: the deletion starts only if it
 * is still scheduled and its grace period is over, in the same transaction that marks it running,
 * so a cancelled deletion never runs even if its job survived the cancel, and a job promoted early
 * (from Bull Board, say) goes back to wait until the grace period ends. Failures go through the
 * error taxonomy in job-outcome.ts, like every vendor job.
 */
export function createProjectDeletionRunner(deps: ProjectDeletionRunnerDeps) {
  const { deletions } = deps;
  return async (
    job: Job<ProjectDeletionJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<{ outcome: string }> => {
    const id = job.data.projectDeletionId;
    const log = deps.logger.child({ projectDeletionId: id, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = deps.processors[job.name];
    if (!processor) throw new UnrecoverableError(`no processor for job ${job.name}`);
    const outage = { job, token, log, ping: () => deletions.ping() };

    const begun = await firstLedgerStep(outage, () => deletions.begin(id));
    if (begun.state === 'ended') {
      log.info('project deletion is not open (cancelled or ended); nothing to do', {
        status: begun.deletion?.status ?? 'missing',
      });
      return { outcome: begun.deletion ? `already_${begun.deletion.status}` : 'missing' };
    }
    const deletion = begun.deletion;
    if (begun.state === 'not_due') {
      const waitMs = deletion.runAt.getTime() - Date.now();
      log.warn('project deletion job ran before its grace period ended; put back until then', {
        runAt: deletion.runAt.toISOString(),
      });
      return delayJob(job, token, Math.max(1, waitMs));
    }

    try {
      const result = await processor(
        {
          deletionId: id,
          appId: deletion.appId,
          s3Locations: deletion.s3Locations,
          attempt: job.attemptsMade + 1,
          previous: deletion.evidence,
          checkpoint: (evidence) => deletions.checkpoint(id, evidence),
          signal,
        },
        deps.clients,
      );
      // Lost: the deletion was failed meanwhile (its job's failed handler, the reconciler); that record stands.
      if (!(await deletions.complete(id, result.outcome, result.evidence)))
        return supersededRun(log, 'complete', (await deletions.get(id))?.status);
      // App ids name projects, not people: they may be logged.
      log.info('project deletion finished', { appId: deletion.appId, outcome: result.outcome });
      return { outcome: result.outcome };
    } catch (err) {
      await waitIfLedgerDown(err, outage);
      return settleFailure(err, {
        job,
        token,
        vendor: 'pinpoint',
        log,
        hooks: {
          rateLimited: (reason) => deletions.noteRetry(id, reason),
          willRetry: (reason) => deletions.noteRetry(id, `retrying after: ${reason}`),
          failed: async (reason) => {
            await recordJobFailure(
              { ledger: deps.ledger, projectDeletions: deletions, logger: log },
              { kind: 'scope', projectDeletionId: id, jobId: job.id },
              reason,
            );
          },
        },
      });
    }
  };
}
