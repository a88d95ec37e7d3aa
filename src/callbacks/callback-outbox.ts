import type { JobsOptions } from 'bullmq';
import type { Config } from '../config/config-schema.js';
import type { Database, Queryable } from '../ledger/database.js';
import type { StatusChange } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import type { OpenDsrStore } from '../opendsr/opendsr-store.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { callbacksQueue } from '../../queues/callbacks-queue.js';
import { callbacksOwed, DELIVER_CALLBACK, type CallbackJobData } from './status-notifier.js';

/**
 * Status callbacks through an outbox (migration 6): the callbacks a status change owes are written
 * in the change's own transaction (`write`), queued right after the commit (`dispatch`) and their
 * rows deleted once BullMQ has the jobs. A crash or a Redis outage between the commit and the
 * enqueue leaves the rows, and the reconciler's `sweep` queues them later. Job ids are
 * deterministic, so a row queued twice (dispatch and sweep racing) is still one delivery.
 */
export interface CallbackOutbox {
  /** Inside the status change's transaction (the ledger's status-change outlet, `record`: src/ledger/status-changes.ts). */
  write(tx: Queryable, change: StatusChange): Promise<void>;
  /** After the commit (the outlet's `publish`): queues the request's waiting rows. Never throws. */
  dispatch(change: StatusChange): Promise<void>;
  /** Queues rows older than `olderThan` (their own dispatch failed or never ran). Returns how many. */
  sweep(olderThan: Date, limit: number): Promise<number>;
}

interface OutboxRow {
  job_id: string;
  request_id: string;
  format: CallbackJobData['format'];
  status: string;
  changed_at: Date;
  /** pg may answer a number column as a string. */
  url_index: number | string;
}

export function createCallbackOutbox(deps: {
  db: Database;
  queues: QueueSet;
  store: OpenDsrStore;
  config: Config;
  logger: Logger;
}): CallbackOutbox {
  const options: JobsOptions = {
    attempts: deps.config.callbacks.attempts,
    backoff: { type: 'exponential', delay: deps.config.callbacks.backoffMs, jitter: 0.3 },
  };

  async function enqueue(rows: OutboxRow[]): Promise<number> {
    if (rows.length === 0) return 0;
    await deps.queues.queue(callbacksQueue.name).addBulk(
      rows.map((row) => ({
        name: DELIVER_CALLBACK,
        data: {
          requestId: row.request_id,
          status: row.status,
          at: new Date(row.changed_at).toISOString(),
          format: row.format,
          ...(row.format === 'opendsr' ? { urlIndex: Number(row.url_index) } : {}),
        } satisfies CallbackJobData,
        opts: { ...options, jobId: row.job_id },
      })),
    );
    await deps.db.query(`DELETE FROM callback_outbox WHERE job_id = ANY($1::text[])`, [rows.map((r) => r.job_id)]);
    return rows.length;
  }

  return {
    async write(tx, change) {
      const { request } = change;
      const record = request.origin === 'opendsr' ? await deps.store.byRequestId(request.id, tx) : undefined;
      for (const owed of callbacksOwed(change, record?.statusCallbackUrls.length ?? 0)) {
        await tx.query(
          `INSERT INTO callback_outbox (job_id, request_id, format, status, changed_at, url_index) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (job_id) DO NOTHING`,
          [
            owed.jobId,
            owed.data.requestId,
            owed.data.format,
            owed.data.status,
            request.updatedAt,
            owed.data.urlIndex ?? 0,
          ],
        );
      }
    },

    async dispatch(change) {
      if (!change.request.callbackUrl && change.request.origin !== 'opendsr') return;
      try {
        const { rows } = await deps.db.query<OutboxRow>(
          `SELECT * FROM callback_outbox WHERE request_id = $1 ORDER BY created_at, job_id LIMIT 100`,
          [change.request.id],
        );
        await enqueue(rows);
      } catch (err) {
        // The rows stay in the outbox; the reconciler queues them.
        deps.logger.warn('could not queue a status callback; the reconciler will', {
          requestId: change.request.id,
          status: change.to,
          errorName: (err as Error).name,
        });
      }
    },

    async sweep(olderThan, limit) {
      const { rows } = await deps.db.query<OutboxRow>(
        `SELECT * FROM callback_outbox WHERE created_at < $1 ORDER BY created_at, job_id LIMIT $2`,
        [olderThan, limit],
      );
      return enqueue(rows);
    },
  };
}
