import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import express, { type Request } from 'express';
import Joi from 'joi';
import { nullAsAbsentSchema } from '../intake/null-as-absent.js';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import {
  REQUEST_STATUSES,
  TERMINAL_TASK_STATES,
  type RequestRecord,
  type RequestStatus,
  type TaskRecord,
} from '../ledger/ledger-types.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import { assessRisk } from '../deadlines/at-risk.js';
import type { Intake } from '../intake/intake.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { retryFailedTasks } from '../operations/retry-tasks.js';
import { VENDOR_NAMES, isVendorName, type VendorName } from '../vendors/vendor-name.js';
import { requireRole } from './auth.js';
import { canSee, clientScope } from './access.js';
import { requestView } from './request-view.js';
import { ApiError } from './api-error.js';
import { cancelRequest } from '../operations/cancel-request.js';
import { buildReceipt, signReceipt } from '../receipts/receipt.js';
import type { ReceiptSigner } from '../receipts/receipt-signer.js';
import type { Logger } from '../logger.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import { validInput } from './valid-input.js';
import { addIntakeRoutes } from './intake-routes.js';

export interface RequestsRouterDeps {
  config: Config;
  ledger: Ledger;
  intake: Intake;
  queues: QueueSet;
  clients: VendorClients;
  logger: Logger;
  signer: ReceiptSigner;
  service: { name: string; version: string };
  deadlineRisk: DeadlineRiskLedger;
  /** The vendors' circuit breakers: an operator's resume closes the vendor's breaker too. */
  breaker?: VendorBreaker;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ListQuery {
  status?: RequestStatus;
  client?: string;
  overdue?: 'true' | 'false';
  atRisk?: 'true' | 'false';
  limit: number;
  cursor?: string;
}

const listQuerySchema = Joi.object<ListQuery>({
  status: Joi.string().valid(...REQUEST_STATUSES),
  /** Staff only: one client's requests (a submitter only ever lists its own). */
  client: Joi.string().max(64),
  overdue: Joi.string().valid('true', 'false'),
  atRisk: Joi.string().valid('true', 'false'),
  limit: Joi.number().integer().min(1).max(500).default(50),
  cursor: Joi.string().max(200),
});

/** A body holding only a reason (retry, skip, resolve of one request's tasks). */
export const reasonSchema = Joi.object<{ reason: string }>({
  reason: Joi.string().trim().min(3).max(500).required(),
}).required();
const noteSchema = Joi.object<{ note: string }>({ note: Joi.string().trim().min(3).max(2000).required() }).required();

const extendSchema = Joi.object<{ days: number; reason: string }>({
  days: Joi.number().integer().min(1).max(60).required(),
  reason: Joi.string().trim().min(3).max(500).required(),
}).required();

/**
 * Which failed tasks a bulk operation (retry, skip, resolve) touches, with its reason.
 * `null` is absent for every optional field (src/intake/null-as-absent.ts).
 */
/** A bulk operation's filter and reason, as failedTasksFilterSchema leaves it. */
export interface FailedTasksFilter {
  reason: string;
  vendor?: VendorName;
  requestId?: string;
  since?: Date;
  all?: true;
  dryRun: boolean;
  limit: number;
}

export const failedTasksFilterSchema = nullAsAbsentSchema(
  Joi.object<FailedTasksFilter>({
    reason: Joi.string().trim().min(3).max(500).required(),
    vendor: Joi.string().valid(...VENDOR_NAMES),
    requestId: Joi.string().guid(),
    since: Joi.date().iso(),
    /** Every failed task (up to `limit`), said outright rather than implied by an empty filter. */
    all: Joi.boolean().valid(true),
    dryRun: Joi.boolean().default(false),
    limit: Joi.number().integer().min(1).max(10_000).default(1000),
  })
    .or('vendor', 'requestId', 'since', 'all')
    .oxor('all', 'vendor')
    .oxor('all', 'requestId')
    .oxor('all', 'since')
    .required(),
);

const retryBodySchema = nullAsAbsentSchema(
  Joi.object<{ reason: string; vendor?: VendorName }>({
    reason: Joi.string().trim().min(3).max(500).required(),
    vendor: Joi.string().valid(...VENDOR_NAMES),
  }).required(),
);

/** `/v1/requests`: intake, status, lists and retries (README "HTTP API"). */
export function createRequestsRouter(deps: RequestsRouterDeps) {
  const router = express.Router();
  const kit = requestRouteKit(deps);
  addIntakeRoutes(router, deps);
  addReadRoutes(router, deps, kit);
  addRequestActionRoutes(router, deps, kit);
  addOperatorRoutes(router, deps);
  return router;
}

interface RequestRouteKit {
  /** The request named in the path, if this principal may see it: another client's answers exactly as an unknown id. */
  findRequest: (req: Request) => Promise<RequestRecord>;
  /** The request with its tasks and deadline risk (from the tasks in hand and the vendors' duration estimates). */
  viewWithRisk: (request: RequestRecord, tasks: TaskRecord[], now?: Date) => Promise<Record<string, unknown>>;
  /** The request as it is now, after a change this route made (it exists: the route found it). */
  reread: (requestId: string) => Promise<RequestRecord>;
}

function requestRouteKit(deps: RequestsRouterDeps): RequestRouteKit {
  const { ledger } = deps;
  return {
    findRequest: async (req) => {
      const id = String(req.params.id);
      const request = UUID.test(id) ? await ledger.requests.getRequest(id) : undefined;
      if (!request || !canSee(req.principal, request)) throw new ApiError(404, 'not_found', 'no request with that id');
      return request;
    },
    viewWithRisk: async (request, tasks, now = new Date()) => {
      const openVendors = tasks.filter((t) => !TERMINAL_TASK_STATES.includes(t.state)).map((t) => t.vendor);
      return requestView(
        request,
        tasks,
        now,
        assessRisk(request, openVendors, await deps.deadlineRisk.estimates(now), now),
      );
    },
    reread: async (requestId) => {
      const request = await ledger.requests.getRequest(requestId);
      if (!request) throw new ApiError(404, 'not_found', 'no request with that id');
      return request;
    },
  };
}

/** Lists, one request, and its signed receipt. */
function addReadRoutes(router: express.Router, deps: RequestsRouterDeps, kit: RequestRouteKit): void {
  const { ledger } = deps;
  router.get('/v1/requests', requireRole('viewer'), async (req, res) => {
    const value = validInput(listQuerySchema, req.query, 'invalid_query', 'invalid query parameters');
    const scope = clientScope(req.principal);
    if (scope !== undefined && value.client !== undefined)
      throw new ApiError(
        403,
        'forbidden',
        'the client filter is for staff roles (viewer, operator, admin); a submitter lists its own requests',
      );
    let page;
    const now = new Date();
    try {
      const atRisk =
        value.atRisk === undefined
          ? undefined
          : { value: value.atRisk === 'true', estimates: await deps.deadlineRisk.estimates(now) };
      page = await ledger.requests.listRequests({
        status: value.status,
        client: scope ?? value.client,
        overdue: value.overdue === undefined ? undefined : value.overdue === 'true',
        atRisk,
        limit: value.limit,
        cursor: value.cursor,
        now,
      });
    } catch (err) {
      if (err instanceof RangeError) throw new ApiError(400, 'invalid_query', 'cursor is not valid');
      throw err;
    }
    const risks = await deps.deadlineRisk.assess(page.requests, now);
    res.json({
      requests: page.requests.map((r) => requestView(r, undefined, now, risks.get(r.id))),
      nextCursor: page.nextCursor ?? null,
    });
  });

  router.get('/v1/requests/:id', requireRole('viewer'), async (req, res) => {
    const request = await kit.findRequest(req);
    res.json(await kit.viewWithRisk(request, await ledger.tasks.getTasks(request.id)));
  });

  router.get('/v1/requests/:id/receipt', requireRole('viewer'), async (req, res) => {
    const request = await kit.findRequest(req);
    const tasks = await ledger.tasks.getTasks(request.id);
    // The chain as chained (free text as digests, the text beside): it verifies offline, also after a shred.
    const chain = await ledger.audit.auditChain(request.id);
    const body = buildReceipt(request, tasks, chain, deps.service);
    res.json(signReceipt(body, deps.signer));
  });
}

/** An operator's or submitter's actions on one request: retry, cancel, complete a manual task, extend. */
function addRequestActionRoutes(router: express.Router, deps: RequestsRouterDeps, kit: RequestRouteKit): void {
  const { ledger } = deps;
  router.post('/v1/requests/:id/retry', requireRole('operator'), async (req, res) => {
    const request = await kit.findRequest(req);
    const value = validInput(retryBodySchema, req.body, 'invalid_request', 'a retry needs a reason');
    const tasks = await retryFailedTasks(
      { ledger, queues: deps.queues },
      { requestId: request.id, actor: actorOf(req), reason: value.reason, vendor: value.vendor },
    );
    res
      .status(tasks.length ? 202 : 200)
      .json({ retried: tasks.map((t) => ({ id: t.id, vendor: t.vendor, action: t.action })) });
  });

  router.post('/v1/requests/:id/cancel', requireRole('submitter'), async (req, res) => {
    const request = await kit.findRequest(req);
    const value = validInput(reasonSchema, req.body ?? {}, 'invalid_request', 'a cancel needs a reason');
    const report = await cancelRequest(
      { ledger, queues: deps.queues },
      { requestId: request.id, actor: actorOf(req), reason: value.reason },
    );
    if (!report)
      throw new ApiError(409, 'already_finished', `the request already ended as ${request.status}; nothing to cancel`);
    res.json({ ...requestView(await kit.reread(request.id), await ledger.tasks.getTasks(request.id)), cancel: report });
  });

  router.post('/v1/requests/:id/tasks/:taskId/complete', requireRole('operator'), async (req, res) => {
    const request = await kit.findRequest(req);
    const value = validInput(noteSchema, req.body ?? {}, 'invalid_request', 'completing a manual task needs a note');
    // The note is free text typed by a person: the ledger's audit write path scrubs it (src/ledger/audit-log.ts).
    const task = await ledger.tasks.completeManualTask(request.id, String(req.params.taskId), actorOf(req), value.note);
    if (!task) throw new ApiError(409, 'not_a_manual_task', 'no manual task waiting with that id in this request');
    await ledger.requests.settleRequest(request.id);
    res.json(requestView(await kit.reread(request.id), await ledger.tasks.getTasks(request.id)));
  });

  router.post('/v1/requests/:id/extend', requireRole('operator'), async (req, res) => {
    const request = await kit.findRequest(req);
    const value = validInput(
      extendSchema,
      req.body ?? {},
      'invalid_request',
      'an extension needs whole days and a reason',
    );
    const extended =
      (await ledger.requests.extendDeadline(request.id, value.days, actorOf(req), value.reason)) ??
      (await kit.reread(request.id));
    res.json(await kit.viewWithRisk(extended, await ledger.tasks.getTasks(request.id)));
  });
}

/** On-call's bulk retry, and pausing or resuming a queue. */
function addOperatorRoutes(router: express.Router, deps: RequestsRouterDeps): void {
  const { ledger } = deps;
  /** On-call's bulk retry: failed tasks by vendor, by request, or since a time; `dryRun` lists without touching. */
  router.post('/v1/retries', requireRole('operator'), async (req, res) => {
    const value = validInput(failedTasksFilterSchema, req.body ?? {}, 'invalid_request', 'invalid retry');
    const tasks = await ledger.queries.failedTasks(
      { vendor: value.vendor, requestId: value.requestId, since: value.since },
      value.limit,
    );
    const listed = tasks.map((t) => ({
      requestId: t.requestId,
      taskId: t.id,
      vendor: t.vendor,
      action: t.action,
      resource: t.resource,
      error: t.error,
      failedAt: t.finishedAt?.toISOString() ?? null,
    }));
    if (value.dryRun) {
      res.json({ dryRun: true, tasks: listed });
      return;
    }
    const byRequest = new Map<string, Set<string>>();
    for (const t of tasks) byRequest.set(t.requestId, (byRequest.get(t.requestId) ?? new Set()).add(t.vendor));
    const retried: typeof listed = [];
    for (const [requestId, vendors] of byRequest) {
      for (const vendor of vendors) {
        const reopened = await retryFailedTasks(
          { ledger, queues: deps.queues },
          { requestId, actor: actorOf(req), reason: value.reason, vendor: vendor as VendorName },
        );
        retried.push(...listed.filter((l) => reopened.some((r) => r.id === l.taskId)));
      }
    }
    res.status(retried.length ? 202 : 200).json({ dryRun: false, tasks: retried });
  });

  router.post('/v1/queues/:name/:action', requireRole('operator'), async (req, res) => {
    const name = String(req.params.name);
    const action = String(req.params.action);
    if (action !== 'pause' && action !== 'resume') throw new ApiError(404, 'not_found', 'no such route');
    if (!deps.queues.definitions.some((d) => d.name === name))
      throw new ApiError(
        404,
        'unknown_queue',
        `no queue ${name}; queues: ${deps.queues.definitions.map((d) => d.name).join(', ')}`,
      );
    const queue = deps.queues.queue(name);
    if (action === 'pause') await queue.pause();
    else await queue.resume();
    // The operator's word that the config is fixed: the breaker closes and every parked job runs again.
    const breakers = deps.breaker;
    const vendor = isVendorName(name) ? name : undefined;
    const breaker = action === 'resume' && breakers && vendor ? await breakers.state(vendor) : undefined;
    if (breakers && vendor && breaker && breaker.state !== 'closed') await breakers.reset(vendor);
    await ledger.audit.append(null, actorOf(req), `queue.${action}`, {
      queue: name,
      ...(breaker && breaker.state !== 'closed' ? { breakerClosed: breaker.fault ?? 'unknown' } : {}),
    });
    res.json({
      queue: name,
      paused: await queue.isPaused(),
      ...(breaker && breaker.state !== 'closed'
        ? { breakerClosed: { fault: breaker.fault, reason: breaker.reason } }
        : {}),
    });
  });
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}
