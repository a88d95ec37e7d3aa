import { domainToASCII } from 'node:url';

/** The kinds of identifier a request can name a person by. */
export const IDENTIFIER_KINDS = ['email', 'phone', 'userId', 'installId', 'amplitudeId'] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

/** A person's identifiers, normalised. Lives only in memory and, sealed, in the ledger's vault. */
export type Subject = Partial<Record<IdentifierKind, string>>;

/** An identifier that cannot be normalised; the message never repeats the value. */
export class InvalidIdentifierError extends Error {
  constructor(
    readonly kind: IdentifierKind,
    readonly problem: string,
  ) {
    super(`${kind} ${problem}`);
    this.name = 'InvalidIdentifierError';
  }
}

/**
 * Normalised form used for matching (Invariant 2): trimmed, lower-cased e-mail with an ASCII
 * (punycode) domain; plus-addressing kept, since `ann+x@` and `ann@` are different mailboxes.
 */
export function normaliseEmail(raw: string): string {
  const value = raw.trim().toLowerCase();
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) throw new InvalidIdentifierError('email', 'must be an e-mail address');
  const local = value.slice(0, at);
  const rawDomain = value.slice(at + 1);
  // domainToASCII runs the URL host parser, which drops tabs and new lines, percent-decodes, and
  // stops at `/ ? # \`: `ann@x.com/y` or `ann@x\tx.com` would come out as somebody else's address
  // (Invariant 2). Refuse those characters first, then insist on non-empty dot-separated labels.
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f/\\?#%@:[\]]/.test(rawDomain)) throw new InvalidIdentifierError('email', 'must be an e-mail address');
  const domain = domainToASCII(rawDomain);
  if (!/^[a-z0-9_-]+(\.[a-z0-9_-]+)+$/.test(domain) || /\s/.test(local) || local.length > 64) throw new InvalidIdentifierError('email', 'must be an e-mail address');
  return `${local}@${domain}`;
}

/**
 * E.164: `+` and 8 to 15 digits, no leading zero in the country code. Spaces, dashes, dots and
 * parentheses are dropped and a leading `00` becomes `+`. National numbers without a country
 * code are refused: guessing the country would risk erasing somebody else.
 */
export function normalisePhone(raw: string): string {
  let value = raw.trim().replace(/[\s().-]/g, '');
  if (value.startsWith('00')) value = `+${value.slice(2)}`;
  if (!/^\+[1-9]\d{7,14}$/.test(value)) throw new InvalidIdentifierError('phone', 'must be an international number in E.164 form, like +15551234567');
  return value;
}

/** User ids are matched exactly, as the vendor stores them: only surrounding white space is trimmed. */
export function normaliseUserId(raw: string): string {
  const value = raw.trim();
  if (!value) throw new InvalidIdentifierError('userId', 'must not be empty');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new InvalidIdentifierError('userId', 'must not contain control characters');
  return value;
}

export function normaliseInstallId(raw: string): string {
  const value = raw.trim().toLowerCase();
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value)) throw new InvalidIdentifierError('installId', 'must be a UUID');
  return value;
}

export function normaliseAmplitudeId(raw: string | number): string {
  // A number past 2^53 has already been rounded to a neighbour's id; only a string is exact.
  if (typeof raw === 'number' && !Number.isSafeInteger(raw)) throw new InvalidIdentifierError('amplitudeId', 'must be a positive integer (send ids above 2^53 as a string)');
  const value = String(raw).trim();
  if (!/^[1-9]\d{0,18}$/.test(value)) throw new InvalidIdentifierError('amplitudeId', 'must be a positive integer');
  return value;
}

const NORMALISERS: Record<IdentifierKind, (raw: string | number) => string> = {
  email: (raw) => normaliseEmail(String(raw)),
  phone: (raw) => normalisePhone(String(raw)),
  userId: (raw) => normaliseUserId(String(raw)),
  installId: (raw) => normaliseInstallId(String(raw)),
  // Given the raw value, not String(raw), so a rounded number is seen and refused.
  amplitudeId: normaliseAmplitudeId,
};

/** Normalises every identifier given; throws InvalidIdentifierError on the first bad one. */
export function normaliseSubject(raw: Partial<Record<IdentifierKind, string | number>>): Subject {
  const subject: Subject = {};
  for (const kind of IDENTIFIER_KINDS) {
    const value = raw[kind];
    if (value !== undefined) subject[kind] = NORMALISERS[kind](value);
  }
  return subject;
}
