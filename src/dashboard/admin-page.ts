import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { BreakerState, VendorBreaker } from '../infrastructure/vendor-breaker.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import { REQUEST_STATUSES, type RequestRecord, type RequestStatus } from '../ledger/ledger-types.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import { scrub, type Logger } from '../logger.js';
import { hasRole, type Principal } from '../api/auth.js';
import { canSee, clientScope, isStaff } from '../api/access.js';
import { CredentialGate } from '../api/credential-gate.js';
import { AdminSessions, PLAIN_SESSION_COOKIE, SECURE_SESSION_COOKIE, SESSION_COOKIE_SECONDS } from './admin-sessions.js';
import { cancelRequest } from '../operations/cancel-request.js';
import { retryFailedTasks } from '../operations/retry-tasks.js';
import { decideFailedTask, NotAFailedTaskError } from '../operations/decide-failed-tasks.js';
import {
  ADMIN_CSS,
  ADMIN_PATH,
  ERRORS,
  NOTICES,
  loginPage,
  messagePage,
  requestListPage,
  requestPage,
  requestUrl,
  taskListPage,
  type ListFilter,
  type ViewContext,
} from './admin-views.js';
import { projectDeletionsPage } from './admin-project-deletions.js';
import { SCOPE_NOTICES, scopeDeletionsPage } from './admin-scope-deletions.js';
import { manualWorkPage } from './admin-manual-work.js';
import { openManualWork } from '../manual-work/manual-work-notices.js';
import { manualWorkSettings } from '../manual-work/manual-work-settings.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import { cancelGuided, confirmGuided, markGuidedSent, ScopeDeletionInvalid, ScopeDeletionNotFound, ScopeDeletionRefused } from '../scope-deletions/scope-deletions.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';

/**
 * `/admin`: the operators' request pages (server-rendered, no scripts), behind the API's tokens.
 * A browser logs in at `/admin/login` with a token and gets a session (src/dashboard/admin-sessions.ts):
 * a random id in an HttpOnly, SameSite=Strict cookie, `Secure` and `__Host-` over https, which Bull
 * Board at `/admin/queues` accepts too. Every form carries a CSRF token derived from the session id
 * with HMAC, and every cookie-authenticated write must also come from this origin (Origin /
 * Sec-Fetch-Site); writes without both are refused.
 */

const LOGIN_CSRF_COOKIE = 'erasure_login_csrf';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const LIST_LIMIT = 50;
const TASK_LIST_LIMIT = 200;

/** No inline script or style, no framing, forms post only here. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Bull Board's page under the same policy, with two allowances its UI cannot do without: `base-uri
 * 'self'` (it locates its assets with <base href="/admin/queues/">) and the hash of the one fixed
 * <style> block @bull-board/ui 9.10 injects at start (a hash, not 'unsafe-inline': nothing else inline
 * runs). test/browser/admin.test.ts fails on any CSP report, so an upgrade that changes it shows.
 */
const BOARD_CSP = CSP.replace("base-uri 'none'", "base-uri 'self'").replace("style-src 'self'", "style-src 'self' 'sha256-r2N1TB/gHbBtBZFKg7ejmq1acVSREzucTAEw6ga4hoU='");

export interface AdminPageDeps {
  config: Config;
  ledger: RequestLedger;
  queues: QueueSet;
  clients: VendorClients;
  logger: Logger;
  verify: (token: string) => Principal | undefined;
  /** The one authentication gate and failure limiter of every surface (src/api/credential-gate.ts). */
  gate: CredentialGate;
  /** Server-side admin sessions. */
  sessions: AdminSessions;
  /** Whole-project deletions, listed for operators at `/admin/project-deletions`. */
  projectDeletions?: ProjectDeletionLedger;
  /** Guided scope deletions (`/admin/scope-deletions`). */
  scopeDeletions?: ScopeDeletionLedger;
  /** `at_risk`: observed vendor durations against deadlines (filter and badges). */
  deadlineRisk: DeadlineRiskLedger;
  /** The vendors' circuit breakers, shown as a banner when one is open. */
  breaker?: VendorBreaker;
}

/** The CSRF token of a session: an HMAC keyed by the session's own id (or Bearer token), so only its holder can make it. */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('erasure admin csrf v1').digest('base64url');
}

function sameSecret(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function readCookie(req: Request, name: string): string | undefined {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
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

function cookie(req: Request, name: string, value: string, options: { path: string; maxAge: number; secure: boolean }): string {
  return [`${name}=${encodeURIComponent(value)}`, `Path=${options.path}`, `Max-Age=${options.maxAge}`, 'HttpOnly', 'SameSite=Strict', ...(options.secure ? ['Secure'] : [])].join('; ');
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
function safeNext(value: unknown): string {
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

function pageHeaders(res: Response): void {
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
    const credentials = Boolean(req.headers.authorization) || /(?:^|;\s*)(?:__Host-)?erasure_session=/.test(String(req.headers.cookie ?? ''));
    if (!credentials && req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
      res.redirect(303, `${ADMIN_PATH}/login?${new URLSearchParams({ next: req.originalUrl }).toString()}`); return;
    }
    const result = await gate.check(req, { cookies: true });
    if (result.ok) {
      if (result.via === 'session' && !READS.has(req.method) && !sameOriginWrite(req, config)) {
        return res.status(403).json({ error: { code: 'cross_site_write', message: 'a write with the session cookie must come from this site' } });
      }
      req.principal = result.principal;
      req.adminCsrf = csrfTokenFor(result.sessionId ?? bearerOf(req));
      req.adminSession = result.sessionId;
      next(); return;
    }
    if (result.status === 401 && req.method === 'GET' && req.accepts(['json', 'html']) === 'html') {
      res.redirect(303, `${ADMIN_PATH}/login?${new URLSearchParams({ next: req.originalUrl }).toString()}`); return;
    }
    if (result.retryAfterSeconds) res.set('Retry-After', String(result.retryAfterSeconds));
    if (result.status === 401) res.set('WWW-Authenticate', 'Bearer realm="erasure"');
    return res.status(result.status).json({ error: { code: result.code, message: result.message } });
  };
}

function bearerOf(req: Request): string {
  return /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? ''))?.[1]?.trim() ?? '';
}

export function createAdminRouter(deps: AdminPageDeps): express.Router {
  const { ledger } = deps;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const auth = dashboardAuthenticate(deps.gate, deps.config);
  /** The clients staff can filter by: configured tokens that can submit (viewers cannot) and `admin` (the admin token's name, src/api/auth.ts). */
  const knownClients = [...new Set([...deps.config.tokens.filter((t) => t.role !== 'viewer').map((t) => t.name), 'admin'])].sort();
  const secure = (req: Request) => reachedOverHttps(req, deps.config);
  const sessionCookieName = (req: Request) => (secure(req) ? SECURE_SESSION_COOKIE : PLAIN_SESSION_COOKIE);
  // `__Host-` requires Path=/; over plain http the cookie stays on the dashboards' paths.
  const sessionCookiePath = (req: Request) => (secure(req) ? '/' : ADMIN_PATH);

  router.use((_req, res, next) => {
    pageHeaders(res);
    next();
  });

  router.get('/assets/admin.css', (_req, res) => {
    res.type('text/css').set('Cache-Control', 'public, max-age=300').send(ADMIN_CSS);
  });

  // ---- login / logout ----
  router.get('/login', (req, res) => {
    const csrf = randomBytes(24).toString('base64url');
    res.append('Set-Cookie', cookie(req, LOGIN_CSRF_COOKIE, csrf, { path: `${ADMIN_PATH}/login`, maxAge: 900, secure: secure(req) }));
    res.send(loginPage({ csrf, next: safeNext(req.query.next) }));
  });

  // The one route that reads a body before authenticating: a small form (16 kB, 20 fields), whose
  // token is what authenticates. Its failures count in the same limiter as every other surface.
  router.post('/login', form, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const fresh = randomBytes(24).toString('base64url');
    const again = (status: number, error: string) => {
      res.append('Set-Cookie', cookie(req, LOGIN_CSRF_COOKIE, fresh, { path: `${ADMIN_PATH}/login`, maxAge: 900, secure: secure(req) }));
      res.status(status).send(loginPage({ csrf: fresh, next: safeNext(body.next), error }));
    };
    if (!sameOriginWrite(req, deps.config) || !sameSecret(readCookie(req, LOGIN_CSRF_COOKIE), typeof body.csrf === 'string' ? body.csrf : undefined)) {
      again(403, 'The form had expired or did not come from this page. Please log in again.'); return;
    }
    const token = typeof body.token === 'string' ? body.token.trim() : '';
    const principal = token ? deps.verify(token) : undefined;
    if (!principal) {
      deps.logger.warn('admin login refused');
      const failed = deps.gate.failure(req);
      if (!failed.ok && failed.status === 429) {
        res.set('Retry-After', String(failed.retryAfterSeconds ?? 60));
        again(429, 'Too many failed logins from this address. Wait a minute and try again.'); return;
      }
      again(401, 'That token is not valid.'); return;
    }
    const sessionId = await deps.sessions.create(principal);
    res.append('Set-Cookie', cookie(req, LOGIN_CSRF_COOKIE, '', { path: `${ADMIN_PATH}/login`, maxAge: 0, secure: secure(req) }));
    res.append('Set-Cookie', cookie(req, sessionCookieName(req), sessionId, { path: sessionCookiePath(req), maxAge: SESSION_COOKIE_SECONDS, secure: secure(req) }));
    deps.logger.info('admin login', { actor: `token:${principal.name}` });
    res.redirect(303, safeNext(body.next));
  });

  router.post('/logout', auth, form, requireCsrf, async (req, res) => {
    // Revoked server-side: a copy of the cookie kept anywhere stops working too.
    if (req.adminSession) await deps.sessions.revoke(req.adminSession);
    res.append('Set-Cookie', cookie(req, sessionCookieName(req), '', { path: sessionCookiePath(req), maxAge: 0, secure: secure(req) }));
    res.redirect(303, `${ADMIN_PATH}/login`);
  });

  function requireCsrf(req: Request, res: Response, next: NextFunction) {
    const sent = (req.body as Record<string, unknown> | undefined)?.csrf;
    if (!sameSecret(req.adminCsrf, typeof sent === 'string' ? sent : undefined)) {
      return res.status(403).send(messagePage(context(req), 'Refused', 'The form did not carry this session’s CSRF token. Reload the page and try again.'));
    }
    next();
  }

  function requireRole(role: 'viewer' | 'submitter' | 'operator' | 'admin') {
    return (req: Request, res: Response, next: NextFunction) => {
      if (!hasRole(req.principal, role)) return res.status(403).send(messagePage(context(req), 'Not allowed', `This needs the ${role} role.`));
      next();
    };
  }

  function context(req: Request): ViewContext {
    return {
      principal: req.principal!,
      csrf: req.adminCsrf!,
      canOperate: hasRole(req.principal, 'operator'),
      canSubmit: hasRole(req.principal, 'submitter'),
      staff: isStaff(req.principal),
      clients: isStaff(req.principal) ? knownClients : [],
      now: new Date(),
      breakers: req.vendorBreakers,
    };
  }

  // ---- pages ----
  // The breaker banner: read once per page (a Redis read per vendor); a Redis outage shows no banner rather than no page.
  router.use(async (req, _res, next) => {
    req.vendorBreakers = deps.breaker ? (await deps.breaker.states().catch(() => [])).filter((b) => b.state !== 'closed') : [];
    next();
  });
  router.get('/', auth, async (req, res) => {
    const filter: ListFilter = (['overdue', 'at_risk', 'failed', 'waiting_manual'] as const).find((f) => f === req.query.filter) ?? 'all';
    const status = REQUEST_STATUSES.find((s) => s === req.query.status) as RequestStatus | undefined;
    // A client sees its own requests only; staff may pick one client.
    const client = clientScope(req.principal) ?? knownClients.find((c) => c === req.query.client);
    if (!status && (filter === 'failed' || filter === 'waiting_manual')) {
      const tasks = await ledger.tasksInState(filter, TASK_LIST_LIMIT, client);
      const requests = new Map<string, RequestRecord | undefined>();
      for (const t of tasks) if (!requests.has(t.requestId)) requests.set(t.requestId, await ledger.getRequest(t.requestId));
      return res.send(taskListPage(context(req), { filter, rows: tasks.map((task) => ({ task, request: requests.get(task.requestId) })), limited: tasks.length === TASK_LIST_LIMIT }));
    }
    const cursor = typeof req.query.cursor === 'string' && req.query.cursor.length <= 200 ? req.query.cursor : undefined;
    let page;
    try {
      const atRisk = filter === 'at_risk' && !status ? { value: true, estimates: await deps.deadlineRisk.estimates() } : undefined;
      page = await ledger.listRequests({ status, client, overdue: filter === 'overdue' && !status ? true : undefined, atRisk, limit: LIST_LIMIT, cursor });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      page = await ledger.listRequests({ status, client, limit: LIST_LIMIT });
    }
    const risks = await deps.deadlineRisk.assess(page.requests);
    res.send(requestListPage(context(req), { filter: status ? 'all' : filter, status, client: isStaff(req.principal) ? client : undefined, requests: page.requests, nextCursor: page.nextCursor, risks }));
  });

  // Every client's open manual steps: staff only (a client gets 403, as for Bull Board; DESIGN.md Invariant 10).
  router.get('/manual-work', auth, async (req, res) => {
    if (!isStaff(req.principal)) return res.status(403).send(messagePage(context(req), 'Not allowed', 'Manual work is for staff roles (viewer, operator, admin).'));
    if (!deps.scopeDeletions) return res.status(404).send(messagePage(context(req), 'Not found', 'Manual work is not available here.'));
    const settings = deps.config.manualWork ?? manualWorkSettings({})!;
    res.send(manualWorkPage(context(req), await openManualWork({ ledger, scopeDeletions: deps.scopeDeletions, settings })));
  });

  router.get('/scope-deletions', auth, requireRole('operator'), async (req, res) => {
    if (!deps.scopeDeletions) return res.status(404).send(messagePage(context(req), 'Not found', 'Scope deletions are not available here.'));
    const notice = SCOPE_NOTICES[String(req.query.notice ?? '')];
    res.send(scopeDeletionsPage(context(req), await deps.scopeDeletions.list(LIST_LIMIT), deps.scopeDeletions.now(), { notice }));
  });

  for (const action of ['sent', 'confirm', 'cancel'] as const) {
    router.post(`/scope-deletions/:id/${action}`, auth, form, requireCsrf, requireRole('operator'), async (req, res) => {
      const scopes = deps.scopeDeletions;
      if (!scopes || !UUID.test(String(req.params.id))) return res.status(404).send(messagePage(context(req), 'Not found', 'No scope deletion with that id.'));
      const id = String(req.params.id);
      const input = text(req, action === 'cancel' ? 'reason' : 'reference', 3, action === 'cancel' ? 500 : 200);
      const refuse = async (status: number, message: string) =>
        res.status(status).send(scopeDeletionsPage(context(req), await scopes.list(LIST_LIMIT), scopes.now(), { error: message }));
      if (!input) return refuse(400, action === 'cancel' ? 'A cancel needs a reason of at least 3 characters.' : 'This needs the ticket or reference (3 to 200 characters).');
      try {
        let notice: string;
        if (action === 'sent') {
          await markGuidedSent(scopes, id, actor(req), { reference: scrub(input) });
          notice = 'sent';
        } else if (action === 'confirm') {
          const done = await confirmGuided(scopes, id, actor(req), { reference: scrub(input) });
          notice = done.status === 'cancelled' ? 'cancelled' : 'confirmed';
        } else {
          const done = await cancelGuided(scopes, id, actor(req), scrub(input));
          notice = done.status === 'cancel_requested' ? 'cancel-drafted' : 'cancelled';
        }
        res.redirect(303, `${ADMIN_PATH}/scope-deletions?notice=${notice}`);
      } catch (err) {
        if (err instanceof ScopeDeletionRefused) return refuse(409, `Refused: ${err.why}. Nothing changed.`);
        if (err instanceof ScopeDeletionInvalid) return refuse(400, err.message);
        if (err instanceof ScopeDeletionNotFound) return res.status(404).send(messagePage(context(req), 'Not found', 'No scope deletion with that id.'));
        throw err;
      }
    });
  }

  router.get('/project-deletions', auth, requireRole('operator'), async (req, res) => {
    if (!deps.projectDeletions) return res.status(404).send(messagePage(context(req), 'Not found', 'Project deletions are not available here.'));
    res.send(projectDeletionsPage(context(req), await deps.projectDeletions.list({ limit: LIST_LIMIT })));
  });

  async function findRequest(req: Request, res: Response): Promise<RequestRecord | undefined> {
    const id = String(req.params.id);
    const found = UUID.test(id) ? await ledger.getRequest(id) : undefined;
    // Another client's request is answered exactly as an unknown id.
    const request = found && canSee(req.principal, found) ? found : undefined;
    if (!request) res.status(404).send(messagePage(context(req), 'Not found', 'There is no request with that id.'));
    return request;
  }

  router.get('/requests/:id', auth, async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const [tasks, trail] = await Promise.all([ledger.getTasks(request.id), ledger.auditTrail(request.id)]);
    const notice = typeof req.query.notice === 'string' ? NOTICES[req.query.notice] : undefined;
    const error = typeof req.query.error === 'string' ? ERRORS[req.query.error] : undefined;
    const risk = (await deps.deadlineRisk.assess([request])).get(request.id);
    res.send(requestPage(context(req), { request, tasks, trail, notice, error, risk }));
  });

  const back = (res: Response, request: RequestRecord, key: { notice?: string; error?: string }) => { res.redirect(303, `${requestUrl(request.id)}?${new URLSearchParams(key).toString()}`); };
  const text = (req: Request, field: string, min: number, max: number): string | undefined => {
    const value = (req.body as Record<string, unknown> | undefined)?.[field];
    const trimmed = typeof value === 'string' ? value.trim() : '';
    return trimmed.length >= min && trimmed.length <= max ? trimmed : undefined;
  };
  const actor = (req: Request) => `token:${req.principal!.name}`;

  router.post('/requests/:id/tasks/:taskId/complete', auth, form, requireCsrf, requireRole('operator'), async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const note = text(req, 'note', 3, 2000);
    if (!note) { back(res, request, { error: 'note-required' }); return; }
    // The note is free text typed by a person: the ledger's audit write path scrubs it (src/ledger/audit-log.ts).
    const task = await ledger.completeManualTask(request.id, String(req.params.taskId), actor(req), note);
    if (!task) { back(res, request, { error: 'not-a-manual-task' }); return; }
    await ledger.settleRequest(request.id);
    back(res, request, { notice: 'task-completed' });
  });

  router.post('/requests/:id/cancel', auth, form, requireCsrf, requireRole('submitter'), async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const reason = text(req, 'reason', 3, 500);
    if (!reason) { back(res, request, { error: 'reason-required' }); return; }
    const report = await cancelRequest({ ledger, config: deps.config, clients: deps.clients, logger: deps.logger }, { requestId: request.id, actor: actor(req), reason });
    back(res, request, report ? { notice: 'cancelled' } : { error: 'already-finished' });
  });

  router.post('/requests/:id/tasks/:taskId/sent', auth, form, requireCsrf, requireRole('operator'), async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const reference = text(req, 'reference', 3, 200);
    if (!reference) { back(res, request, { error: 'reference-required' }); return; }
    const task = await ledger.markManualTaskSent(request.id, String(req.params.taskId), actor(req), { at: new Date(), reference: scrub(reference) });
    back(res, request, task ? { notice: 'task-sent' } : { error: 'not-an-unsent-manual-task' });
  });

  router.post('/requests/:id/tasks/:taskId/decide', auth, form, requireCsrf, requireRole('operator'), async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const reason = text(req, 'reason', 3, 500);
    if (!reason) { back(res, request, { error: 'reason-required' }); return; }
    const decision = (req.body as Record<string, unknown> | undefined)?.decision;
    if (decision !== 'skipped' && decision !== 'resolved') { back(res, request, { error: 'not-a-failed-task' }); return; }
    try {
      await decideFailedTask({ ledger }, { requestId: request.id, taskId: String(req.params.taskId), decision, actor: actor(req), reason });
    } catch (err) {
      if (err instanceof NotAFailedTaskError) { back(res, request, { error: 'not-a-failed-task' }); return; }
      throw err;
    }
    back(res, request, { notice: decision === 'skipped' ? 'task-skipped' : 'task-resolved' });
  });

  router.post('/requests/:id/retry', auth, form, requireCsrf, requireRole('operator'), async (req, res) => {
    const request = await findRequest(req, res);
    if (!request) return;
    const reason = text(req, 'reason', 3, 500);
    if (!reason) { back(res, request, { error: 'reason-required' }); return; }
    const tasks = await retryFailedTasks({ ledger, queues: deps.queues }, { requestId: request.id, actor: actor(req), reason });
    back(res, request, { notice: tasks.length ? 'retried' : 'nothing-to-retry' });
  });

  return router;
}
