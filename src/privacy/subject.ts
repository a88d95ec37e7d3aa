import { domainToASCII } from 'node:url';
import { parsePhoneNumberWithError } from 'libphonenumber-js';

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
 * Characters no identifier may hold (issue 25, item 8): C0 and C1 controls and DEL; the bidi
 * marks, embeddings, overrides and isolates (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069),
 * which make a value read as something else; zero-width and invisible characters (U+00AD,
 * U+180E, U+200B–U+200D, U+2060–U+2064, U+FEFF); and the line and paragraph separators.
 * Refused inside the value, never stripped: stripping would turn it into somebody else's. Only
 * surrounding white space is trimmed first (a trailing new line from a careless client).
 */
/* eslint-disable no-control-regex -- matching control characters is this pattern's purpose */
const FORBIDDEN_CHARACTERS =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
/* eslint-enable no-control-regex -- only the pattern above matches control characters */

function refuseForbidden(kind: IdentifierKind, value: string): void {
  if (FORBIDDEN_CHARACTERS.test(value))
    throw new InvalidIdentifierError(kind, 'must not contain control, bidi or zero-width characters');
}

/** RFC 5321 `atext` (plus SMTPUTF8's non-ASCII, RFC 6531), and a dot-atom of it: no leading, trailing or double dot. */
const LOCAL_PART = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uffff-]+)*$/;
/** An LDH label (RFC 5321 §4.1.2 `sub-domain`): letters, digits, inner hyphens, at most 63. */
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Normalised form used for matching (Invariant 2): trimmed, lower-cased e-mail with an ASCII
 * (punycode) domain; plus-addressing kept, since `ann+x@` and `ann@` are different mailboxes.
 * The shape is RFC 5321's, checked and not guessed: a dot-atom local part of at most 64 octets
 * (no quoted strings), a domain of LDH labels with a non-numeric top label, at most 254 in all.
 * `a..b@x.com`, `a@-x.com` and lists (`a@x.com,b@x.com`) are refused, never repaired.
 */
export function normaliseEmail(raw: string): string {
  const value = raw.trim().toLowerCase();
  refuseForbidden('email', value);
  const at = value.lastIndexOf('@');
  if (at <= 0 || at === value.length - 1) throw new InvalidIdentifierError('email', 'must be an e-mail address');
  const local = value.slice(0, at);
  const rawDomain = value.slice(at + 1);
  // domainToASCII runs the URL host parser, which drops tabs and new lines, percent-decodes, and
  // stops at `/ ? # \`: `ann@x.com/y` or `ann@x\tx.com` would come out as somebody else's address
  // (Invariant 2). Refuse those characters first, then insist on LDH labels.
  // eslint-disable-next-line no-control-regex -- control characters are what this refuses
  if (/[\s\u0000-\u001f\u007f/\\?#%@:[\],;]/.test(rawDomain))
    throw new InvalidIdentifierError('email', 'must be an e-mail address');
  if (!LOCAL_PART.test(local) || Buffer.byteLength(local) > 64)
    throw new InvalidIdentifierError('email', 'must be an e-mail address');
  const domain = domainToASCII(rawDomain);
  const labels = domain.split('.');
  if (
    labels.length < 2 ||
    domain.length > 253 ||
    !labels.every((label) => DOMAIN_LABEL.test(label)) ||
    /^\d+$/.test(labels[labels.length - 1])
  ) {
    throw new InvalidIdentifierError('email', 'must be an e-mail address');
  }
  const address = `${local}@${domain}`;
  if (Buffer.byteLength(address) > 254) throw new InvalidIdentifierError('email', 'must be an e-mail address');
  return address;
}

const PHONE_PROBLEM = 'must be an international number in E.164 form, like +15551234567';

/**
 * E.164 through libphonenumber-js, with its national-prefix rules: `+44 (0) 20 7946 0958` is
 * `+442079460958`, not `+4402079460958` (somebody else). The country code must exist and the
 * number must have a possible length for it (`+999999999999999` is refused). A number is not
 * required to be assigned today: a vendor may hold a number from a range the metadata does not
 * list (the sandbox's +1 555 numbers among them), and it must stay erasable. Only digits,
 * spaces, `( ) . -` and a leading `+` or `00` are taken: letters (vanity numbers), extensions
 * and lists are refused rather than guessed at. National numbers without a country code are
 * refused: guessing the country would risk erasing somebody else.
 */
export function normalisePhone(raw: string): string {
  let value = raw.trim();
  refuseForbidden('phone', value);
  if (!/^(\+|00)[1-9][\d\s().-]*$/.test(value) || /\+.*\+/.test(value))
    throw new InvalidIdentifierError('phone', PHONE_PROBLEM);
  if (value.startsWith('00')) value = `+${value.slice(2)}`;
  let parsed;
  try {
    parsed = parsePhoneNumberWithError(value);
  } catch {
    throw new InvalidIdentifierError('phone', PHONE_PROBLEM);
  }
  if (!parsed.isPossible() || parsed.ext || !/^\+[1-9]\d{7,14}$/.test(parsed.number))
    throw new InvalidIdentifierError('phone', PHONE_PROBLEM);
  return parsed.number;
}

/**
 * User ids are matched exactly, as the vendor stores them: only surrounding white space is
 * trimmed. A comma-separated list is refused: as one id it would match nobody and read as
 * "not found" for every person in it.
 */
export function normaliseUserId(raw: string): string {
  const value = raw.trim();
  refuseForbidden('userId', value);
  if (!value) throw new InvalidIdentifierError('userId', 'must not be empty');
  if (/[,;]/.test(value)) throw new InvalidIdentifierError('userId', 'must be one identifier, not a list');
  return value;
}

export function normaliseInstallId(raw: string): string {
  const value = raw.trim().toLowerCase();
  refuseForbidden('installId', value);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(value))
    throw new InvalidIdentifierError('installId', 'must be a UUID');
  return value;
}

export function normaliseAmplitudeId(raw: string | number): string {
  // A number past 2^53 has already been rounded to a neighbour's id; only a string is exact.
  if (typeof raw === 'number' && !Number.isSafeInteger(raw))
    throw new InvalidIdentifierError('amplitudeId', 'must be a positive integer (send ids above 2^53 as a string)');
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

/** A subject field that is not an identifier kind (`__proto__` among them): refused, never dropped. */
export class UnknownIdentifierError extends Error {
  constructor(readonly field: string) {
    super(`${field} is not a known identifier`);
    this.name = 'UnknownIdentifierError';
  }
}

/**
 * Normalises every identifier given; throws InvalidIdentifierError on the first bad one, and
 * UnknownIdentifierError for any other own key. JSON.parse makes `"__proto__"` an own key, which
 * a schema's key walk can miss (Joi does); it is named as a field here, not silently dropped.
 */
export function normaliseSubject(raw: Partial<Record<IdentifierKind, string | number>>): Subject {
  for (const key of Object.keys(raw)) {
    if (!(IDENTIFIER_KINDS as readonly string[]).includes(key))
      throw new UnknownIdentifierError(/^[A-Za-z0-9_$-]{1,40}$/.test(key) ? key : '(a field with an unprintable name)');
  }
  const subject: Subject = {};
  for (const kind of IDENTIFIER_KINDS) {
    const value = raw[kind];
    if (value !== undefined) subject[kind] = NORMALISERS[kind](value);
  }
  return subject;
}
