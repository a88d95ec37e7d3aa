import type { RequestLedger } from '../ledger/request-ledger.js';
import { TERMINAL_TASK_STATES, type RequestRecord, type TaskRecord } from '../ledger/ledger-types.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { buildRequestFlow } from './build-flow.js';

interface EnqueuerDeps {
  ledger: RequestLedger;
  queues: QueueSet;
}

/** Tasks that get a job: manual tasks have none (an operator completes them through the API). */
function openTasks(tasks: TaskRecord[]): TaskRecord[] {
  return tasks.filter((t) => !TERMINAL_TASK_STATES.includes(t.state) && t.state !== 'waiting_manual');
}

function delayOf(request: RequestRecord, now: Date): number {
  return request.notBefore ? Math.max(0, request.notBefore.getTime() - now.getTime()) : 0;
}

/**
 * Puts a committed request's open tasks into Redis as one flow, atomically, then confirms it in
 * the ledger. Idempotent: job ids are deterministic, so enqueueing twice adds nothing.
 */
export function createRequestEnqueuer(deps: EnqueuerDeps) {
  return async function enqueueRequest(request: RequestRecord, now = new Date()): Promise<void> {
    const open = openTasks(await deps.ledger.getTasks(request.id));
    if (open.length === 0) {
      await deps.ledger.markEnqueued(request.id, now);
      await deps.ledger.settleRequest(request.id);
      return;
    }
    await deps.queues.flows.add(buildRequestFlow(request.id, open, deps.queues.definitions, delayOf(request, now)));
    await deps.ledger.markEnqueued(request.id, now);
  };
}

export type RequestEnqueuer = ReturnType<typeof createRequestEnqueuer>;

/**
 * `enqueueRequest` for many committed requests at once (bulk intake): one read of their tasks,
 * one `addBulk` of their flows (atomic, like one `add`), one ledger transaction confirming them.
 */
export function createBulkEnqueuer(deps: EnqueuerDeps) {
  return async function enqueueRequests(requests: RequestRecord[], now = new Date()): Promise<void> {
    if (requests.length === 0) return;
    const tasks = await deps.ledger.getTasksOf(requests.map((r) => r.id));
    const open = new Map(requests.map((r) => [r, openTasks(tasks.get(r.id) ?? [])]));
    const flows = requests.filter((r) => open.get(r)!.length > 0).map((r) => buildRequestFlow(r.id, open.get(r)!, deps.queues.definitions, delayOf(r, now)));
    if (flows.length) await deps.queues.flows.addBulk(flows);
    await deps.ledger.markEnqueuedMany(requests.map((r) => r.id), now);
    // Nothing to run (every task skipped or manual): settle now, as enqueueRequest does.
    for (const r of requests) if (open.get(r)!.length === 0) await deps.ledger.settleRequest(r.id);
  };
}

export type BulkEnqueuer = ReturnType<typeof createBulkEnqueuer>;
