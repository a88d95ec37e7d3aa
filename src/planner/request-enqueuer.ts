import type { Ledger } from '../ledger/ledger.js';
import { TERMINAL_TASK_STATES, type RequestRecord, type TaskRecord } from '../ledger/ledger-types.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { buildRequestFlow } from './build-flow.js';

interface EnqueuerDeps {
  ledger: Ledger;
  queues: QueueSet;
  /**
   * Ready jobs (waiting or prioritized) a queue may hold before further requests wait in the
   * ledger instead (`jobs.admission`, src/workers/due-work-scheduler.ts). Unset: every request is
   * queued at once.
   */
  readyJobsPerQueue?: number;
}

/**
 * Jobs a queue may still take before it holds `limit` ready ones (waiting or prioritized). A paused
 * queue (an operator's pause, an open breaker) has no limit: one vendor's outage must not hold back
 * the other vendors' work of the requests that follow; its own backlog waits in Redis, as it did.
 */
async function roomIn(queues: QueueSet, name: string, limit: number): Promise<number> {
  const queue = queues.queue(name);
  if (await queue.isPaused()) return Number.POSITIVE_INFINITY;
  const counts = await queue.getJobCounts('wait', 'prioritized');
  return limit - counts.wait - counts.prioritized;
}

/**
 * The most requests that could be admitted now: the largest room left in any vendor queue (each
 * admitted request takes at least one place in one). Zero when every queue is full, so the
 * due-work scheduler reads nothing from the ledger while nothing can be admitted.
 */
export async function largestRoom(queues: QueueSet, limit: number): Promise<number> {
  const names = queues.definitions.filter((d) => d.vendor !== undefined).map((d) => d.name);
  const rooms = await Promise.all(names.map((name) => roomIn(queues, name, limit)));
  return Math.max(0, ...rooms);
}

/**
 * The requests, in order, whose jobs fit in their queues now: a request is admitted while every
 * queue it has an open task in holds fewer than `limit` ready jobs (it may overshoot by its own
 * tasks, so one request always fits an empty queue). The first that does not fit stops the
 * admission, so later requests never overtake it. Requests with no open task always fit.
 */
async function admissible<T extends { open: TaskRecord[] }>(
  queues: QueueSet,
  candidates: T[],
  limit: number | undefined,
): Promise<T[]> {
  if (limit === undefined) return candidates;
  const names = [...new Set(candidates.flatMap((c) => c.open.map((t) => t.queue)))];
  const room = new Map(
    await Promise.all(names.map(async (name) => [name, await roomIn(queues, name, limit)] as const)),
  );
  const admitted: T[] = [];
  for (const candidate of candidates) {
    if (candidate.open.some((t) => (room.get(t.queue) ?? 0) <= 0)) break;
    for (const task of candidate.open) room.set(task.queue, (room.get(task.queue) ?? 0) - 1);
    admitted.push(candidate);
  }
  return admitted;
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
 * the ledger. Idempotent: job ids are deterministic, so enqueueing twice adds nothing. When its
 * queues are full (`readyJobsPerQueue`) nothing is added: the request stays `received` in the
 * ledger and the due-work scheduler admits it later.
 */
export function createRequestEnqueuer(deps: EnqueuerDeps) {
  /** Resolves true when the request was queued (or had nothing to queue), false when it waits for room. */
  return async function enqueueRequest(request: RequestRecord, now = new Date()): Promise<boolean> {
    const open = openTasks(await deps.ledger.tasks.getTasks(request.id));
    if ((await admissible(deps.queues, [{ open }], deps.readyJobsPerQueue)).length === 0) return false;
    if (open.length === 0) {
      await deps.ledger.requests.markEnqueued(request.id, now);
      await deps.ledger.requests.settleRequest(request.id);
      return true;
    }
    await deps.queues.flows.add(buildRequestFlow(request.id, open, deps.queues.definitions, delayOf(request, now)));
    await deps.ledger.requests.markEnqueued(request.id, now);
    return true;
  };
}

export type RequestEnqueuer = ReturnType<typeof createRequestEnqueuer>;

/**
 * `enqueueRequest` for many committed requests at once (bulk intake, the due-work scheduler): one
 * read of their tasks, one `addBulk` of the flows that fit their queues (atomic, like one `add`),
 * one ledger transaction confirming them. Returns how many were queued; the rest, in order after
 * the first that did not fit, stay `received` for the due-work scheduler.
 */
export function createBulkEnqueuer(deps: EnqueuerDeps) {
  return async function enqueueRequests(requests: RequestRecord[], now = new Date()): Promise<number> {
    if (requests.length === 0) return 0;
    const tasks = await deps.ledger.tasks.getTasksOf(requests.map((r) => r.id));
    const candidates = requests.map((request) => ({ request, open: openTasks(tasks.get(request.id) ?? []) }));
    const admitted = await admissible(deps.queues, candidates, deps.readyJobsPerQueue);
    const flows = admitted
      .filter((c) => c.open.length > 0)
      .map((c) => buildRequestFlow(c.request.id, c.open, deps.queues.definitions, delayOf(c.request, now)));
    if (flows.length) await deps.queues.flows.addBulk(flows);
    await deps.ledger.requests.markEnqueuedMany(
      admitted.map((c) => c.request.id),
      now,
    );
    // Nothing to run (every task skipped or manual): settle now, as enqueueRequest does.
    for (const c of admitted) if (c.open.length === 0) await deps.ledger.requests.settleRequest(c.request.id);
    return admitted.length;
  };
}

export type BulkEnqueuer = ReturnType<typeof createBulkEnqueuer>;
