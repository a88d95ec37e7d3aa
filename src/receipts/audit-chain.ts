import { createHash } from 'node:crypto';
import { canonicalJson } from '../privacy/canonical-json.js';

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
}

/** The hash of an entry covers every field but itself, including the previous entry's hash. */
export function chainEntryHash(entry: Omit<ChainEntry, 'hash' | 'id'> & { id?: number; hash?: string }): string {
  const { id: _id, hash: _hash, ...covered } = entry;
  return createHash('sha256').update(canonicalJson(covered)).digest('hex');
}

/** Checks an ordered chain: every hash is right and every entry points at the one before it. */
export function verifyChain(entries: ChainEntry[]): string[] {
  const problems: string[] = [];
  let previous: string | null = null;
  entries.forEach((entry, index) => {
    if (entry.prevHash !== previous) problems.push(`entry ${index} (${entry.action}) does not follow the entry before it: an entry is missing or out of order`);
    if (chainEntryHash(entry) !== entry.hash) problems.push(`entry ${index} (${entry.action}) was changed: its hash does not match its content`);
    previous = entry.hash;
  });
  return problems;
}
