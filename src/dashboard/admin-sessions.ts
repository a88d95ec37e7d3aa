import { createHash, randomBytes } from 'node:crypto';
import type { Request } from 'express';
import type { Database } from '../ledger/database.js';
import type { Principal } from '../api/auth.js';
import type { SessionLookup } from '../api/credential-gate.js';

/** The cookie over https: `__Host-` keeps another subdomain, port or path from setting or scoping it. */
export const SECURE_SESSION_COOKIE = '__Host-erasure_session';
/** The cookie over plain http (a laptop's sandbox): `__Host-` needs `Secure`, which http cannot carry. */
export const PLAIN_SESSION_COOKIE = 'erasure_session';
const IDLE_MS = 8 * 3600_000;
const ABSOLUTE_MS = 24 * 3600_000;
/** last_seen_at is written at most this often per session, so reading pages does not write on every click. */
const TOUCH_EVERY_MS = 60_000;

const digest = (id: string) => createHash('sha256').update(id).digest('hex');

/**
 * Admin sessions (issue 25 §5): the cookie holds a random session id, never a token. The ledger
 * keeps only the id's SHA-256 (a copy of the table opens no session), the token's name, and the
 * times: a session ends after 8 h idle or 24 h in all, or when revoked by logout. The role is the
 * token's role now, so a token removed from the config ends its sessions at once.
 */
export class AdminSessions implements SessionLookup {
  constructor(
    private readonly db: Database,
    /** The configured principals by token name (src/api/auth.ts principalsByName). */
    private readonly principals: Map<string, Principal>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts a session for `principal`; returns its id (for the cookie only). */
  async create(principal: Principal): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    const at = new Date(this.now());
    await this.db.query(
      `INSERT INTO admin_sessions (id_hash, token_name, created_at, last_seen_at) VALUES ($1, $2, $3, $3)`,
      [digest(id), principal.name, at],
    );
    return id;
  }

  async principalOf(sessionId: string): Promise<Principal | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return undefined;
    const now = this.now();
    const { rows } = await this.db.query<{
      token_name: string;
      created_at: Date | string;
      last_seen_at: Date | string;
      revoked_at: Date | string | null;
    }>(`SELECT token_name, created_at, last_seen_at, revoked_at FROM admin_sessions WHERE id_hash = $1`, [
      digest(sessionId),
    ]);
    const row = rows.at(0);
    if (!row || row.revoked_at) return undefined;
    const created = new Date(row.created_at).getTime();
    const seen = new Date(row.last_seen_at).getTime();
    if (now - created >= ABSOLUTE_MS || now - seen >= IDLE_MS) return undefined;
    const principal = this.principals.get(row.token_name);
    if (!principal) return undefined;
    if (now - seen >= TOUCH_EVERY_MS)
      await this.db.query(`UPDATE admin_sessions SET last_seen_at = $2 WHERE id_hash = $1`, [
        digest(sessionId),
        new Date(now),
      ]);
    return principal;
  }

  /** Logout: the session id stops working everywhere, whatever cookie copies remain. */
  async revoke(sessionId: string): Promise<void> {
    await this.db.query(`UPDATE admin_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL`, [
      digest(sessionId),
      new Date(this.now()),
    ]);
    // Ended sessions older than the absolute lifetime are of no use to anyone: dropped on the way.
    await this.db.query(`DELETE FROM admin_sessions WHERE created_at < $1`, [new Date(this.now() - ABSOLUTE_MS)]);
  }

  /** Every session id the request's Cookie header carries, under either cookie name, duplicates included. */
  idsIn(req: Request): string[] {
    const ids: string[] = [];
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const [key, ...rest] = part.trim().split('=');
      if (key === SECURE_SESSION_COOKIE || key === PLAIN_SESSION_COOKIE) ids.push(rest.join('='));
    }
    return ids;
  }
}

/** The session lifetime the cookie announces (the server enforces idle and absolute limits itself). */
export const SESSION_COOKIE_SECONDS = ABSOLUTE_MS / 1000;
