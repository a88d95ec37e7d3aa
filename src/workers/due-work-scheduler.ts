import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import type { BulkEnqueuer } from '../planner/request-enqueuer.js';

/**
 * Requests wait in the ledger, not in Redis, until their queues have room (`jobs.admission`,
 * README "Redis footprint"): Redis holds the work that is due, not the whole backlog. This
 * scheduler admits waiting requests, oldest first, as queues drain. The ledger is the only record
 * of who waits, so a Redis wipe loses nothing here: the next pass admits them into the empty queues.
 */

/** Requests read from the ledger per round of one pass. */
const ADMIT_BATCH = 1000;
/** Rounds per pass at most, so one pass stays short however large the backlog. */
const MAX_ROUNDS = 10;
/**
 * Requests this young are left to the process that committed them, which queues them right after
 * its commit; the scheduler takes them only if that process could not (its queues were full).
 */
const INTAKE_GRACE_MS = 1000;

export interface DueWorkDeps {
  ledger: Pick<Ledger, 'queries'>;
  enqueueMany: BulkEnqueuer;
  /**
   * At most how many requests could be admitted now (`largestRoom`, src/planner/request-enqueuer.ts):
   * a pass reads no more than that from the ledger, and nothing while the queues are full.
   */
  room?: () => Promise<number>;
}

/** One pass: admits due requests waiting in the ledger while their queues have room; returns how many. */
export async function admitDueWork(deps: DueWorkDeps, now = new Date()): Promise<number> {
  let admitted = 0;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const limit = deps.room ? Math.min(ADMIT_BATCH, Math.floor(await deps.room())) : ADMIT_BATCH;
    if (limit === 0) break;
    const waiting = await deps.ledger.queries.requestsAwaitingEnqueue(new Date(now.getTime() - INTAKE_GRACE_MS), limit);
    if (waiting.length === 0) break;
    const queued = await deps.enqueueMany(waiting, now);
    admitted += queued;
    if (queued < waiting.length) break;
  }
  return admitted;
}

/**
 * Runs `admitDueWork` every `everyMs` (a pass still running is not overlapped). Every process that
 * runs the `requests` worker runs one: two passes admitting the same request add its jobs once
 * (deterministic job ids) and confirm it once (the guarded `enqueue` transition). Returns the stop function.
 */
export function startDueWorkScheduler(deps: DueWorkDeps & { logger: Logger }, everyMs: number): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    admitDueWork(deps)
      .then((admitted) => {
        if (admitted > 0) deps.logger.debug('admitted waiting requests into their queues', { requests: admitted });
      })
      // Redis or the ledger unreachable: the requests keep waiting in the ledger; the next pass tries again.
      .catch((err: unknown) => {
        deps.logger.warn('due-work pass failed; retrying on the next', { errorName: (err as Error).name });
      })
      .finally(() => {
        running = false;
      });
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
