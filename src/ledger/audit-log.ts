import type { Queryable } from './database.js';
import { chainEntryHash } from '../receipts/audit-chain.js';
import { separateFreeText, type FreeTextField } from '../privacy/free-text.js';

/** The request's own identifiers, plain, for scrubbing its free text (`[subject]`); never stored. */
export interface AuditScrubbing {
  subjectTerms?: string[];
}

/**
 * Free text (reasons, notes) never enters the chain (README.md, Security: free text is data about a person): scrubbed, its digest
 * chained, the text stored in `audit_free_text` beside the entry, where shredding deletes it.
 * Every audit write passes here, so no caller can skip the scrubbing.
 */
async function storeFreeText(
  tx: Queryable,
  chainId: string | null,
  hash: string,
  texts: Partial<Record<FreeTextField, string>>,
): Promise<void> {
  for (const [field, text] of Object.entries(texts)) {
    await tx.query(`INSERT INTO audit_free_text (chain_id, event_hash, field, text) VALUES ($1, $2, $3, $4)`, [
      chainId ?? 'global',
      hash,
      field,
      text,
    ]);
  }
}

/** The SQL that takes a chain's lock: `hashtext` of the chain id (or 'global'), held to the end of the transaction. */
export const auditChainLock = (param: string) => `pg_advisory_xact_lock(hashtext(${param}))`;

/**
 * Appends one event to a hash chain of `audit_events`: each entry carries the hash of the one
 * before, so a changed or removed entry is detectable offline. The chain is keyed by `chainId`:
 * a request's id, a project deletion's id, or null for the global chain (queue pauses). An
 * advisory lock per chain keeps concurrent writers in order. Call inside a transaction, so the
 * event commits with the change it records.
 */
export async function appendAuditEvent(
  tx: Queryable,
  chainId: string | null,
  actor: string,
  action: string,
  detail: Record<string, unknown>,
  scrubbing: AuditScrubbing = {},
): Promise<Partial<Record<FreeTextField, string>>> {
  const chain = chainId ?? 'global';
  await tx.query(`SELECT ${auditChainLock('$1')}`, [chain]);
  const { rows: last } = await tx.query<{ hash: string | null }>(
    chainId
      ? `SELECT hash FROM audit_events WHERE request_id = $1 ORDER BY id DESC LIMIT 1`
      : `SELECT hash FROM audit_events WHERE request_id IS NULL ORDER BY id DESC LIMIT 1`,
    chainId ? [chainId] : [],
  );
  return insertAuditEvent(tx, { chainId, prevHash: last[0]?.hash ?? null, actor, action, detail, ...scrubbing });
}

/**
 * Appends one event after `prevHash`, the chain's last hash read while holding its lock
 * (`auditChainLock`). For a writer that reads the last hash together with other rows.
 */
export async function insertAuditEvent(
  tx: Queryable,
  event: {
    chainId: string | null;
    prevHash: string | null;
    actor: string;
    action: string;
    detail: Record<string, unknown>;
  } & AuditScrubbing,
): Promise<Partial<Record<FreeTextField, string>>> {
  const at = new Date();
  const { chained, texts } = separateFreeText(event.detail, event.subjectTerms);
  const hash = chainEntryHash({
    at: at.toISOString(),
    requestId: event.chainId,
    actor: event.actor,
    action: event.action,
    detail: chained,
    prevHash: event.prevHash,
  });
  await tx.query(
    `INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`,
    [at, event.chainId, event.actor, event.action, JSON.stringify(chained), event.prevHash, hash],
  );
  await storeFreeText(tx, event.chainId, hash, texts);
  return texts;
}

/**
 * Appends events (as `insertAuditEvent`) in the same statement as `write`, a data-modifying query
 * (`UPDATE … RETURNING`, parameters from $1) whose rows have an `id` column: one round trip for the
 * changes and the entries that record them. Each event (its `chainId` one of those ids, its
 * `prevHash` read under its chain's lock) is written only when `write` returned its chain's row, so
 * a guarded write that lost records nothing.
 */
export async function writeWithAuditEvents<R extends { id: string }>(
  tx: Queryable,
  write: { sql: string; params: unknown[] },
  events: Array<{
    chainId: string;
    prevHash: string | null;
    actor: string;
    action: string;
    detail: Record<string, unknown>;
  }>,
): Promise<R[]> {
  const at = new Date();
  const prepared = events.map((e) => {
    const { chained, texts } = separateFreeText(e.detail);
    const hash = chainEntryHash({
      at: at.toISOString(),
      requestId: e.chainId,
      actor: e.actor,
      action: e.action,
      detail: chained,
      prevHash: e.prevHash,
    });
    return { ...e, chained: JSON.stringify(chained), texts, hash };
  });
  const p = (i: number) => `$${write.params.length + i}`;
  const { rows } = await tx.query<R>(
    `WITH written AS (${write.sql}),
       audited AS (INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash)
         SELECT ${p(1)}::timestamptz, e.chain_id, e.actor, e.action, e.detail::jsonb, e.prev_hash, e.hash
           FROM unnest(${p(2)}::uuid[], ${p(3)}::text[], ${p(4)}::text[], ${p(5)}::text[], ${p(6)}::text[], ${p(7)}::text[]) AS e(chain_id, actor, action, detail, prev_hash, hash)
          WHERE e.chain_id IN (SELECT id FROM written))
     SELECT * FROM written`,
    [
      ...write.params,
      at,
      prepared.map((e) => e.chainId),
      prepared.map((e) => e.actor),
      prepared.map((e) => e.action),
      prepared.map((e) => e.chained),
      prepared.map((e) => e.prevHash),
      prepared.map((e) => e.hash),
    ],
  );
  const writtenIds = new Set(rows.map((r) => r.id));
  for (const e of prepared) if (writtenIds.has(e.chainId)) await storeFreeText(tx, e.chainId, e.hash, e.texts);
  return rows;
}

/**
 * Starts many chains at once (bulk intake): each event is the first of a chain created in this
 * same transaction (a new request's id), so it has no predecessor and no other writer can know
 * the chain yet. One statement for all of them.
 */
export async function appendFirstAuditEvents(
  tx: Queryable,
  events: Array<{ chainId: string; actor: string; action: string; detail: Record<string, unknown> }>,
): Promise<void> {
  if (events.length === 0) return;
  const at = new Date();
  const separated = events.map((e) => separateFreeText(e.detail));
  const hashes = events.map((e, i) =>
    chainEntryHash({
      at: at.toISOString(),
      requestId: e.chainId,
      actor: e.actor,
      action: e.action,
      detail: separated[i].chained,
      prevHash: null,
    }),
  );
  await tx.query(
    `INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash)
     SELECT $1, request_id, actor, action, detail::jsonb, NULL, hash FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(request_id, actor, action, detail, hash)`,
    [
      at,
      events.map((e) => e.chainId),
      events.map((e) => e.actor),
      events.map((e) => e.action),
      separated.map((s) => JSON.stringify(s.chained)),
      hashes,
    ],
  );
  for (const [i, e] of events.entries()) await storeFreeText(tx, e.chainId, hashes[i], separated[i].texts);
}

/** The free texts stored beside a chain, by entry hash. */
export async function freeTextOf(db: Queryable, chainId: string): Promise<Map<string, Record<string, string>>> {
  const { rows } = await db.query<{ event_hash: string; field: string; text: string }>(
    `SELECT event_hash, field, text FROM audit_free_text WHERE chain_id = $1`,
    [chainId],
  );
  const byHash = new Map<string, Record<string, string>>();
  for (const row of rows) byHash.set(row.event_hash, { ...(byHash.get(row.event_hash) ?? {}), [row.field]: row.text });
  return byHash;
}
