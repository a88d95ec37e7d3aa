import { isVendorError, PermanentVendorError, RateLimitedError } from '../vendors/vendor-errors.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { PreflightInput, VendorCheck } from './vendor-preflight.js';

// What every vendor's preflight check (src/preflight/vendor-preflight.ts) is made of: a patient
// probe, the answer from the taxonomy only, and the scope sightings.

/** What went wrong, from the taxonomy only (status and code, never vendor text). */
export function answerOf(err: unknown): { status?: number; text: string } {
  if (isVendorError(err)) {
    const { status, code } = err.details;
    return { status, text: [status, code].filter((x) => x !== undefined && x !== '').join(' ') || err.name };
  }
  return { text: (err as Error | undefined)?.name ?? 'Error' };
}

/**
 * Calls the vendor, waiting out a 429 (its hint, at most 5 s, three times): a throttled probe says
 * nothing about the configuration. Amplitude, for one, allows one call a second per key.
 */
export async function patiently<T>(call: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof RateLimitedError) || attempt >= 4 || signal?.aborted) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(err.retryAfterMs, 100), 5_000)));
    }
  }
}

/** Records a scope the vendor answered for (src/ledger/scope-sightings.ts); a ledger hiccup never fails a check. */
export async function sighted(
  input: PreflightInput,
  vendor: VendorName,
  configKey: string,
  scopeId: string,
): Promise<void> {
  await input.clients.scopeSightings?.seen({ vendor, configKey, scopeId }).catch(() => undefined);
}

/** When a scope was last seen to exist, if ever: a scope seen before that now answers not found is gone, not mistyped. */
export async function lastSeen(
  input: PreflightInput,
  vendor: VendorName,
  scopeId: string,
): Promise<string | undefined> {
  return (await input.clients.scopeSightings?.lastSeen(vendor, scopeId).catch(() => undefined))?.lastSeenAt;
}

export const rejected = (err: unknown) =>
  err instanceof PermanentVendorError && (err.details.status === 401 || err.details.status === 403);

export function endOfSupport(vendor: VendorName, at: string, now: number, what: string): VendorCheck {
  const day = at.slice(0, 10);
  return now >= Date.parse(at)
    ? {
        vendor,
        check: 'end_of_support',
        status: 'warn',
        detail: `${what} reached end of support on ${day}; erasing what remains in existing accounts`,
      }
    : { vendor, check: 'end_of_support', status: 'ok', detail: `${what} is supported until ${day}` };
}
