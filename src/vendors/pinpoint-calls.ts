import { PinpointServiceException, type PinpointClient as AwsPinpointClient } from '@aws-sdk/client-pinpoint';
import type { ResolvedPinpointSettings } from './pinpoint-settings.js';
import type { QueueLimit } from './vendor-settings.js';
import type { CallBudget } from './call-budget.js';
import { classifyHttpFailure, TransientVendorError, type VendorError } from './vendor-errors.js';
import type { AppGone } from './pinpoint-client.js';

/** What the groups of client methods share, built once in createPinpointClient. */
export interface PinpointContext {
  settings: ResolvedPinpointSettings;
  sdk: AwsPinpointClient;
  pace: {
    DeleteEndpoint: (signal?: AbortSignal) => Promise<void>;
    GetEndpoint: (signal?: AbortSignal) => Promise<void>;
  };
  endOfSupportAt: number;
  call: <T>(operation: string, send: () => Promise<T>) => Promise<T | AppGone>;
}

export function isGone(value: unknown): value is AppGone {
  return typeof value === 'object' && value !== null && (value as AppGone).gone;
}

/** Sends one call; an answer that the app (or what was asked about) is gone comes back as AppGone, any other failure as the taxonomy's error. */
export function createGuardedCall(throttleDelayMs: number, endOfSupportAt: number): PinpointContext['call'] {
  /** NotFoundException always means "not there"; ForbiddenException does once Pinpoint is past its end of support. */
  function goneAnswer(err: unknown): string | undefined {
    if (!(err instanceof PinpointServiceException)) return undefined;
    const status = err.$metadata.httpStatusCode;
    if (err.name === 'NotFoundException') return `${status ?? 404} NotFoundException`;
    if (err.name === 'ForbiddenException' && Date.now() >= endOfSupportAt)
      return `${status ?? 403} ForbiddenException (past end of support)`;
    return undefined;
  }

  return async function call<T>(operation: string, send: () => Promise<T>): Promise<T | AppGone> {
    try {
      return await send();
    } catch (err) {
      const gone = goneAnswer(err);
      if (gone) return { gone: true, vendorAnswer: gone };
      throw toVendorError(operation, err, throttleDelayMs);
    }
  };
}

/**
 * Spaces one operation's calls evenly at `max` per `durationMs` (a bucket of one: no burst) across
 * every process sharing `budget`. Evenly spaced calls never exceed a token bucket of the same rate,
 * so the vendor's 429 stays the exception (a 429 still costs no attempt).
 */
export function createRateGate(
  budget: CallBudget,
  operation: string,
  limit: QueueLimit,
): (signal?: AbortSignal) => Promise<void> {
  const rate = { ...limit, burst: 1 };
  return async (signal) => {
    try {
      await budget.pace(`pinpoint:${operation}`, rate, signal);
    } catch (err) {
      if (!signal?.aborted) throw err;
      throw new TransientVendorError(
        { vendor: 'pinpoint', operation: 'RateGate', code: 'Aborted' },
        'was aborted while waiting for its turn',
      );
    }
  };
}

/** AWS SDK failures → the taxonomy. Pinpoint sends no Retry-After, so throttles wait the configured delay. */
export function toVendorError(operation: string, err: unknown, throttleDelayMs: number): VendorError {
  if (err instanceof PinpointServiceException) {
    return classifyHttpFailure({
      vendor: 'pinpoint',
      operation,
      status: err.$metadata.httpStatusCode,
      code: err.name,
      defaultThrottleDelayMs: throttleDelayMs,
    });
  }
  const name = (err as Error | undefined)?.name ?? 'Error';
  // Network errors, timeouts and aborts: the call may not have reached Pinpoint; try again later.
  return new TransientVendorError({ vendor: 'pinpoint', operation, code: name }, 'did not complete');
}
