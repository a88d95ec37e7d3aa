import type { RequestLedger } from '../src/ledger/request-ledger.js';
import type { RequestJobData } from '../src/planner/build-flow.js';

/**
 * The flow parent: runs once every child has completed or failed (children ignore their own
 * failures, so it always runs) and writes the request's outcome from the ledger's task states.
 */
export async function finalizeRequest(job: { data: RequestJobData }, deps: { ledger: RequestLedger }): Promise<{ status: string }> {
  const status = await deps.ledger.settleRequest(job.data.requestId);
  // Undefined: some task is still open in the ledger although its job ended (a lost job);
  // the reconciler re-creates it and the task runner settles the request when it ends.
  return { status: status ?? 'open' };
}
