import { createHash } from 'node:crypto';
import { canonicalJson } from '../privacy/canonical-json.js';
import { FREE_TEXT_FIELDS, digestKey, freeTextDigest } from '../privacy/free-text.js';

/** What a readable trail shows for free text shredded with the identities (src/ledger/request-audit.ts auditTrail). */
export const SHREDDED_TEXT = '[removed with the identities]';

/** The detail as chained: a free-text field that has its digest beside it is not part of the hash. */
function chainedDetail(detail: Record<string, unknown>): Record<string, unknown> {
  const chained = { ...detail };
  for (const field of FREE_TEXT_FIELDS)
    if (typeof chained[digestKey(field)] === 'string') Reflect.deleteProperty(chained, field);
  return chained;
}

/** One entry of a request's hash-chained audit trail, as stored and as put in receipts. */
export interface ChainEntry {
  id: number;
  at: string;
  requestId: string | null;
  actor: string;
  action: string;
  detail: Record<string, unknown>;
  /** Hash of the previous entry of the same chain; null for the first. */
  prevHash: string | null;
  hash: string;
  /**
   * Free text of the entry (reasons, notes), scrubbed, kept beside the chain: `detail` holds only
   * its digest (`reasonSha256`, …), so shredding can delete the text and the chain still verifies.
   */
  text?: Record<string, string>;
}

/** The hash of an entry covers every field but itself, including the previous entry's hash. */
export function chainEntryHash(entry: Omit<ChainEntry, 'hash' | 'id'> & { id?: number; hash?: string }): string {
  const { id: _id, hash: _hash, text: _text, ...covered } = entry;
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a chain read back from a receipt file may lack what its type promises; this is where that is checked
  const detail = covered.detail ?? {};
  return createHash('sha256')
    .update(canonicalJson({ ...covered, detail: chainedDetail(detail) }))
    .digest('hex');
}

/** Checks an ordered chain: every hash is right and every entry points at the one before it. */
export function verifyChain(entries: ChainEntry[]): string[] {
  const problems: string[] = [];
  let previous: string | null = null;
  entries.forEach((entry, index) => {
    if (entry.prevHash !== previous)
      problems.push(
        `entry ${index} (${entry.action}) does not follow the entry before it: an entry is missing or out of order`,
      );
    if (chainEntryHash(entry) !== entry.hash)
      problems.push(`entry ${index} (${entry.action}) was changed: its hash does not match its content`);
    // Free text shown with an entry (in `text`, or back in its field) must be the text the chain's digest names.
    for (const field of FREE_TEXT_FIELDS) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a chain read back from a receipt file may lack what its type promises; this is where that is checked
      const digest = entry.detail?.[digestKey(field)];
      // No digest: an entry written before free text left the chain, where the text itself is hashed.
      if (typeof digest !== 'string') continue;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a chain read back from a receipt file may lack what its type promises; this is where that is checked
      for (const shown of [entry.text?.[field], entry.detail?.[field]]) {
        if (typeof shown === 'string' && shown !== SHREDDED_TEXT && freeTextDigest(shown) !== digest) {
          problems.push(`entry ${index} (${entry.action}): its ${field} is not the text the chain holds a digest of`);
        }
      }
    }
    previous = entry.hash;
  });
  return problems;
}
