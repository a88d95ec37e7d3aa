import type express from 'express';
import { randomBytes } from 'node:crypto';
import { SESSION_COOKIE_SECONDS } from './admin-sessions.js';
import { cookie, readCookie, safeNext, sameOriginWrite, sameSecret } from './admin-guards.js';
import { ADMIN_PATH, loginPage } from './admin-views.js';
import type { AdminRouteKit } from './admin-route-kit.js';

const LOGIN_CSRF_COOKIE = 'erasure_login_csrf';

/** `/admin/login` (the form and its post) and `/admin/logout`: a token in, a server-side session out. */
export function addLoginRoutes(router: express.Router, kit: AdminRouteKit): void {
  const { deps, secure } = kit;
  const loginCsrfCookie = (req: express.Request, value: string, maxAge: number) =>
    cookie(req, LOGIN_CSRF_COOKIE, value, { path: `${ADMIN_PATH}/login`, maxAge, secure: secure(req) });

  router.get('/login', (req, res) => {
    const csrf = randomBytes(24).toString('base64url');
    res.append('Set-Cookie', loginCsrfCookie(req, csrf, 900));
    res.send(loginPage({ csrf, next: safeNext(req.query.next) }));
  });

  // The one route that reads a body before authenticating: a small form (16 kB, 20 fields), whose
  // token is what authenticates. Its failures count in the same limiter as every other surface.
  router.post('/login', kit.form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const fresh = randomBytes(24).toString('base64url');
    const again = (status: number, error: string) => {
      res.append('Set-Cookie', loginCsrfCookie(req, fresh, 900));
      res.status(status).send(loginPage({ csrf: fresh, next: safeNext(body.next), error }));
    };
    if (
      !sameOriginWrite(req, deps.config) ||
      !sameSecret(readCookie(req, LOGIN_CSRF_COOKIE), typeof body.csrf === 'string' ? body.csrf : undefined)
    ) {
      again(403, 'The form had expired or did not come from this page. Please log in again.');
      return;
    }
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const principal = token ? deps.verify(token) : undefined;
    if (!principal) {
      deps.logger.warn('admin login refused');
      const failed = deps.gate.failure(req);
      if (!failed.ok && failed.status === 429) {
        res.set('Retry-After', String(failed.retryAfterSeconds ?? 60));
        again(429, 'Too many failed logins from this address. Wait a minute and try again.');
        return;
      }
      again(401, 'That token is not valid.');
      return;
    }
    const sessionId = await deps.sessions.create(principal);
    res.append('Set-Cookie', loginCsrfCookie(req, '', 0));
    res.append(
      'Set-Cookie',
      cookie(req, kit.sessionCookieName(req), sessionId, {
        path: kit.sessionCookiePath(req),
        maxAge: SESSION_COOKIE_SECONDS,
        secure: secure(req),
      }),
    );
    deps.logger.info('admin login', { actor: `token:${principal.name}` });
    res.redirect(303, safeNext(body.next));
  });

  router.post('/logout', kit.auth, kit.form, kit.requireCsrf, async (req, res) => {
    // Revoked server-side: a copy of the cookie kept anywhere stops working too.
    if (req.adminSession) await deps.sessions.revoke(req.adminSession);
    res.append(
      'Set-Cookie',
      cookie(req, kit.sessionCookieName(req), '', { path: kit.sessionCookiePath(req), maxAge: 0, secure: secure(req) }),
    );
    res.redirect(303, `${ADMIN_PATH}/login`);
  });
}
