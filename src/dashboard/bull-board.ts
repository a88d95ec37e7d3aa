import type { RequestHandler } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { BeforeHookResult, HookContext } from '@bull-board/api/typings/app';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { QueueSet } from '../workers/queue-set.js';
import { hasRole, tokenFromHeaders, type Principal } from '../api/auth.js';
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
  ledger: RequestLedger;
  verify: (token: string) => Principal | undefined;
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
const requestPageLink = ((job: { data?: { requestId?: unknown } }): { href: string; displayText: string } | undefined => {
  const requestId = job.data?.requestId;
  if (typeof requestId !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(requestId)) return undefined;
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

/**
 * Bull Board at /admin/queues, behind the API's tokens (Bearer or the `erasure_token` cookie).
 * Viewers get a read-only board; operators a writable one whose writes pass a role check and
 * land in the audit trail. Mount after `authenticate`.
 */
export function createBullBoardHandler(deps: BullBoardDeps): RequestHandler {
  const before = async ({ method, route, request }: HookContext): Promise<BeforeHookResult> => {
    if (method.toLowerCase() === 'get') return { allow: true };
    if (BLOCKED_ROUTES.has(route)) return { allow: false, status: 403, message: 'this action is disabled: jobs are managed through the erasure API' };
    const token = tokenFromHeaders(request.headers);
    const principal = token ? deps.verify(token) : undefined;
    const needed = OPERATOR_ROUTES.has(route) ? 'operator' : 'admin';
    if (!hasRole(principal, needed)) return { allow: false, status: 403, message: `this needs the ${needed} role` };
    const jobId = typeof request.params.jobId === 'string' ? request.params.jobId : undefined;
    const requestId = jobId && /^[0-9a-f-]{36}__/.test(jobId) ? jobId.slice(0, 36) : null;
    await deps.ledger.audit(requestId, `token:${principal!.name}`, 'dashboard.write', { route, queue: request.params.queueName, jobId: jobId ?? null });
    return { allow: true };
  };

  const board = (readOnlyMode: boolean) => {
    const serverAdapter = new ExpressAdapter();
    serverAdapter.setBasePath(BULL_BOARD_PATH);
    const adapters = deps.queues.definitions.map((definition) => {
      const adapter = new BullMQAdapter(deps.queues.queue(definition.name), { readOnlyMode, allowRetries: !readOnlyMode, description: definition.description, externalJobUrl: requestPageLink });
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
    return serverAdapter.getRouter() as RequestHandler;
  };
  const readOnly = board(true);
  const writable = board(false);
  return (req, res, next) => {
    // Jobs of every client's requests are on the board: staff only (DESIGN.md Invariant 10, src/api/access.ts).
    if (!isStaff(req.principal)) return res.status(403).json({ error: { code: 'forbidden', message: 'Bull Board is for staff roles (viewer, operator, admin)' } });
    (hasRole(req.principal, 'operator') ? writable : readOnly)(req, res, next);
  };
}
