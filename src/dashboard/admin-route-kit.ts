import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { RequestRecord } from '../ledger/ledger-types.js';
import type { Role } from '../config/config-schema.js';
import { hasRole } from '../api/auth.js';
import { canSee, isStaff } from '../api/access.js';
import { PLAIN_SESSION_COOKIE, SECURE_SESSION_COOKIE } from './admin-sessions.js';
import { dashboardAuthenticate, reachedOverHttps, sameSecret } from './admin-guards.js';
import { ADMIN_PATH, messagePage, requestUrl, type ViewContext } from './admin-views.js';
import type { AdminPageDeps } from './admin-page.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const LIST_LIMIT = 50;

/** What every admin route uses: its deps, the form parser, authentication and role checks, the page context and small request helpers. */
export interface AdminRouteKit {
  deps: AdminPageDeps;
  /** A small url-encoded form (16 kB, 20 fields). */
  form: RequestHandler;
  auth: RequestHandler;
  requireCsrf: RequestHandler;
  requireRole: (role: Role) => RequestHandler;
  /** The clients staff can filter by. */
  knownClients: string[];
  context: (req: Request) => ViewContext;
  secure: (req: Request) => boolean;
  sessionCookieName: (req: Request) => string;
  sessionCookiePath: (req: Request) => string;
  /** The request the route names, if this principal may see it; else answers 404 and returns undefined. */
  findRequest: (req: Request, res: Response) => Promise<RequestRecord | undefined>;
  /** Back to the request page with a notice or an error key (admin-views NOTICES / ERRORS). */
  back: (res: Response, request: RequestRecord, key: { notice?: string; error?: string }) => void;
  /** A trimmed form field of min..max characters, or undefined. */
  text: (req: Request, field: string, min: number, max: number) => string | undefined;
  actor: (req: Request) => string;
}

/** The principal that dashboardAuthenticate set; every route using it is behind `auth`. */
function principalOf(req: Request) {
  if (!req.principal) throw new Error('admin route reached without authentication');
  return req.principal;
}

export function adminRouteKit(deps: AdminPageDeps): AdminRouteKit {
  // The clients staff can filter by: configured tokens that can submit (viewers cannot) and `admin` (the admin token's name, src/api/auth.ts).
  const knownClients = [
    ...new Set([...deps.config.tokens.filter((t) => t.role !== 'viewer').map((t) => t.name), 'admin']),
  ].sort();
  const secure = (req: Request) => reachedOverHttps(req, deps.config);
  const context = (req: Request): ViewContext => ({
    principal: principalOf(req),
    csrf: req.adminCsrf ?? '',
    canOperate: hasRole(req.principal, 'operator'),
    canSubmit: hasRole(req.principal, 'submitter'),
    staff: isStaff(req.principal),
    clients: isStaff(req.principal) ? knownClients : [],
    now: new Date(),
    breakers: req.vendorBreakers,
  });
  return {
    deps,
    form: express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }),
    auth: dashboardAuthenticate(deps.gate, deps.config),
    requireCsrf: (req: Request, res: Response, next: NextFunction) => {
      const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
      if (!sameSecret(req.adminCsrf, typeof sent === 'string' ? sent : undefined)) {
        res
          .status(403)
          .send(
            messagePage(
              context(req),
              'Refused',
              'The form did not carry this session’s CSRF token. Reload the page and try again.',
            ),
          );
        return;
      }
      next();
    },
    requireRole: (role) => (req, res, next) => {
      if (!hasRole(req.principal, role)) {
        res.status(403).send(messagePage(context(req), 'Not allowed', `This needs the ${role} role.`));
        return;
      }
      next();
    },
    knownClients,
    context,
    secure,
    sessionCookieName: (req) => (secure(req) ? SECURE_SESSION_COOKIE : PLAIN_SESSION_COOKIE),
    // `__Host-` requires Path=/; over plain http the cookie stays on the dashboards' paths.
    sessionCookiePath: (req) => (secure(req) ? '/' : ADMIN_PATH),
    findRequest: async (req, res) => {
      const id = String(req.params.id);
      const found = UUID.test(id) ? await deps.ledger.requests.getRequest(id) : undefined;
      // Another client's request is answered exactly as an unknown id.
      const request = found && canSee(req.principal, found) ? found : undefined;
      if (!request) res.status(404).send(messagePage(context(req), 'Not found', 'There is no request with that id.'));
      return request;
    },
    back: (res, request, key) => {
      res.redirect(303, `${requestUrl(request.id)}?${new URLSearchParams(key).toString()}`);
    },
    text: (req, field, min, max) => {
      const value = (req.body as Record<string, unknown> | undefined)?.[field];
      const trimmed = typeof value === 'string' ? value.trim() : '';
      return trimmed.length >= min && trimmed.length <= max ? trimmed : undefined;
    },
    actor: (req) => `token:${principalOf(req).name}`,
  };
}
