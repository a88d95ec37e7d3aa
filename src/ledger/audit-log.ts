import type { Queryable } from './database.js';
import { chainEntryHash } from '../receipts/audit-chain.js';

/** The SQL that takes a chain's lock: `hashtext` of the chain id (or 'global'), held to the end of the transaction. */
export const auditChainLock = (param: string) => `pg_advisory_xact_lock(hashtext(${param}))`;

/**
 * Appends one event to a hash chain of `audit_events`: each entry carries the hash of the one
 * before, so a changed or removed entry is detectable offline. The chain is keyed by `chainId`:
 * a request's id, a project deletion's id, or null for the global chain (queue pauses). An
 * advisory lock per chain keeps concurrent writers in order. Call inside a transaction, so the
 * event commits with the change it records.
 */
export async function appendAuditEvent(tx: Queryable, chainId: string | null, actor: string, action: string, detail: Record<string, unknown>): Promise<void> {
  const chain = chainId ?? 'global';
  await tx.query(`SELECT ${auditChainLock('$1')}`, [chain]);
  const { rows: last } = await tx.query<{ hash: string | null }>(
    chainId ? `SELECT hash FROM audit_events WHERE request_id = $1 ORDER BY id DESC LIMIT 1` : `SELECT hash FROM audit_events WHERE request_id IS NULL ORDER BY id DESC LIMIT 1`,
    chainId ? [chainId] : [],
  );
  await insertAuditEvent(tx, { chainId, prevHash: last[0]?.hash ?? null, actor, action, detail });
}

/**
 * Appends one event after `prevHash`, the chain's last hash read while holding its lock
 * (`auditChainLock`). For a writer that reads the last hash together with other rows.
 */
export async function insertAuditEvent(
  tx: Queryable,
  event: { chainId: string | null; prevHash: string | null; actor: string; action: string; detail: Record<string, unknown> },
): Promise<void> {
  const at = new Date();
  const hash = chainEntryHash({ at: at.toISOString(), requestId: event.chainId, actor: event.actor, action: event.action, detail: event.detail, prevHash: event.prevHash });
  await tx.query(`INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`, [
    at,
    event.chainId,
    event.actor,
    event.action,
    JSON.stringify(event.detail),
    event.prevHash,
    hash,
  ]);
}

/**
 * Starts many chains at once (bulk intake): each event is the first of a chain created in this
 * same transaction (a new request's id), so it has no predecessor and no other writer can know
 * the chain yet. One statement for all of them.
 */
export async function appendFirstAuditEvents(tx: Queryable, events: Array<{ chainId: string; actor: string; action: string; detail: Record<string, unknown> }>): Promise<void> {
  if (events.length === 0) return;
  const at = new Date();
  const hashes = events.map((e) => chainEntryHash({ at: at.toISOString(), requestId: e.chainId, actor: e.actor, action: e.action, detail: e.detail, prevHash: null }));
  await tx.query(
    `INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash)
     SELECT $1, request_id, actor, action, detail::jsonb, NULL, hash FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(request_id, actor, action, detail, hash)`,
    [at, events.map((e) => e.chainId), events.map((e) => e.actor), events.map((e) => e.action), events.map((e) => JSON.stringify(e.detail)), hashes],
  );
}
