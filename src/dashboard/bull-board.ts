import type { RequestHandler } from 'express';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { BeforeHookResult, HookContext } from '@bull-board/api/typings/app';
import type { Ledger } from '../ledger/ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { hasRole, type Principal } from '../api/auth.js';
import { isStaff } from '../api/access.js';

export const BULL_BOARD_PATH = '/admin/queues';

/** Board routes nobody may call: they would inject, rewrite or destroy jobs behind the ledger's back. */
const BLOCKED_ROUTES = new Set([
  '/api/queues/:queueName/add',
  '/api/queues/:queueName/:jobId/update-data',
  '/api/queues/:queueName/empty',
  '/api/queues/:queueName/obliterate',
]);
/** What on-call needs: retry and promote, pause and resume. Every other write is admin-only. */
const OPERATOR_ROUTES = new Set([
  '/api/queues/:queueName/:jobId/retry',
  '/api/queues/:queueName/retry/:queueStatus',
  '/api/queues/:queueName/:jobId/promote',
  '/api/queues/:queueName/promote',
  '/api/queues/:queueName/pause',
  '/api/queues/:queueName/resume',
]);

export interface BullBoardDeps {
  queues: QueueSet;
  ledger: Ledger;
  /** Shown as a badge so production is unmistakable. */
  environment: string;
}

/** Job names as operators read them: `delete-user-endpoints · req 1a2b3c4d…`. */
function readableName(job: { name?: string; data?: { requestId?: unknown } }): string {
  const requestId = typeof job.data?.requestId === 'string' ? job.data.requestId : undefined;
  return requestId ? `${job.name} · req ${requestId.slice(0, 8)}…` : (job.name ?? '');
}

/**
 * Each job links to its request's page on the admin dashboard (`/admin/requests/<id>`); jobs of no
 * request (the reconcile sweep) get no link (Bull Board shows none for undefined, though its type says otherwise).
 */
const requestPageLink = ((job: {
  data?: { requestId?: unknown };
}): { href: string; displayText: string } | undefined => {
  const requestId = job.data?.requestId;
  if (
    typeof requestId !== 'string' ||
    !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(requestId)
  )
    return undefined;
  return { href: `/admin/requests/${requestId}`, displayText: `request ${requestId.slice(0, 8)}… on the admin page` };
}) as (job: unknown) => { href: string; displayText: string };

/**
 * Jobs already carry only ids; the formatter shows only the id fields anyway, so a future
 * field holding something else cannot reach the page by accident.
 */
function redactData(data: unknown): unknown {
  if (typeof data !== 'object' || data === null) return {};
  const { requestId, taskId } = data as Record<string, unknown>;
  return { ...(typeof requestId === 'string' ? { requestId } : {}), ...(typeof taskId === 'string' ? { taskId } : {}) };
}

let boardViews: string | undefined;

/**
 * Bull Board's page without inline styles and without the external web-font link, so it runs under
 * the admin page's CSP (`style-src 'self'`, nothing off-site). Made once per process from the
 * installed `@bull-board/ui` template (its hashed asset names change with each release), into a
 * private temp dir that goes when the process exits (every API app of the process shares it).
 */
function strictBoardViews(): string {
  if (boardViews) return boardViews;
  const uiDir = path.dirname(createRequire(import.meta.url).resolve('@bull-board/ui/package.json'));
  const template = readFileSync(path.join(uiDir, 'dist', 'index.ejs'), 'utf8')
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/\sstyle="[^"]*"/g, '')
    .replace(/<link[^>]+href="https?:\/\/[^"]*"[^>]*>/g, '');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'erasure-board-views-'));
  writeFileSync(path.join(dir, 'index.ejs'), template, { mode: 0o600 });
  process.once('exit', () => {
    rmSync(dir, { recursive: true, force: true });
  });
  boardViews = dir;
  return dir;
}

/** Job fields that carry server paths (stack traces): shown to operators and admins only. */
function withoutStackTraces(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutStackTraces);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [k, k === 'stacktrace' ? [] : withoutStackTraces(v)]),
  );
}

/** Who made a board API call: the gate's principal, found by the request's headers object (the only part Bull Board hands its hooks). */
const principals = new WeakMap<object, Principal>();

/**
 * Bull Board at /admin/queues, behind the dashboards' authentication (Bearer or the admin session
 * cookie, src/dashboard/admin-page.ts dashboardAuthenticate). Viewers get a read-only board without
 * stack traces; operators a writable one whose writes pass a role check and land in the audit
 * trail. Mount after that authentication.
 */
export function createBullBoardHandler(deps: BullBoardDeps): RequestHandler {
  const before = async ({ method, route, request }: HookContext): Promise<BeforeHookResult> => {
    if (method.toLowerCase() === 'get') return { allow: true };
    if (BLOCKED_ROUTES.has(route))
      return {
        allow: false,
        status: 403,
        message: 'this action is disabled: jobs are managed through the erasure API',
      };
    const principal = principals.get(request.headers);
    const needed = OPERATOR_ROUTES.has(route) ? 'operator' : 'admin';
    if (!principal || !hasRole(principal, needed))
      return { allow: false, status: 403, message: `this needs the ${needed} role` };
    const jobId = typeof request.params.jobId === 'string' ? request.params.jobId : undefined;
    const requestId = jobId && /^[0-9a-f-]{36}__/.test(jobId) ? jobId.slice(0, 36) : null;
    await deps.ledger.audit.append(requestId, `token:${principal.name}`, 'dashboard.write', {
      route,
      queue: request.params.queueName,
      jobId: jobId ?? null,
    });
    return { allow: true };
  };

  const board = (readOnlyMode: boolean) => {
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(BULL_BOARD_PATH);
    const adapters = deps.queues.definitions.map((definition) => {
      const adapter = new BullMQAdapter(deps.queues.queue(definition.name), {
        readOnlyMode,
        allowRetries: !readOnlyMode,
        description: definition.description,
        externalJobUrl: requestPageLink,
      });
      adapter.setFormatter('data', redactData);
      adapter.setFormatter('name', readableName);
      return adapter;
    });
    createBullBoard({
      queues: adapters,
      serverAdapter,
      options: {
        handlerHooks: { before },
        uiConfig: {
          boardTitle: 'erasure',
          environment: { label: deps.environment, color: deps.environment === 'production' ? '#b91c1c' : '#1d4ed8' },
          pollingInterval: { forceInterval: 10_000 },
          hideDocsLink: true,
        },
      },
    });
    serverAdapter.setViewsPath(views);
    return serverAdapter.getRouter() as RequestHandler;
  };
  const views = strictBoardViews();
  const readOnly = board(true);
  const writable = board(false);
  return (req, res, next) => {
    // Jobs of every client's requests are on the board: staff only (README "Clients, roles and idempotency", src/api/access.ts).
    if (!isStaff(req.principal))
      return res
        .status(403)
        .json({ error: { code: 'forbidden', message: 'Bull Board is for staff roles (viewer, operator, admin)' } });
    if (req.principal) principals.set(req.headers, req.principal);
    const operator = hasRole(req.principal, 'operator');
    if (!operator) {
      const json = res.json.bind(res);
      res.json = (body: unknown) => json(withoutStackTraces(body));
    }
    return (operator ? writable : readOnly)(req, res, next);
  };
}
