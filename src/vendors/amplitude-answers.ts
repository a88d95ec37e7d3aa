import type { Response } from 'got';
import { classifyHttpFailure, parseRetryAfter, TransientVendorError, type VendorError } from './vendor-errors.js';
import type { DeletionEntry } from './amplitude-client.js';

/** How Amplitude's answers are read: job days, ids, statuses and entries, and failures as the taxonomy. */
export const DAY = /^\d{4}-\d{2}-\d{2}$/;
export const DIGITS = /^[1-9]\d{0,18}$/;

export function parse(operation: string, res: Response<string>): unknown {
  try {
    return JSON.parse(res.body) as unknown;
  } catch {
    throw new TransientVendorError(
      { vendor: 'amplitude', operation, status: res.statusCode },
      'answered with a body that is not JSON',
    );
  }
}

/**
 * A job status in the one spelling the jobs compare against: the wire examples are lower-case
 * (`done`, docs/vendors/amplitude.md) but the docs capitalise them in prose, and nothing fixes which
 * Amplitude sends, so the comparison is case-insensitive.
 */
export function readStatus(value: unknown): string {
  return typeof value === 'string' ? value.trim().toLowerCase() : '';
}

export function readEntries(value: unknown): DeletionEntry[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
    .map((e) => ({
      ...(typeof e.amplitude_id === 'number' && Number.isSafeInteger(e.amplitude_id) && e.amplitude_id > 0
        ? { amplitudeId: String(e.amplitude_id) }
        : {}),
      ...(typeof e.amplitude_id === 'string' && DIGITS.test(e.amplitude_id) ? { amplitudeId: e.amplitude_id } : {}),
      ...(typeof e.user_id === 'string' ? { userId: e.user_id } : {}),
      ...(typeof e.requested_on_day === 'string' ? { requestedOnDay: e.requested_on_day } : {}),
    }));
}

/**
 * An Amplitude answer that is not a success → the taxonomy. A 429 waits `Retry-After` when
 * Amplitude sends one, else the configured delay (whether it sends one is unconfirmed, docs/vendors/amplitude.md).
 * No code is taken from the body: it is free text.
 */
export function toVendorError(
  operation: string,
  res: Response,
  throttleDelayMs: number,
  now = Date.now(),
): VendorError {
  const retryAfter = res.headers['retry-after'];
  return classifyHttpFailure({
    vendor: 'amplitude',
    operation,
    status: res.statusCode,
    retryAfterMs: res.statusCode === 429 ? parseRetryAfter(retryAfter, now) : undefined,
    defaultThrottleDelayMs: throttleDelayMs,
  });
}
