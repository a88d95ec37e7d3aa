import type { Ledger } from '../src/ledger/ledger.js';
import type { RequestJobData } from '../src/planner/build-flow.js';

/**
 * The flow parent: runs once every child has completed or failed (children ignore their own
 * failures, so it always runs) and writes the request's outcome from the ledger's task states.
 */
export async function finalizeRequest(
  job: { data: RequestJobData },
  deps: { ledger: Ledger },
): Promise<{ status: string }> {
  const status = await deps.ledger.requests.settleRequest(job.data.requestId);
  // Undefined: some task is still open in the ledger although its job ended (a lost job);
  // the reconciler re-creates it and the task runner settles the request when it ends.
  return { status: status ?? 'open' };
}
