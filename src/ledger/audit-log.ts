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
