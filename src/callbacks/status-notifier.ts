import type { StatusChange } from '../ledger/ledger-types.js';
import { isOpenDsrStateChange } from '../opendsr/opendsr-status.js';

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

/** One callback a status change owes, with its deterministic job id. */
export interface OwedCallback {
  jobId: string;
  data: CallbackJobData;
}

/**
 * The callbacks one status change owes: native requests with a `callbackUrl` hear every change;
 * OpenDSR requests hear every change of their OpenDSR state (spec §8.5), at every
 * `status_callback_urls` entry (`opendsrUrlCount` of them). Job ids are deterministic and free of
 * `:` (a BullMQ rule), so the same change queued twice is delivered once.
 */
export function callbacksOwed(change: StatusChange, opendsrUrlCount: number): OwedCallback[] {
  const { request, from, to } = change;
  const base = { requestId: request.id, status: to, at: request.updatedAt.toISOString() };
  const jobId = (format: string, index = 0) =>
    `${format}__${request.id}__${to}__${request.updatedAt.getTime()}__${index}`;
  const owed: OwedCallback[] = [];
  if (request.callbackUrl) owed.push({ jobId: jobId('native'), data: { ...base, format: 'native' } });
  if (request.origin === 'opendsr' && isOpenDsrStateChange(from, to)) {
    for (let urlIndex = 0; urlIndex < opendsrUrlCount; urlIndex++)
      owed.push({ jobId: jobId('opendsr', urlIndex), data: { ...base, format: 'opendsr', urlIndex } });
  }
  return owed;
}
