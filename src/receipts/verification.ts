/**
 * The one closed set of verification values a task's evidence (and so its receipt) may carry
 * (README "Verification values"). Nothing else is ever written: a receipt
 * signs exactly these words, and each means one thing.
 *
 * - `verified_absent`: a read that could have found the person, in a scope confirmed to exist in
 *   the same run, found nothing (after any deletion).
 * - `vendor_confirmed`: the vendor reports the deletion done but offers no lookup to check it
 *   (a Segment regulation, an Amplitude deletion job, an App Center device delete).
 * - `scope_gone`: the app, project or bucket is gone, by the vendor's own answer about the scope,
 *   kept in the evidence (`vendorAnswer`), e.g. the vendor is past its end of support, or an app
 *   seen before (src/ledger/scope-sightings.ts) answers 404 (`lastSeenAt`).
 * - `unverifiable`: nothing could be checked; `unverifiableReason` says why.
 */
export const VERIFICATIONS = ['verified_absent', 'vendor_confirmed', 'scope_gone', 'unverifiable'] as const;

export type Verification = (typeof VERIFICATIONS)[number];

/** Why a task could not be verified. Closed too, so dashboards and auditors can count them. */
export const UNVERIFIABLE_REASONS = [
  /** The configured S3 prefix holds no object at all: a mistyped prefix looks exactly like this. */
  'empty_prefix',
  /** The scope answered "gone" while its vendor is not known to be retired, and no lookup could confirm it. */
  'scope_unconfirmed',
  /** The vendor offers no read that could find the person there, and reported nothing deleted (an App Center install id answering 404). */
  'no_lookup',
  /**
   * The vendor refused a call holding only this id (an Amplitude 400): by its contract that means an
   * unknown id, but a 400 does not say so, so nothing is claimed.
   */
  'vendor_refused_id',
  /** On-call closed a failed task (skip, resolve): a decision with its reason, nothing was checked. */
  'operator_decision',
] as const;

export type UnverifiableReason = (typeof UNVERIFIABLE_REASONS)[number];

export function isVerification(value: unknown): value is Verification {
  return typeof value === 'string' && (VERIFICATIONS as readonly string[]).includes(value);
}

/** The evidence fields that state a task's verification. */
export type VerificationEvidence =
  | { verification: Exclude<Verification, 'unverifiable'>; unverifiableReason?: never }
  | { verification: 'unverifiable'; unverifiableReason: UnverifiableReason };

export const verifiedAbsent = (): VerificationEvidence & { verifiedAt: string } => ({
  verification: 'verified_absent',
  verifiedAt: new Date().toISOString(),
});
export const vendorConfirmed = (): VerificationEvidence => ({ verification: 'vendor_confirmed' });
export const scopeGone = (): VerificationEvidence => ({ verification: 'scope_gone' });
export const unverifiable = (reason: UnverifiableReason): VerificationEvidence => ({
  verification: 'unverifiable',
  unverifiableReason: reason,
});

/**
 * A task's verification as the receipt shows it: one of VERIFICATIONS, or null when the task has
 * none (skipped, failed, cancelled, still open). An older ledger row with a word outside the set
 * is shown as `unverifiable`, never passed through as if it meant something.
 */
export function receiptVerification(evidence: Record<string, unknown>): {
  verification: Verification | null;
  verificationReason: string | null;
} {
  const value = evidence.verification;
  if (value === undefined || value === null) return { verification: null, verificationReason: null };
  if (isVerification(value))
    return {
      verification: value,
      verificationReason: value === 'unverifiable' ? reasonText(evidence.unverifiableReason) : null,
    };
  return { verification: 'unverifiable', verificationReason: 'legacy_value' };
}

/** An unverifiable task's recorded reason as text ('unspecified' when none was recorded). */
function reasonText(reason: unknown): string {
  if (reason === undefined || reason === null) return 'unspecified';
  return typeof reason === 'string' ? reason : JSON.stringify(reason);
}
