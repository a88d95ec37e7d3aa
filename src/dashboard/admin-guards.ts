import type { Request, RequestHandler, Response } from 'express';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { BreakerState } from '../infrastructure/vendor-breaker.js';
import type { CredentialGate } from '../api/credential-gate.js';
import { ADMIN_PATH } from './admin-views.js';

/**
 * How the dashboards guard themselves (README "Admin page (`/admin`)"): who is asking (a Bearer token
 * or the session cookie, through the one credential gate), CSRF tokens derived from the session id
 * with HMAC, same-origin checks on cookie-authenticated writes, cookies, and the pages' headers.
 */

/** No inline script or style, no framing, forms post only here. */
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Bull Board's page under the same policy, with two allowances its UI cannot do without: `base-uri
 * 'self'` (it locates its assets with <base href="/admin/queues/">) and the hash of the one fixed
 * <style> block @bull-board/ui 9.10 injects at start (a hash, not 'unsafe-inline': nothing else inline
 * runs). test/browser/admin.test.ts fails on any CSP report, so an upgrade that changes it shows.
 */
const BOARD_CSP = CSP.replace("base-uri 'none'", "base-uri 'self'").replace(
  "style-src 'self'",
  "style-src 'self' 'sha256-r2N1TB/gHbBtBZFKg7ejmq1acVSREzucTAEw6ga4hoU='",
);

/** The CSRF token of a session: an HMAC keyed by the session's own id (or Bearer token), so only its holder can make it. */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('erasure admin csrf v1').digest('base64url');
}

export function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readCookie(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) {
      try {
        return decodeURIComponent(rest.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * Whether the browser reached the service over https: directly, through `publicUrl`, or (under
 * `trustProxy` only, since express believes X-Forwarded-Proto only then) by the proxy's word.
 */
export function reachedOverHttps(req: Request, config: Pick<Config, 'publicUrl'>): boolean {
  return req.secure || (config.publicUrl?.startsWith('https:') ?? false);
}

export function cookie(
  req: Request,
  name: string,
  value: string,
  options: { path: string; maxAge: number; secure: boolean },
): string {
  return [
    `${name}=${encodeURIComponent(value)}`,
    `Path=${options.path}`,
    `Max-Age=${options.maxAge}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

/**
 * A cookie-authenticated write must come from this origin (issue 25 §5), beside its CSRF token:
 * `Sec-Fetch-Site` (when the browser sends it) same-origin, and `Origin` (when sent) this service's.
 */
export function sameOriginWrite(req: Request, config: Pick<Config, 'publicUrl'>): boolean {
  // A browser that sends Sec-Fetch-Site says it best; with `Referrer-Policy: no-referrer` its form
  // posts carry `Origin: null`, so Origin is checked only when Sec-Fetch-Site is missing.
  const site = req.get('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = req.get('origin');
  if (origin === undefined) return true;
  const own = new Set([`${req.protocol}://${req.get('host') ?? ''}`]);
  if (config.publicUrl) own.add(new URL(config.publicUrl).origin);
  return own.has(origin);
}

/** Where to go after logging in: only a path of the dashboards, never another site. */
export function safeNext(value: unknown): string {
  const next = typeof value === 'string' ? value : '';
  return /^\/admin(?:[/?]|$)/.test(next) && !next.includes('//') && !next.includes('\\') ? next : ADMIN_PATH;
}

/** The dashboards' headers (the admin pages, and Bull Board's pages and JSON): CSP, no caching, no sniffing. */
export function adminPageHeaders(res: Response, options: { board?: boolean } = {}): void {
  // Bull Board's page locates its assets with <base href="/admin/queues/">: base-uri 'self' there, else the same policy.
  res.set('Content-Security-Policy', options.board ? BOARD_CSP : CSP);
  res.set('Cache-Control', 'no-store');
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Cross-Origin-Opener-Policy', 'same-origin');
  res.set('Cross-Origin-Resource-Policy', 'same-origin');
}

export function pageHeaders(res: Response): void {
  adminPageHeaders(res);
  res.type('html');
}

declare module 'express-serve-static-core' {
  interface Request {
    /** The CSRF token of this admin session (set by the admin pages' authentication). */
    adminCsrf?: string;
    /** Vendors whose breaker is not closed, for the admin pages' banner. */
    vendorBreakers?: BreakerState[];
    /** The session id when the request came with the session cookie (logout revokes it). */
    adminSession?: string;
  }
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Authentication for the dashboards: a Bearer token or the session cookie, through the one gate
 * and failure limiter (src/api/credential-gate.ts). A browser that is not logged in is sent to the
 * login form instead of getting a JSON 401; a cookie-authenticated write from another origin is refused.
 */
export function dashboardAuthenticate(gate: CredentialGate, config: Pick<Config, 'publicUrl'>): RequestHandler {
  return async (req, res, next) => {
    const credentials =
      Boolean(req.headers.authorization) || /(?:^|;\s*)(?:__Host-)?erasure_session=/.test(req.headers.cookie ?? '');
    if (!credentials && req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
      res.redirect(303, `${ADMIN_PATH}/login?${new URLSearchParams({ next: req.originalUrl }).toString()}`);
      return;
    }
    const result = await gate.check(req, { cookies: true });
    if (result.ok) {
      if (result.via === 'session' && !READS.has(req.method) && !sameOriginWrite(req, config)) {
        return res.status(403).json({
          error: { code: 'cross_site_write', message: 'a write with the session cookie must come from this site' },
        });
      }
      req.principal = result.principal;
      req.adminCsrf = csrfTokenFor(result.sessionId ?? bearerOf(req));
      req.adminSession = result.sessionId;
      next();
      return;
    }
    if (result.status === 401 && req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
      res.redirect(303, `${ADMIN_PATH}/login?${new URLSearchParams({ next: req.originalUrl }).toString()}`);
      return;
    }
    if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
    if (result.status === 401) res.set('WWW-Authenticate', 'Bearer realm="erasure"');
    return res.status(result.status).json({ error: { code: result.code, message: result.message } });
  };
}

function bearerOf(req: Request): string {
  return /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1]?.trim() ?? '';
}
