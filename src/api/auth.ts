import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { ApiToken, Role } from '../config/config-schema.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { CredentialGate } from './credential-gate.js';

/** Who is calling: a named token and its role. */
export interface Principal {
  name: string;
  role: Role;
}

const RANK: Record<Role, number> = { viewer: 0, submitter: 1, operator: 2, admin: 3 };

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/**
 * Resolves bearer tokens to principals. Only SHA-256 digests are held; every candidate is
 * compared in constant time so timing does not tell how much of a token was right.
 */
export function createTokenVerifier(
  adminToken: string | undefined,
  tokens: ApiToken[],
): (token: string) => Principal | undefined {
  const known = tokens.map((t) => ({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') }));
  if (adminToken) known.push({ name: 'admin', role: 'admin', digest: Buffer.from(sha256Hex(adminToken), 'hex') });
  return (token) => {
    const digest = Buffer.from(sha256Hex(token), 'hex');
    let match: Principal | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, digest) && !match) match = { name: k.name, role: k.role };
    return match;
  };
}

/** Every configured principal by token name (admin sessions resolve their role through it, so a removed token ends its sessions). */
export function principalsByName(adminToken: string | undefined, tokens: ApiToken[]): Map<string, Principal> {
  const map = new Map<string, Principal>(tokens.map((t) => [t.name, { name: t.name, role: t.role }]));
  if (adminToken) map.set('admin', { name: 'admin', role: 'admin' });
  return map;
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** The Bearer token of `Authorization`, if any. */
export function bearerToken(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = String(headers.authorization ?? '');
  return /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() || undefined;
}

/**
 * The token a request carries: `Authorization: Bearer …` only. The dashboards' cookie holds a
 * session id, never a token (src/dashboard/admin-sessions.ts), and `/v1`, `/v2` and the CLI take
 * Bearer tokens only (issue 25 §5).
 */
export function tokenFromHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  return bearerToken(headers);
}

/** 401 unless the request carries a known Bearer token (429 after too many failures); sets `req.principal`. */
export function authenticate(
  verify: (token: string) => Principal | undefined,
  limiter = new AuthFailureLimiter(),
): RequestHandler {
  return new CredentialGate(verify, undefined, limiter).bearerOnly();
}

export function requireRole(role: Role): RequestHandler {
  return (req, res, next) => {
    if (!req.principal || RANK[req.principal.role] < RANK[role]) {
      return res.status(403).json({ error: { code: 'forbidden', message: `this needs the ${role} role` } });
    }
    next();
  };
}

export function hasRole(principal: Principal | undefined, role: Role): boolean {
  return !!principal && RANK[principal.role] >= RANK[role];
}
