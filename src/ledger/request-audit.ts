import type { Database, Queryable } from './database.js';
import { SHREDDED_TEXT, type ChainEntry } from '../receipts/audit-chain.js';
import { appendAuditEvent, freeTextOf } from './audit-log.js';
import { FREE_TEXT_FIELDS, digestKey, type FreeTextField } from '../privacy/free-text.js';
import type { IdentityVault } from './identity-vault.js';

/**
 * A request's audit trail (tables `audit_events`, `audit_free_text`): appended through the one
 * write path of src/ledger/audit-log.ts, which scrubs free text with the request's own identifiers.
 */
export class RequestAudit {
  constructor(
    private readonly db: Database,
    private readonly vault: IdentityVault,
  ) {}

  /** Appends one event in a transaction of its own. */
  async append(
    requestId: string | null,
    actor: string,
    action: string,
    detail: Record<string, unknown> = {},
  ): Promise<void> {
    await this.db.transaction((tx) => this.appendIn(tx, requestId, actor, action, detail));
  }

  /**
   * Appends to the request's hash chain (src/ledger/audit-log.ts) inside the caller's transaction.
   * Free text in `detail` is scrubbed there, with this request's own identifiers turned into
   * `[subject]`; returns the scrubbed texts.
   */
  async appendIn(
    tx: Queryable,
    requestId: string | null,
    actor: string,
    action: string,
    detail: Record<string, unknown>,
  ): Promise<Partial<Record<FreeTextField, string>>> {
    const hasFreeText = FREE_TEXT_FIELDS.some((f) => typeof detail[f] === 'string');
    const subjectTerms = hasFreeText && requestId ? await this.vault.subjectTerms(tx, requestId) : [];
    return appendAuditEvent(tx, requestId, actor, action, detail, { subjectTerms });
  }

  /**
   * The request's audit chain as chained (oldest first): free-text fields appear in `detail` only as
   * digests (`reasonSha256`), with the scrubbed text beside each entry in `text` while it exists.
   * What receipts carry: it verifies before and after a shred.
   */
  async auditChain(requestId: string): Promise<ChainEntry[]> {
    const { rows } = await this.db.query<{
      id: number | string;
      at: Date;
      request_id: string | null;
      actor: string;
      action: string;
      detail: Record<string, unknown>;
      prev_hash: string | null;
      hash: string;
    }>(
      `SELECT id, at, request_id, actor, action, detail, prev_hash, hash FROM audit_events WHERE request_id = $1 ORDER BY id LIMIT 10000`,
      [requestId],
    );
    const texts = await freeTextOf(this.db, requestId);
    return rows.map((r) => {
      const text = texts.get(r.hash);
      return {
        id: Number(r.id),
        at: new Date(r.at).toISOString(),
        requestId: r.request_id,
        actor: r.actor,
        action: r.action,
        detail: r.detail,
        prevHash: r.prev_hash,
        hash: r.hash,
        ...(text ? { text } : {}),
      };
    });
  }

  /**
   * The request's audit trail for reading (oldest first): like `auditChain`, with each free text back
   * in its field (`detail.reason`), or a note that it was shredded with the identities.
   */
  async auditTrail(requestId: string): Promise<ChainEntry[]> {
    return (await this.auditChain(requestId)).map((entry) => {
      const detail = { ...entry.detail };
      for (const field of FREE_TEXT_FIELDS) {
        if (typeof detail[digestKey(field)] === 'string') detail[field] = entry.text?.[field] ?? SHREDDED_TEXT;
      }
      return { ...entry, detail };
    });
  }
}
