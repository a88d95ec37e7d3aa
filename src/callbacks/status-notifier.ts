import type { JobsOptions } from 'bullmq';
import type { Config } from '../config/config-schema.js';
import type { StatusChange } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import type { QueueSet } from '../workers/queue-set.js';
import { callbacksQueue } from '../../queues/callbacks-queue.js';
import { isOpenDsrStateChange } from '../opendsr/opendsr-status.js';
import type { OpenDsrStore } from '../opendsr/opendsr-store.js';

/** A `deliver-callback` job: ids, the status moved to and when; no URL, no identifier (Invariant 1). */
export interface CallbackJobData {
  requestId: string;
  /** The status the change moved the request to. */
  status: string;
  /** The request's `updated_at` at the change (ISO). */
  at: string;
  format: 'native' | 'opendsr';
  /** Which of the request's OpenDSR `status_callback_urls`. */
  urlIndex?: number;
}

export const DELIVER_CALLBACK = 'deliver-callback';

/**
 * Listens to the ledger's status changes (`RequestLedger.onStatusChange`) and queues one callback
 * job per change and URL: native requests with a `callbackUrl` hear every change; OpenDSR requests
 * hear every change of their OpenDSR state (spec §8.5), at every `status_callback_urls` entry.
 * Job ids are deterministic, so a change reported twice is delivered once.
 */
export function createStatusNotifier(deps: { queues: QueueSet; store: OpenDsrStore; config: Config; logger: Logger }) {
  const options: JobsOptions = {
    attempts: deps.config.callbacks.attempts,
    backoff: { type: 'exponential', delay: deps.config.callbacks.backoffMs, jitter: 0.3 },
  };
  return async function notifyStatusChange(change: StatusChange): Promise<void> {
    const { request, from, to } = change;
    const at = request.updatedAt.toISOString();
    const base = { requestId: request.id, status: to, at };
    const jobs: Array<{ name: string; data: CallbackJobData; opts: JobsOptions }> = [];
    const jobId = (format: string, index = 0) => `${format}__${request.id}__${to}__${request.updatedAt.getTime()}__${index}`;
    try {
      if (request.callbackUrl) jobs.push({ name: DELIVER_CALLBACK, data: { ...base, format: 'native' }, opts: { ...options, jobId: jobId('native') } });
      if (request.origin === 'opendsr' && isOpenDsrStateChange(from, to)) {
        const record = await deps.store.byRequestId(request.id);
        record?.statusCallbackUrls.forEach((_url, urlIndex) =>
          jobs.push({ name: DELIVER_CALLBACK, data: { ...base, format: 'opendsr', urlIndex }, opts: { ...options, jobId: jobId('opendsr', urlIndex) } }),
        );
      }
      if (jobs.length) await deps.queues.queue(callbacksQueue.name).addBulk(jobs);
    } catch (err) {
      deps.logger.warn('could not queue a status callback', { requestId: request.id, status: to, errorName: (err as Error).name });
    }
  };
}
