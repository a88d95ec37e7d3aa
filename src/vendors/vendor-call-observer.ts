import type { VendorName } from './vendor-name.js';

/** How one HTTP call to a vendor ended, by class only (low-cardinality metric label). */
export const VENDOR_CALL_OUTCOMES = ['ok', '4xx', '429', '5xx', 'network_error'] as const;
export type VendorCallOutcome = (typeof VENDOR_CALL_OUTCOMES)[number];

/** One finished HTTP call: who, which operation, how it ended and how long it took. Never a URL or an identifier. */
export interface VendorCall {
  vendor: VendorName;
  /** A fixed operation name (`DeleteEndpoint`, `Push_DeleteInstallId`), never a path with ids in it. */
  operation: string;
  outcome: VendorCallOutcome;
  seconds: number;
}

/** Receives every vendor HTTP call the clients make (src/metrics/vendor-call-stats.ts aggregates them). */
export interface VendorCallObserver {
  observe(call: VendorCall): void;
}

/** For clients built without metrics (tests, the CLI). */
export const NO_CALL_OBSERVER: VendorCallObserver = { observe: () => undefined };

/** The outcome class of an HTTP status; no status at all means the call never got an answer. */
export function outcomeOfStatus(status: number | undefined): VendorCallOutcome {
  if (status === undefined || !Number.isFinite(status) || status <= 0) return 'network_error';
  if (status === 429) return '429';
  if (status >= 500) return '5xx';
  if (status >= 400) return '4xx';
  return 'ok';
}

const OPERATION = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/**
 * The operation label for a call. Only a name shaped like an API operation is kept; anything else
 * (a missing name, or text that could be a path or an id) becomes the HTTP method, so a label can
 * never carry an identifier or explode the series count.
 */
export function operationLabel(name: unknown, method?: string): string {
  if (typeof name === 'string' && OPERATION.test(name)) return name;
  const m = (method ?? '').toUpperCase();
  return /^[A-Z]{1,10}$/.test(m) ? m : 'other';
}

/** `DeleteEndpointCommand` → `DeleteEndpoint`: the AWS SDK's command name is the API operation. */
export function awsOperationName(commandName: unknown): string {
  return operationLabel(typeof commandName === 'string' ? commandName.replace(/Command$/, '') : undefined);
}
