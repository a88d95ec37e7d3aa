import type { RequestLedger } from '../ledger/request-ledger.js';
import { TERMINAL_TASK_STATES, type RequestRecord } from '../ledger/ledger-types.js';
import type { QueueSet } from '../workers/queue-set.js';
import { buildRequestFlow } from './build-flow.js';

/**
 * Puts a committed request's open tasks into Redis as one flow, atomically, then confirms it in
 * the ledger. Idempotent: job ids are deterministic, so enqueueing twice adds nothing.
 */
export function createRequestEnqueuer(deps: { ledger: RequestLedger; queues: QueueSet }) {
  return async function enqueueRequest(request: RequestRecord, now = new Date()): Promise<void> {
    const tasks = await deps.ledger.getTasks(request.id);
    // Manual tasks have no job: an operator completes them through the API.
    const open = tasks.filter((t) => !TERMINAL_TASK_STATES.includes(t.state) && t.state !== 'waiting_manual');
    if (open.length === 0) {
      await deps.ledger.markEnqueued(request.id, now);
      await deps.ledger.settleRequest(request.id);
      return;
    }
    const delayMs = request.notBefore ? Math.max(0, request.notBefore.getTime() - now.getTime()) : 0;
    await deps.queues.flows.add(buildRequestFlow(request.id, open, deps.queues.definitions, delayMs));
    await deps.ledger.markEnqueued(request.id, now);
  };
}

export type RequestEnqueuer = ReturnType<typeof createRequestEnqueuer>;
