import type { Queryable } from './database.js';
import { chainEntryHash } from '../receipts/audit-chain.js';

/**
 * Appends one event to a hash chain of `audit_events`: each entry carries the hash of the one
 * before, so a changed or removed entry is detectable offline. The chain is keyed by `chainId`:
 * a request's id, a project deletion's id, or null for the global chain (queue pauses). An
 * advisory lock per chain keeps concurrent writers in order. Call inside a transaction, so the
 * event commits with the change it records.
 */
export async function appendAuditEvent(tx: Queryable, chainId: string | null, actor: string, action: string, detail: Record<string, unknown>): Promise<void> {
  const chain = chainId ?? 'global';
  await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [chain]);
  const { rows: last } = await tx.query<{ hash: string | null }>(
    chainId ? `SELECT hash FROM audit_events WHERE request_id = $1 ORDER BY id DESC LIMIT 1` : `SELECT hash FROM audit_events WHERE request_id IS NULL ORDER BY id DESC LIMIT 1`,
    chainId ? [chainId] : [],
  );
  const at = new Date();
  const prevHash = last[0]?.hash ?? null;
  const hash = chainEntryHash({ at: at.toISOString(), requestId: chainId, actor, action, detail, prevHash });
  await tx.query(`INSERT INTO audit_events (at, request_id, actor, action, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)`, [
    at,
    chainId,
    actor,
    action,
    JSON.stringify(detail),
    prevHash,
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
