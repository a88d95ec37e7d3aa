import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import type { ApiToken, Role } from '../config/config-schema.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';

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
export function createTokenVerifier(adminToken: string | undefined, tokens: ApiToken[]): (token: string) => Principal | undefined {
  const known = tokens.map((t) => ({ name: t.name, role: t.role, digest: Buffer.from(t.sha256, 'hex') }));
  if (adminToken) known.push({ name: 'admin', role: 'admin', digest: Buffer.from(sha256Hex(adminToken), 'hex') });
  return (token) => {
    const digest = Buffer.from(sha256Hex(token), 'hex');
    let match: Principal | undefined;
    for (const k of known) if (timingSafeEqual(k.digest, digest) && !match) match = { name: k.name, role: k.role };
    return match;
  };
}

declare module 'express-serve-static-core' {
  interface Request {
    principal?: Principal;
  }
}

/** The token a request carries: `Authorization: Bearer …`, or the dashboards' `erasure_token` cookie. */
export function tokenFromHeaders(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = String(headers.authorization ?? '');
  const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  return bearer ?? parseCookie(typeof headers.cookie === 'string' ? headers.cookie : undefined, 'erasure_token');
}

/** 401 unless the request carries a known token (429 after too many failures); sets `req.principal`. */
export function authenticate(verify: (token: string) => Principal | undefined, limiter = new AuthFailureLimiter()): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const address = req.socket.remoteAddress ?? 'unknown';
    const waitMs = limiter.blockedFor(address);
    if (waitMs > 0) {
      res.set('Retry-After', String(Math.ceil(waitMs / 1000)));
      return res.status(429).json({ error: { code: 'too_many_failed_logins', message: 'too many failed authentications from this address; wait and retry' } });
    }
    const token = tokenFromHeaders(req.headers);
    const principal = token ? verify(token) : undefined;
    if (!principal) {
      limiter.recordFailure(address);
      res.set('WWW-Authenticate', 'Bearer realm="erasure"');
      return res.status(401).json({ error: { code: 'unauthorized', message: 'a valid bearer token is required' } });
    }
    req.principal = principal;
    next();
  };
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

function parseCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}
