import type { Database } from './database.js';
import { TERMINAL_TASK_STATES, type RequestRecord, type TaskRecord, type TaskState } from './ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { stateIn } from './task-transitions.js';
import { toRequest, toTask, type RequestRow, type TaskRow } from './ledger-rows.js';

/** Counts of requests for /metrics and the admin page. */
export interface RequestCounts {
  byStatus: Record<string, number>;
  overdue: number;
  byClient: Array<{ client: string; status: string; n: number }>;
  overdueByClient: Map<string, number>;
}

/**
 * The reads across requests and tasks that the reconciler, on-call tools, the admin page and
 * metrics make: bounded sweeps and counts, no state changes (`touchTasks` only marks a sweep).
 */
export class LedgerQueries {
  constructor(private readonly db: Database) {}

  /** Failed tasks matching a filter, oldest failure first: what an on-call retry would touch. */
  async failedTasks(
    filter: { vendor?: VendorName; requestId?: string; since?: Date },
    limit: number,
  ): Promise<TaskRecord[]> {
    const where = [`state = 'failed'`];
    const params: unknown[] = [];
    if (filter.vendor) where.push(`vendor = $${params.push(filter.vendor)}`);
    if (filter.requestId) where.push(`request_id = $${params.push(filter.requestId)}`);
    if (filter.since) where.push(`finished_at >= $${params.push(filter.since)}`);
    const { rows } = await this.db.query<TaskRow>(
      `SELECT * FROM tasks WHERE ${where.join(' AND ')} ORDER BY finished_at, id LIMIT $${params.push(limit)}`,
      params,
    );
    return rows.map(toTask);
  }

  /** Tasks in one state across all requests, most recently changed first (the admin page's filters). */
  async tasksInState(state: TaskState, limit: number, client?: string): Promise<TaskRecord[]> {
    const { rows } =
      client === undefined
        ? await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE state = $1 ORDER BY updated_at DESC, id LIMIT $2`, [
            state,
            limit,
          ])
        : await this.db.query<TaskRow>(
            `SELECT t.* FROM tasks t JOIN requests r ON r.id = t.request_id WHERE t.state = $1 AND r.client = $3 ORDER BY t.updated_at DESC, t.id LIMIT $2`,
            [state, limit, client],
          );
    return rows.map(toTask);
  }

  /** Requests committed but never confirmed in Redis (the enqueue failed or the process died). */
  async requestsAwaitingEnqueue(olderThan: Date, limit: number): Promise<RequestRecord[]> {
    const { rows } = await this.db.query<RequestRow>(
      `SELECT * FROM requests WHERE status = 'received' AND created_at < $1 ORDER BY created_at LIMIT $2`,
      [olderThan, limit],
    );
    return rows.map(toRequest);
  }

  /**
   * Unfinished tasks that have not moved since `olderThan`: the reconciler checks each has a live job.
   * Tasks of a request still `received` have none by design: the request waits in the ledger for
   * room in its queues (src/workers/due-work-scheduler.ts), which queues all its tasks at once.
   */
  async staleOpenTasks(olderThan: Date, limit: number): Promise<TaskRecord[]> {
    const { rows } = await this.db.query<TaskRow>(
      `SELECT * FROM tasks WHERE NOT ${stateIn([...TERMINAL_TASK_STATES, 'waiting_manual'])} AND updated_at < $1
         AND (next_action_at IS NULL OR next_action_at < $1)
         AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = tasks.request_id AND r.status = 'received') ORDER BY updated_at LIMIT $2`,
      [olderThan, limit],
    );
    return rows.map(toTask);
  }

  /** Open requests none of whose tasks is open: their parent job is gone, so settle them here. */
  async unsettledRequests(limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT r.id FROM requests r WHERE (r.status IN ('scheduled', 'in_progress') OR (r.status = 'cancelled' AND r.finished_at IS NULL))
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.request_id = r.id AND NOT ${stateIn(TERMINAL_TASK_STATES, 't.state')})
       ORDER BY r.updated_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  /** Marks tasks as looked at now, so the next sweeps pass them over until they are stale again. */
  async touchTasks(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.db.query(`UPDATE tasks SET updated_at = now() WHERE id = ANY($1::text[])`, [taskIds]);
  }

  async countRequestsByStatus(now = new Date()): Promise<RequestCounts> {
    const { rows } = await this.db.query<{ client: string; status: string; n: number }>(
      `SELECT client, status, count(*)::int AS n FROM requests GROUP BY client, status`,
    );
    const { rows: overdue } = await this.db.query<{ client: string; n: number }>(
      `SELECT client, count(*)::int AS n FROM requests WHERE finished_at IS NULL AND due_at < $1 GROUP BY client`,
      [now],
    );
    const byStatus: Record<string, number> = {};
    for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + r.n;
    return {
      byStatus,
      overdue: overdue.reduce((sum, r) => sum + r.n, 0),
      byClient: rows.map((r) => ({ client: r.client, status: r.status, n: r.n })),
      overdueByClient: new Map(overdue.map((r) => [r.client, r.n])),
    };
  }
}
