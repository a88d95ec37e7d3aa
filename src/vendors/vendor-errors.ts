import { UnrecoverableError } from 'bullmq';
import type { VendorName } from './vendor-name.js';

/**
 * The error taxonomy (DESIGN.md, How we write code). Vendor clients throw only these; the task
 * runner (src/workers/task-runner.ts) turns each into BullMQ behaviour in one place:
 * - PermanentVendorError: the vendor says the request is invalid → fail now, no retries;
 * - TransientVendorError: 5xx, timeouts, resets → retry with exponential backoff;
 * - RateLimitedError: 429 / SlowDown → wait the hinted delay, costing no attempt.
 * "Not found" is not an error: clients return it as a result, recorded as evidence `not_found`.
 *
 * Messages are built here from the vendor, operation, status and error code only: never from
 * vendor message text, which can echo a person's identifier back (Invariant 1).
 */
export interface VendorFailureDetails {
  vendor: VendorName;
  operation: string;
  status?: number;
  code?: string;
}

function describe(d: VendorFailureDetails, what: string): string {
  const answer = [d.status, d.code].filter((x) => x !== undefined && x !== '').join(' ');
  return `${d.vendor} ${d.operation} ${what}${answer ? ` (${answer})` : ''}`;
}

export class PermanentVendorError extends UnrecoverableError {
  constructor(readonly details: VendorFailureDetails, reason = 'was refused') {
    super(describe(details, reason));
    this.name = 'PermanentVendorError';
  }
}

export class TransientVendorError extends Error {
  constructor(readonly details: VendorFailureDetails, reason = 'failed') {
    super(describe(details, reason));
    this.name = 'TransientVendorError';
  }
}

export class RateLimitedError extends Error {
  constructor(
    readonly details: VendorFailureDetails,
    /** How long the vendor asked us to wait (or our default when it gave no hint). */
    readonly retryAfterMs: number,
  ) {
    super(describe(details, `was throttled; retrying in ${retryAfterMs} ms`));
    this.name = 'RateLimitedError';
  }
}

export type VendorError = PermanentVendorError | TransientVendorError | RateLimitedError;

export interface ClassifyOptions extends VendorFailureDetails {
  /** Parsed Retry-After / msBeforeNext, when the vendor sent one. */
  retryAfterMs?: number;
  /** Delay to use when a throttled answer carries no hint. */
  defaultThrottleDelayMs: number;
}

/** Maps an HTTP answer that is not a success (and not a handled 404) to the taxonomy. */
export function classifyHttpFailure(options: ClassifyOptions): VendorError {
  const { status, code } = options;
  const details: VendorFailureDetails = { vendor: options.vendor, operation: options.operation, status, code };
  if (status === 429 || code === 'TooManyRequestsException' || code === 'SlowDown' || code === 'ThrottlingException') {
    return new RateLimitedError(details, options.retryAfterMs ?? options.defaultThrottleDelayMs);
  }
  if (status === undefined || status >= 500 || status === 408) return new TransientVendorError(details);
  return new PermanentVendorError(details);
}

/**
 * Retry-After as seconds or an HTTP date, in milliseconds from now; undefined when it is neither,
 * so the caller falls back to its default delay. Both forms are matched strictly: `Number('  ')`
 * is 0 and V8's Date.parse reads `soon 5` or `-5` as dates long past, and either would turn a
 * garbled header into "retry at once" against a vendor that has just throttled us.
 */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // IMF-fixdate, RFC 850 and asctime dates all begin with the day of the week (RFC 9110 §5.6.7).
  if (!/^(mon|tue|wed|thu|fri|sat|sun)[a-z]*,? /i.test(text)) return undefined;
  // HTTP dates are GMT; asctime carries no zone, which Date.parse would read as local time.
  const at = Date.parse(/\b(GMT|UTC|Z)$/i.test(text) ? text : `${text} GMT`);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export function isVendorError(err: unknown): err is VendorError {
  return err instanceof PermanentVendorError || err instanceof TransientVendorError || err instanceof RateLimitedError;
}
