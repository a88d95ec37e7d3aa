import type { Queryable } from './database.js';
import { TERMINAL_TASK_STATES, type RequestStatus, type TaskState } from './ledger-types.js';
import { auditChainLock, writeWithAuditEvents } from './audit-log.js';
import { mayRequestMove, requestGuard } from './task-transitions.js';
import type { RequestRow } from './ledger-rows.js';
import { statusChangeOf, type Written } from './status-changes.js';

/*
 * Settling a request once its tasks have all ended: the outcome rule and the settling write, used by
 * RequestsLedger (src/ledger/requests-ledger.ts) for one request or for a group commit of many.
 */

/**
 * Outcome of settling a request whose tasks have all ended. `partial` counts tasks that
 * succeeded only in part (e.g. a Segment regulation that ended PARTIAL_SUCCESS): they make
 * the outcome completed_with_errors, never completed.
 */
export function outcomeOf(states: TaskState[], partial = 0): RequestStatus {
  if (states.includes('cancelled') && states.every((s) => s === 'cancelled' || s === 'skipped')) return 'cancelled';
  const failed = states.filter((s) => s === 'failed').length;
  if (failed === 0) return partial > 0 ? 'completed_with_errors' : 'completed';
  return failed === states.length ? 'failed' : 'completed_with_errors';
}

/**
 * What settling a request `r` reads of its tasks: their states, and how many succeeded only in part
 * or were closed by an operator's decision (skip, resolve: never verified, so never a clean `completed`).
 */
export const TASK_OUTCOME_COLUMNS = `(SELECT array_agg(state) FROM tasks WHERE request_id = r.id) AS states,
  (SELECT count(*)::int FROM tasks WHERE request_id = r.id AND ((evidence->>'partial') = 'true' OR evidence ? 'operatorDecision')) AS partial`;

/**
 * The settling write for one request or many, under each request's row lock and its audit chain's
 * lock: every row lock, each followed by
 * its chain's lock, taken in id order (so two batches never wait on each other in a circle), then
 * one read of them all, then every outcome with its audit entry in one statement. Answers in the order asked.
 */
export async function settleRequestsIn(
  tx: Queryable,
  requestIds: string[],
  actor: string,
): Promise<Written<Array<RequestStatus | undefined>>> {
  await tx.query(
    `SELECT ${auditChainLock('r.id::text')} FROM (SELECT id FROM requests WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE) r`,
    [requestIds],
  );
  const { rows } = await tx.query<
    RequestRow & { states: TaskState[] | null; partial: number; last_hash: string | null }
  >(
    `SELECT r.*, ${TASK_OUTCOME_COLUMNS}, (SELECT hash FROM audit_events WHERE request_id = r.id ORDER BY id DESC LIMIT 1) AS last_hash
       FROM requests r WHERE id = ANY($1::uuid[])`,
    [requestIds],
  );
  const answers = new Map<string, RequestStatus | undefined>();
  const ended: string[] = [];
  const settling: Array<{ id: string; status: RequestStatus; from: RequestStatus; prevHash: string | null }> = [];
  for (const request of rows) {
    const states = request.states ?? [];
    if (states.some((s) => !TERMINAL_TASK_STATES.includes(s))) continue;
    if (request.status === 'cancelled' && request.finished_at === null) ended.push(request.id);
    // A cancelled request stays cancelled; one settled by another writer stays as it is (only a reopen changes an outcome).
    const status = request.status === 'cancelled' ? 'cancelled' : outcomeOf(states, request.partial);
    const settles = status !== request.status && mayRequestMove('settle', request.status);
    answers.set(request.id.toLowerCase(), settles || status === request.status ? status : request.status);
    if (settles) settling.push({ id: request.id, status, from: request.status, prevHash: request.last_hash });
  }
  // As in settleRequest: a cancel whose started tasks have now all ended ends here.
  if (ended.length > 0)
    await tx.query(`UPDATE requests SET finished_at = now(), updated_at = now() WHERE id = ANY($1::uuid[])`, [ended]);
  const updated =
    settling.length === 0
      ? []
      : await writeWithAuditEvents<RequestRow>(
          tx,
          {
            sql: `UPDATE requests r SET status = v.status, finished_at = now(), updated_at = now() FROM unnest($1::uuid[], $2::text[]) AS v(id, status)
                   WHERE r.id = v.id AND ${requestGuard('settle', 'r.status')} RETURNING r.*`,
            params: [settling.map((s) => s.id), settling.map((s) => s.status)],
          },
          settling.map((s) => ({
            chainId: s.id,
            prevHash: s.prevHash,
            actor,
            action: 'request.settled',
            detail: { status: s.status, from: s.from },
          })),
        );
  const from = new Map(settling.map((s) => [s.id, s.from]));
  return {
    result: requestIds.map((id) => answers.get(id.toLowerCase())),
    changes: updated.flatMap((row) => statusChangeOf(row, from.get(row.id))),
  };
}
