import type { Database, Queryable } from './database.js';
import { KeyNotLoadedError, type IdentityCipher } from '../privacy/identity-cipher.js';
import type { IdentifierKind, Subject } from '../privacy/subject.js';
import type { SealedIdentity } from './ledger-rows.js';
import { appendAuditEvent } from './audit-log.js';

/**
 * The identity vault (table `request_identities`): each request's identifiers, sealed
 * (AES-256-GCM) with a keyed hash for lookup (README.md, Security). Opened in memory only, just
 * in time; shredded once a request has ended long enough; re-sealed when the key rotates.
 */
export class IdentityVault {
  constructor(
    private readonly db: Database,
    private readonly cipher: IdentityCipher,
  ) {}

  /** Keyed hash of a client idempotency key, or of an identifier (`kind` tells which). */
  hash(kind: string, value: string): string {
    return this.cipher.lookupHash(kind, value);
  }

  seal(value: string): string {
    return this.cipher.seal(value);
  }

  /** Opens the vault for one request, in memory only, just in time for a worker. */
  async loadSubject(requestId: string): Promise<Subject> {
    const { rows } = await this.db.query<SealedIdentity>(
      `SELECT kind, sealed FROM request_identities WHERE request_id = $1`,
      [requestId],
    );
    return this.openSubject(rows);
  }

  openSubject(identities: readonly SealedIdentity[]): Subject {
    const subject: Subject = {};
    for (const { kind, sealed } of identities) if (sealed) subject[kind as keyof Subject] = this.cipher.open(sealed);
    return subject;
  }

  /**
   * Seals an identifier a vendor revealed for the person (e.g. the Amplitude ID its user id maps
   * to) into an open request's vault, so a later step (withdrawing after a cancel) can use it.
   * Keeps an identifier of that kind the request already has; does nothing once the request ended.
   */
  async addIdentifier(requestId: string, kind: IdentifierKind, value: string): Promise<void> {
    await this.db.query(
      `INSERT INTO request_identities (request_id, kind, lookup_hash, sealed)
       SELECT id, $2, $3, $4 FROM requests WHERE id = $1 AND finished_at IS NULL
       ON CONFLICT (request_id, kind) DO NOTHING`,
      [requestId, kind, this.cipher.lookupHash(kind, value), this.cipher.seal(value)],
    );
  }

  /** Opens the vault for many requests at once (a shared batch's members), in memory only. */
  async loadSubjects(requestIds: string[]): Promise<Map<string, Subject>> {
    const subjects = new Map<string, Subject>(requestIds.map((id) => [id, {}]));
    if (requestIds.length === 0) return subjects;
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string | null }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE request_id = ANY($1::uuid[])`,
      [requestIds],
    );
    for (const row of rows) {
      const subject = subjects.get(row.request_id);
      if (row.sealed && subject) subject[row.kind as keyof Subject] = this.cipher.open(row.sealed);
    }
    return subjects;
  }

  /**
   * `loadSubjects` for a shared batch in a rolling key rotation: a request sealed with a key this
   * process does not hold is listed in `unreadable` (with that key's id) instead of failing the
   * whole batch, so the batch can set aside only those members.
   */
  async loadReadableSubjects(
    requestIds: string[],
  ): Promise<{ subjects: Map<string, Subject>; unreadable: Map<string, string> }> {
    const subjects = new Map<string, Subject>(requestIds.map((id) => [id, {}]));
    const unreadable = new Map<string, string>();
    if (requestIds.length === 0) return { subjects, unreadable };
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string | null }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE request_id = ANY($1::uuid[])`,
      [requestIds],
    );
    for (const row of rows) {
      const subject = subjects.get(row.request_id);
      if (!row.sealed || !subject) continue;
      try {
        subject[row.kind as keyof Subject] = this.cipher.open(row.sealed);
      } catch (err) {
        if (!(err instanceof KeyNotLoadedError)) throw err;
        unreadable.set(row.request_id, err.keyId);
      }
    }
    for (const requestId of unreadable.keys()) subjects.delete(requestId);
    return { subjects, unreadable };
  }

  /** The request's identifiers in plain text, for scrubbing its free text only (never stored or logged). */
  async subjectTerms(tx: Queryable, requestId: string): Promise<string[]> {
    const { rows } = await tx.query<SealedIdentity>(
      `SELECT kind, sealed FROM request_identities WHERE request_id = $1 AND sealed IS NOT NULL`,
      [requestId],
    );
    const terms: string[] = [];
    for (const { sealed } of rows) {
      try {
        if (sealed) terms.push(this.cipher.open(sealed));
      } catch {
        // sealed with a key this process lacks: the generic e-mail and phone patterns still apply
      }
    }
    return terms;
  }

  /**
   * Crypto-shredding: destroys the sealed identifiers of requests that ended before `endedBefore`.
   * Only the keyed hashes stay, so the request can still be found by a hash but never read back.
   * Returns how many requests were shredded.
   */
  async shredIdentities(endedBefore: Date, limit = 1000): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `SELECT DISTINCT r.id FROM requests r JOIN request_identities i ON i.request_id = r.id
          WHERE r.finished_at IS NOT NULL AND r.finished_at < $1 AND i.sealed IS NOT NULL LIMIT $2`,
        [endedBefore, limit],
      );
      for (const { id } of rows) {
        await tx.query(`UPDATE request_identities SET sealed = NULL WHERE request_id = $1`, [id]);
        // Free text is data about the person too (Invariant 13): it goes with the identities. The
        // chain keeps its digests, so receipts signed before and after still verify.
        await tx.query(`DELETE FROM audit_free_text WHERE chain_id = $1`, [id]);
        await tx.query(
          `UPDATE tasks SET evidence = (evidence - 'note') || '{"noteShredded": true}'::jsonb WHERE request_id = $1 AND evidence ? 'note'`,
          [id],
        );
        await tx.query(
          `UPDATE tasks SET evidence = evidence #- '{operatorDecision,reason}' || '{"reasonShredded": true}'::jsonb WHERE request_id = $1 AND evidence->'operatorDecision' ? 'reason'`,
          [id],
        );
        // No free text in this entry, so nothing to scrub: the plain append (src/ledger/audit-log.ts).
        await appendAuditEvent(tx, id, 'system', 'identities.shredded', { endedBefore: endedBefore.toISOString() });
      }
      return rows.length;
    });
  }

  /**
   * Key rotation: re-seals vault entries sealed with an older key under the current one, in
   * batches. Returns how many were re-sealed and how many old-key entries remain.
   */
  async resealIdentities(batch = 500): Promise<{ resealed: number; remaining: number }> {
    const current = `v1.${this.cipher.keyId}.%`;
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE sealed IS NOT NULL AND sealed NOT LIKE $1 LIMIT $2`,
      [current, batch],
    );
    for (const row of rows) {
      await this.db.query(
        `UPDATE request_identities SET sealed = $4 WHERE request_id = $1 AND kind = $2 AND sealed = $3`,
        [row.request_id, row.kind, row.sealed, this.cipher.seal(this.cipher.open(row.sealed))],
      );
    }
    const { rows: left } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM request_identities WHERE sealed IS NOT NULL AND sealed NOT LIKE $1`,
      [current],
    );
    return { resealed: rows.length, remaining: left.at(0)?.n ?? 0 };
  }
}
