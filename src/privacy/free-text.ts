import { createHash } from 'node:crypto';

/**
 * Free text is data about a person (README "Security"): reasons and notes typed by people.
 * These are the audit-detail fields that hold it; src/ledger/audit-log.ts takes them out of the
 * hash chain (the chain keeps a digest), scrubs them here, and stores them beside the chain.
 */
export const FREE_TEXT_FIELDS = ['reason', 'note'] as const;
export type FreeTextField = (typeof FREE_TEXT_FIELDS)[number];

/** The chained stand-in of a free-text field: `reason` → `reasonSha256`. */
export const digestKey = (field: FreeTextField) => `${field}Sha256`;

export function freeTextDigest(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
/**
 * Phone numbers as people write them: international (`+44 20 7946 0958`, `0044…`) and national
 * (`(555) 000-0007`, `555-000-0007`, `020 7946 0958`, `555.000.0007`): 7 to 15 digits with spaces,
 * dots, dashes or parentheses between. Calendar dates (2026-12-07) are left alone.
 */
const PHONE = /(?<![\w+])(?:\+|00)?\(?\d[\d\s().-]{5,22}\d(?![\w])/g;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Scrubs free text: the request's own subject identifiers (user id, install id, Amplitude id, e-mail,
 * phone) become `[subject]` wherever they stand alone (so `user-7` in `user-70` stays), then any other
 * e-mail address becomes `[redacted-email]` and any phone-shaped number `[redacted-phone]`.
 */
export function scrubFreeText(text: string, subjectTerms: string[] = []): string {
  let out = text;
  const terms = [...new Set(subjectTerms.map((t) => t.trim()).filter((t) => t.length >= 3))].sort(
    (a, b) => b.length - a.length,
  );
  for (const term of terms)
    out = out.replace(new RegExp(`(?<![A-Za-z0-9])${escapeRegExp(term)}(?![A-Za-z0-9])`, 'gi'), '[subject]');
  out = out.replace(EMAIL, '[redacted-email]');
  out = out.replace(PHONE, (match) => {
    const digits = match.replace(/\D/g, '').length;
    if (digits < 7 || digits > 15 || DATE.test(match.trim())) return match;
    return '[redacted-phone]';
  });
  return out;
}

/**
 * Splits an audit detail into what the chain holds (each free-text field replaced by its digest)
 * and the scrubbed texts themselves, kept beside the chain.
 */
export function separateFreeText(
  detail: Record<string, unknown>,
  subjectTerms: string[] = [],
): { chained: Record<string, unknown>; texts: Partial<Record<FreeTextField, string>> } {
  const chained: Record<string, unknown> = { ...detail };
  const texts: Partial<Record<FreeTextField, string>> = {};
  for (const field of FREE_TEXT_FIELDS) {
    const value = chained[field];
    if (typeof value !== 'string') continue;
    const scrubbed = scrubFreeText(value, subjectTerms);
    Reflect.deleteProperty(chained, field);
    chained[digestKey(field)] = freeTextDigest(scrubbed);
    texts[field] = scrubbed;
  }
  return { chained, texts };
}
