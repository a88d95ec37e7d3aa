import type { IdentifierKind, Subject } from './subject.js';

/**
 * Whole-token search for a person's identifiers in free text (audience definitions, notification
 * bodies, …), Invariant 2: `user-42` must not be found inside `user-421` or `vip-user-42`, nor
 * `user42@example.com` inside `xuser42@example.com` or `user42@example.com.au`.
 *
 * An occurrence counts when the characters on both sides of it end the token. Letters, digits and
 * `_ @ % +` always continue a token; `.` and `-` continue it only when another token character
 * follows on their far side, so a sentence's full stop (`… user42@example.com.`) or a dash used as
 * punctuation (`- user-42 -`) still ends it. Everything else (space, quotes, brackets, `, ; : = / |`)
 * separates. No regex is built from the needle, so an identifier's own characters mean nothing.
 */
export interface Needle {
  kind: IdentifierKind;
  /** The normalised identifier. */
  value: string;
  /** E-mail, install ids (UUIDs) and phone numbers compare without regard to case; user ids exactly. */
  caseInsensitive: boolean;
}

const CORE = /[\p{L}\p{N}_@%+]/u;
const JOINER = /[.-]/;

function isCore(ch: string | undefined): boolean {
  return ch !== undefined && CORE.test(ch);
}

function continues(ch: string | undefined, beyond: string | undefined): boolean {
  if (ch === undefined) return false;
  if (isCore(ch)) return true;
  return JOINER.test(ch) && (isCore(beyond) || (beyond !== undefined && JOINER.test(beyond)));
}

/** The kinds searched for in text: those that identify a person on their own in App Center data. */
const TEXT_KINDS: readonly IdentifierKind[] = ['email', 'userId', 'installId', 'phone'];

/** The subject's identifiers to search text for (not Amplitude ids: bare numbers occur everywhere). */
export function subjectNeedles(subject: Subject): Needle[] {
  const needles: Needle[] = [];
  for (const kind of TEXT_KINDS) {
    const value = subject[kind];
    if (value) needles.push({ kind, value, caseInsensitive: kind !== 'userId' });
  }
  return needles;
}

/** True when `needle` occurs in `text` as a whole token. */
export function containsToken(text: string, needle: Needle): boolean {
  if (!needle.value || !text) return false;
  const haystack = needle.caseInsensitive ? text.toLowerCase() : text;
  const value = needle.caseInsensitive ? needle.value.toLowerCase() : needle.value;
  // toLowerCase keeps the length of ASCII text; for any other text compare on the original indices.
  if (haystack.length !== text.length) return containsTokenSlow(text, value);
  for (let at = haystack.indexOf(value); at !== -1; at = haystack.indexOf(value, at + 1)) {
    const end = at + value.length;
    if (!continues(text[at - 1], text[at - 2]) && !continues(text[end], text[end + 1])) return true;
  }
  return false;
}

function containsTokenSlow(text: string, lowerValue: string): boolean {
  for (let at = 0; at + lowerValue.length <= text.length; at++) {
    const end = at + lowerValue.length;
    if (text.slice(at, end).toLowerCase() !== lowerValue) continue;
    if (!continues(text[at - 1], text[at - 2]) && !continues(text[end], text[end + 1])) return true;
  }
  return false;
}

/** True when any of the texts names any of the needles as a whole token. */
export function namesAny(texts: ReadonlyArray<string | undefined | null>, needles: readonly Needle[]): boolean {
  return needles.some((needle) => texts.some((text) => typeof text === 'string' && containsToken(text, needle)));
}

/** True when `value` (one list item, e.g. a target user id) is exactly the needle's identifier. */
export function equalsIdentifier(value: unknown, needle: Needle): boolean {
  if (typeof value !== 'string') return false;
  const trimmed = value.trim();
  return needle.caseInsensitive ? trimmed.toLowerCase() === needle.value.toLowerCase() : trimmed === needle.value;
}

const SHAPES: RegExp[] = [
  /[^\s'"<>()[\]{},;:=/|]+@[^\s'"<>()[\]{},;:=/|]+\.[a-z0-9-]+/gi,
  /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi,
  /\+\d{8,15}/g,
];

export const REDACTED = '[redacted]';

/**
 * A vendor object's name made safe for evidence: every occurrence of any given identifier, even
 * inside a longer token (`vip-user-42` → `vip-[redacted]`), and anything shaped like an e-mail
 * address, UUID or phone number, is replaced. Over-redacting is harmless here; under-redacting is not.
 */
export function redactIdentifiers(text: string, needles: readonly Needle[]): string {
  let out = text;
  for (const needle of [...needles].sort((a, b) => b.value.length - a.value.length)) {
    if (!needle.value) continue;
    out = replaceAll(out, needle.value, needle.caseInsensitive);
  }
  for (const shape of SHAPES) out = out.replace(shape, REDACTED);
  return out;
}

function replaceAll(text: string, value: string, caseInsensitive: boolean): string {
  const haystack = caseInsensitive ? text.toLowerCase() : text;
  const needle = caseInsensitive ? value.toLowerCase() : value;
  if (haystack.length !== text.length) return text.split(value).join(REDACTED);
  let out = '';
  let from = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, from)) {
    out += text.slice(from, at) + REDACTED;
    from = at + needle.length;
  }
  return out + text.slice(from);
}
