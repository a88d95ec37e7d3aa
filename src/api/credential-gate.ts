import type { Request, RequestHandler, Response } from 'express';
import type { ApiToken } from '../config/config-schema.js';
import { AuthFailureLimiter } from './auth-failure-limiter.js';
import { bearerToken, hasRole, type Principal } from './auth.js';
import type { Role } from '../config/config-schema.js';

/** What a request's credentials came to: a principal, or why not (and how long to wait after too many failures). */
export type GateResult =
  | { ok: true; principal: Principal; via: 'bearer' | 'session'; sessionId?: string }
  | { ok: false; status: 400 | 401 | 429; code: string; message: string; retryAfterSeconds?: number };

/** Looks up an admin session by the id in its cookie (src/dashboard/admin-sessions.ts). */
export interface SessionLookup {
  /** The session ids a request's cookies carry (several = refused: cookie tossing). */
  idsIn(req: Request): string[];
  principalOf(sessionId: string): Promise<Principal | undefined>;
}

/**
 * The one gate every authenticated surface goes through (issue 25 §2): `/v1`, `/v2`, OpenGDPR,
 * `/sandbox`, Bull Board and the admin pages (and the admin login form). It resolves the request's
 * credentials first, so a valid token is never refused by the failure limiter (a valid client
 * behind a shared address is not locked out); only failures are counted and limited, per client
 * address (`req.ip`: the socket's, or the proxy's X-Forwarded-For under `trustProxy`).
 */
export class CredentialGate {
  readonly limiter: AuthFailureLimiter;

  constructor(
    private readonly verify: (token: string) => Principal | undefined,
    private readonly sessions?: SessionLookup,
    limiter = new AuthFailureLimiter(),
  ) {
    this.limiter = limiter;
  }

  /** The client's address as the limiter counts it. */
  static address(req: Request): string {
    return req.ip ?? req.socket.remoteAddress ?? 'unknown';
  }

  /**
   * Resolves the credentials: a Bearer token always; the session cookie only when `cookies` (the
   * dashboards). `/v1`, `/v2` and the CLI never accept a cookie.
   */
  async check(req: Request, options: { cookies: boolean }): Promise<GateResult> {
    const token = bearerToken(req.headers);
    if (token) {
      const principal = this.verify(token);
      if (principal) return { ok: true, principal, via: 'bearer' };
      return this.failure(req);
    }
    if (options.cookies && this.sessions) {
      const ids = this.sessions.idsIn(req);
      // Two session cookies (one planted by another port or path of the host): refuse, never pick one.
      if (ids.length > 1)
        return {
          ok: false,
          status: 400,
          code: 'ambiguous_session',
          message: 'the request carries more than one session cookie; log in again',
        };
      if (ids.length === 1) {
        const principal = await this.sessions.principalOf(ids[0]);
        if (principal) return { ok: true, principal, via: 'session', sessionId: ids[0] };
        return this.failure(req);
      }
    }
    return this.failure(req);
  }

  /** A failed credential: 429 once the address has failed too often, else counted and 401. */
  failure(req: Request): GateResult {
    const address = CredentialGate.address(req);
    const waitMs = this.limiter.blockedFor(address);
    if (waitMs > 0)
      return {
        ok: false,
        status: 429,
        code: 'too_many_failed_logins',
        message: 'too many failed authentications from this address; wait and retry',
        retryAfterSeconds: Math.ceil(waitMs / 1000),
      };
    this.limiter.recordFailure(address);
    return { ok: false, status: 401, code: 'unauthorized', message: 'a valid bearer token is required' };
  }

  /** Middleware for Bearer-only surfaces (`/v1`, `/sandbox`): 401/429 JSON, or `req.principal` set (and a role checked). */
  bearerOnly(role?: Role): RequestHandler {
    return async (req, res, next) => {
      const result = await this.check(req, { cookies: false });
      if (!result.ok) {
        refuse(res, result);
        return;
      }
      req.principal = result.principal;
      if (role && !hasRole(result.principal, role))
        return res.status(403).json({ error: { code: 'forbidden', message: `this needs the ${role} role` } });
      next();
    };
  }
}

/** Answers a failed gate result as JSON. */
export function refuse(res: Response, result: Extract<GateResult, { ok: false }>): void {
  if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
  if (result.status === 401) res.set('WWW-Authenticate', 'Bearer realm="erasure"');
  res.status(result.status).json({ error: { code: result.code, message: result.message } });
}

/**
 * Per-token intake rate limit (issue 25 §2): a token bucket per token name, set by
 * `tokens[].rateLimit {perSecond, burst}`; tokens without one are not limited. A submission needs
 * one whole token in the bucket before its body is read; once parsed, a bulk body is charged its
 * size (the bucket may go below zero: the debt is waited off before the next submission).
 */
export class IntakeRateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number; perSecond: number; burst: number }>();

  constructor(
    tokens: ApiToken[],
    private readonly now: () => number = Date.now,
  ) {
    for (const t of tokens)
      if (t.rateLimit)
        this.buckets.set(t.name, {
          tokens: t.rateLimit.burst,
          at: now(),
          perSecond: t.rateLimit.perSecond,
          burst: t.rateLimit.burst,
        });
  }

  private refill(name: string) {
    const bucket = this.buckets.get(name);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(bucket.burst, bucket.tokens + ((now - bucket.at) / 1000) * bucket.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** 0 when a submission by `name` may go ahead (one token taken), else the milliseconds until it may. */
  take(name: string): number {
    const bucket = this.refill(name);
    if (!bucket) return 0;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - bucket.tokens) / bucket.perSecond) * 1000);
  }

  /** Charges `extra` more tokens (the rest of a bulk submission), possibly into debt. */
  charge(name: string, extra: number): void {
    const bucket = this.refill(name);
    if (bucket && extra > 0) bucket.tokens -= extra;
  }

  /** Middleware: 429 with Retry-After when the caller's bucket is empty. Mount after authentication. */
  middleware(): RequestHandler {
    return (req, res, next) => {
      const waitMs = req.principal ? this.take(req.principal.name) : 0;
      if (waitMs > 0) {
        res.set('Retry-After', String(Math.max(1, Math.ceil(waitMs / 1000))));
        return res.status(429).json({
          error: { code: 'rate_limited', message: 'this token has submitted too many requests; wait and retry' },
        });
      }
      next();
    };
  }
}
