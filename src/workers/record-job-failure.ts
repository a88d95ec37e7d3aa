import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import type { Logger } from '../logger.js';
import type { LedgerWrite } from './job-outcome.js';

/** Whose job failed: a request's task, or a scope job (a project deletion). */
export type FailedJob =
  | { kind: 'task'; requestId: string; taskId: string; jobId?: string }
  | { kind: 'scope'; projectDeletionId: string; jobId?: string };

export interface JobFailureDeps {
  /** The guarded task write (src/ledger/task-transitions.ts) and the request's settling: returns its new status, if it ended. */
  ledger: {
    tasks: { failTask(taskId: string, reason: string): Promise<LedgerWrite> };
    requests: { settleRequest(requestId: string): Promise<unknown> };
  };
  projectDeletions?: Pick<ProjectDeletionLedger, 'fail'>;
  logger: Logger;
}

/**
 * Records that a job failed for good, the one way every path does it: the task runner (the
 * processor failed), the worker's `failed` handler (the job failed outside the processor, e.g.
 * stalled too often) and the reconciler (a failed job the other two missed). A task is failed
 * through the guarded transition (src/ledger/task-transitions.ts); when that write is lost (a
 * cancel withdrew the task, another run ended it), nothing is recorded and the winner settles
 * the request. Returns the write, and whether the request settled now.
 */
export async function recordJobFailure(
  deps: JobFailureDeps,
  failed: FailedJob,
  reason: string,
): Promise<LedgerWrite & { settled: boolean }> {
  if (failed.kind === 'scope') {
    await deps.projectDeletions?.fail(failed.projectDeletionId, reason);
    return { applied: true, settled: false };
  }
  const write = await deps.ledger.tasks.failTask(failed.taskId, reason);
  if (!write.applied) {
    deps.logger.info('a failed job’s task had already ended; nothing recorded', {
      requestId: failed.requestId,
      jobId: failed.jobId,
      state: write.state ?? 'missing',
    });
    return { ...write, settled: false };
  }
  return { ...write, settled: Boolean(await deps.ledger.requests.settleRequest(failed.requestId)) };
}

/** The reason recorded for an error that ended a job outside the processor's own error taxonomy. */
export function failedJobReason(err: Error): string {
  return err.name === 'UnrecoverableError' || err.name.endsWith('VendorError')
    ? err.message
    : `job ended: ${err.message}`;
}
