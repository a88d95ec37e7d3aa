import { UnrecoverableError } from 'bullmq';
import type { VendorName } from './vendor-name.js';

/**
 * The error taxonomy (README "Errors, retries and rate limits"). Vendor clients throw only these; the task
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

/**
 * The one shape a vendor error code may have (issue 25, item 3): a word
 * of ASCII letters, digits and underscores, starting with a letter, at most 64 long: AWS's
 * `err.name` (`NoSuchKey`), DeleteObjects' per-key `Code`, App Center's and Segment's error codes,
 * got's and Node's (`ERR_NON_2XX_3XX_RESPONSE`, `ECONNRESET`). Every code of every client passes
 * it, here in the error constructors, so no client can skip it.
 */
export const VENDOR_ERROR_CODE = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** What a code outside VENDOR_ERROR_CODE becomes: it is vendor text, which may carry anything. */
export const UNRECOGNISED_ERROR = 'unrecognised_error';

/**
 * A vendor's error code as we may store, log and print it: the code when it has the shape, else
 * `unrecognised_error`; undefined when there is none. A comma-separated list (DeleteObjects'
 * codes, src/vendors/s3-client.ts) is checked code by code.
 */
export function checkedVendorCode(code: unknown): string | undefined {
  if (code === undefined || code === null || code === '') return undefined;
  if (typeof code !== 'string') return UNRECOGNISED_ERROR;
  const parts = code.split(',').map((part) => (VENDOR_ERROR_CODE.test(part) ? part : UNRECOGNISED_ERROR));
  return [...new Set(parts)].join(',');
}

function checked(d: VendorFailureDetails): VendorFailureDetails {
  return 'code' in d ? { ...d, code: checkedVendorCode(d.code) } : { ...d };
}

function describe(d: VendorFailureDetails, what: string): string {
  const answer = [d.status, d.code].filter((x) => x !== undefined && x !== '').join(' ');
  return `${d.vendor} ${d.operation} ${what}${answer ? ` (${answer})` : ''}`;
}

export class PermanentVendorError extends UnrecoverableError {
  readonly details: VendorFailureDetails;
  constructor(details: VendorFailureDetails, reason = 'was refused') {
    super(describe(checked(details), reason));
    this.details = checked(details);
    this.name = 'PermanentVendorError';
  }
}

/** What kind of configuration mistake a vendor's answer shows (README "Verification values"). */
export type ConfigFault = 'credentials' | 'scope_missing';

/**
 * A configuration mistake, never an outcome: the vendor rejected our credentials or refused a
 * permission (401/403), or says a configured scope (app, bucket, project, source) does not exist.
 * Retrying cannot help and every task of the vendor would meet it: the runners open the vendor's
 * circuit breaker (src/infrastructure/vendor-breaker.ts), which pauses its queue until an operator fixes
 * the config and resumes it. The message names the config key; scope names (app ids, buckets) are
 * not personal data and may appear, identifiers of people never do.
 */
export class MisconfiguredVendorError extends PermanentVendorError {
  constructor(
    details: VendorFailureDetails,
    readonly fault: ConfigFault,
    /** The config key to fix, e.g. `vendors.pinpoint.appIds[0]`. */
    readonly configKey: string,
    reason: string,
  ) {
    super(details, reason);
    this.message = `${reason} (${details.vendor} ${details.operation} answered ${[details.status, details.code].filter((x) => x !== undefined && x !== '').join(' ') || 'no status'})`;
    this.name = 'MisconfiguredVendorError';
  }
}

/** The config key holding each vendor's credentials, for messages about rejected ones. */
export const CREDENTIALS_CONFIG_KEY: Readonly<Partial<Record<VendorName, string>>> = {
  pinpoint: 'vendors.pinpoint.credentials',
  s3: 'vendors.s3.credentials',
  appcenter: 'vendors.appcenter.apiToken',
  segment: 'vendors.segment.token',
  amplitude: 'vendors.amplitude.apiKey/secretKey',
};

/** Whether a vendor answer is a credentials or permission fault: 401/403, or the AWS codes that mean it. */
export function isCredentialsFault(status: number | undefined, code?: string): boolean {
  return (
    status === 401 ||
    status === 403 ||
    code === 'InvalidAccessKeyId' ||
    code === 'SignatureDoesNotMatch' ||
    code === 'UnrecognizedClientException' ||
    code === 'AccessDenied' ||
    code === 'AccessDeniedException'
  );
}

/** The error for a credentials or permission fault, naming the credentials' config key. */
export function credentialsRejected(details: VendorFailureDetails): MisconfiguredVendorError {
  // A registered vendor's credentials are under its own settings: `vendors.<vendor>`.
  const key = CREDENTIALS_CONFIG_KEY[details.vendor] ?? `vendors.${details.vendor}`;
  return new MisconfiguredVendorError(
    details,
    'credentials',
    key,
    `${key}: credentials rejected or permission refused by ${details.vendor}`,
  );
}

/** The error for a configured scope the vendor says does not exist, e.g. `vendors.pinpoint.appIds[0] does not exist in us-east-1`. */
export function scopeMissing(details: VendorFailureDetails, configKey: string, what: string): MisconfiguredVendorError {
  return new MisconfiguredVendorError(details, 'scope_missing', configKey, `${configKey} ${what}`);
}

/** Error names of a call that did not reach the vendor or got no answer in time (got, the AWS SDK, Node). */
const NO_ANSWER = /timeout|timedout|ECONN|EPIPE|ENOTFOUND|EAI_AGAIN|socket|RequestError|NetworkingError|ReadError/i;

/**
 * Whether a transient failure is the vendor failing (5xx, 408, timeouts, refused connections),
 * which the circuit breaker counts, rather than one of our own checks (a file cut short, a
 * deletion read back too early), which it must not: those are about one object, not the vendor.
 */
export function isVendorOutage(err: TransientVendorError): boolean {
  const { status, code } = err.details;
  if (status !== undefined) return status >= 500 || status === 408;
  return code !== undefined && NO_ANSWER.test(code);
}

export class TransientVendorError extends Error {
  readonly details: VendorFailureDetails;
  constructor(details: VendorFailureDetails, reason = 'failed') {
    super(describe(checked(details), reason));
    this.details = checked(details);
    this.name = 'TransientVendorError';
  }
}

export class RateLimitedError extends Error {
  readonly details: VendorFailureDetails;
  constructor(
    details: VendorFailureDetails,
    /** How long the vendor asked us to wait (or our default when it gave no hint). */
    readonly retryAfterMs: number,
  ) {
    super(describe(checked(details), `was throttled; retrying in ${retryAfterMs} ms`));
    this.details = checked(details);
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
  const { status } = options;
  const code = checkedVendorCode(options.code);
  const details: VendorFailureDetails = { vendor: options.vendor, operation: options.operation, status, code };
  if (status === 429 || code === 'TooManyRequestsException' || code === 'SlowDown' || code === 'ThrottlingException') {
    return new RateLimitedError(details, options.retryAfterMs ?? options.defaultThrottleDelayMs);
  }
  if (status === undefined || status >= 500 || status === 408) return new TransientVendorError(details);
  if (isCredentialsFault(status, code)) return credentialsRejected(details);
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
