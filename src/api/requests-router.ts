import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import express, { type Request, type Response } from 'express';
import Joi from 'joi';
import { nullAsAbsentSchema } from '../intake/null-as-absent.js';
import type { Config } from '../config/config-schema.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import { REQUEST_STATUSES, TERMINAL_TASK_STATES, type RequestRecord, type TaskRecord } from '../ledger/ledger-types.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import { assessRisk } from '../deadlines/at-risk.js';
import { IdempotencyKeyReusedError, IntakeUnavailableError, RequestValidationError, type Intake } from '../intake/intake.js';
import { toFieldProblems } from '../intake/request-schema.js';
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

export interface RequestsRouterDeps {
  config: Config;
  ledger: RequestLedger;
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

const listQuerySchema = Joi.object({
  status: Joi.string().valid(...REQUEST_STATUSES),
  /** Staff only: one client's requests (a submitter only ever lists its own). */
  client: Joi.string().max(64),
  overdue: Joi.string().valid('true', 'false'),
  atRisk: Joi.string().valid('true', 'false'),
  limit: Joi.number().integer().min(1).max(500).default(50),
  cursor: Joi.string().max(200),
});

/** A body holding only a reason (retry, skip, resolve of one request's tasks). */
export const reasonSchema = Joi.object({ reason: Joi.string().trim().min(3).max(500).required() }).required();
const noteSchema = Joi.object({ note: Joi.string().trim().min(3).max(2000).required() }).required();

const extendSchema = Joi.object({ days: Joi.number().integer().min(1).max(60).required(), reason: Joi.string().trim().min(3).max(500).required() }).required();

/**
 * Which failed tasks a bulk operation (retry, skip, resolve) touches, with its reason.
 * `null` is absent for every optional field (src/intake/null-as-absent.ts).
 */
export const failedTasksFilterSchema = nullAsAbsentSchema(Joi.object({
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
  .required());

const retryBodySchema = nullAsAbsentSchema(Joi.object({
  reason: Joi.string().trim().min(3).max(500).required(),
  vendor: Joi.string().valid(...VENDOR_NAMES),
}).required());

/** `/v1/requests`: intake, status, lists and retries (DESIGN.md, Public surface). */
export function createRequestsRouter(deps: RequestsRouterDeps) {
  const { ledger, intake } = deps;
  const router = express.Router();

  /** The request with its tasks and deadline risk (from the tasks in hand and the vendors' duration estimates). */
  async function viewWithRisk(request: RequestRecord, tasks: TaskRecord[], now = new Date()) {
    const openVendors = tasks.filter((t) => !TERMINAL_TASK_STATES.includes(t.state)).map((t) => t.vendor);
    return requestView(request, tasks, now, assessRisk(request, openVendors, await deps.deadlineRisk.estimates(now), now));
  }

  router.post('/v1/requests', requireRole('submitter'), async (req: Request, res: Response) => {
    const body = req.body as unknown;
    if (isBulk(body)) return submitBulk(req, res, body.requests);
    const result = await intake.submit(body, actorOf(req), '', { client: req.principal!.name });
    res.status(result.created ? 202 : 200).location(`/v1/requests/${result.request.id}`).json({ ...requestView(result.request), duplicate: !result.created });
  });

  async function submitBulk(req: Request, res: Response, items: unknown) {
    const max = deps.config.intake.maxBulk;
    if (!Array.isArray(items) || items.length === 0) throw new ApiError(400, 'invalid_request', 'requests must be a non-empty list');
    if (Object.keys(req.body as object).length !== 1) throw new ApiError(400, 'invalid_request', 'a bulk body holds only "requests"');
    if (items.length > max) throw new ApiError(413, 'too_many_requests_in_bulk', `at most ${max} requests per bulk call; split the list`);
    const results: Array<Record<string, unknown>> = [];
    let accepted = 0;
    let duplicates = 0;
    let conflicts = 0;
    try {
      const answers = await intake.submitMany(items, actorOf(req), (index) => `requests[${index}].`, req.principal!.name);
      for (const [index, answer] of answers.entries()) {
        if (answer instanceof RequestValidationError) {
          results.push({ index, outcome: 'rejected', errors: answer.problems });
          continue;
        }
        if (answer instanceof IdempotencyKeyReusedError) {
          // Same rule as a single submission (422): nothing created, the key's field named, no value.
          conflicts += 1;
          results.push({ index, outcome: 'conflict', code: 'idempotency_key_reused', errors: answer.problems });
          continue;
        }
        if (answer.created) accepted += 1;
        else duplicates += 1;
        results.push({ index, outcome: answer.created ? 'accepted' : 'duplicate', id: answer.request.id, status: answer.request.status });
      }
    } catch (err) {
      if (!(err instanceof IntakeUnavailableError)) throw err;
      // The valid requests commit together or not at all: none of them was recorded. Say which were bad anyway.
      for (const [index, item] of items.entries()) {
        try {
          intake.validate(item, `requests[${index}].`);
          results.push({ index, outcome: 'not_processed', reason: err.message });
        } catch (invalid) {
          if (!(invalid instanceof RequestValidationError)) throw invalid;
          results.push({ index, outcome: 'rejected', errors: invalid.problems });
        }
      }
    }
    const rejected = results.filter((r) => r.outcome === 'rejected').length;
    const notProcessed = results.filter((r) => r.outcome === 'not_processed').length;
    const summary = { accepted, duplicates, conflicts, rejected, notProcessed };
    if (!notProcessed && !accepted && !duplicates) {
      if (!rejected) return res.status(422).json({ error: { code: 'idempotency_key_reused', message: 'every request in the bulk submission reused a requestId for another payload; see results' }, summary, results });
      return res.status(400).json({ error: { code: 'invalid_request', message: 'no request in the bulk submission was valid; see results' }, summary, results });
    }
    res.status(notProcessed ? 503 : accepted ? 202 : 200).json({ summary, results });
  }

  router.get('/v1/requests', requireRole('viewer'), async (req, res) => {
    const { value, error } = listQuerySchema.validate(req.query, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_query', 'invalid query parameters', toFieldProblems(error));
    const scope = clientScope(req.principal);
    if (scope !== undefined && value.client !== undefined) throw new ApiError(403, 'forbidden', 'the client filter is for staff roles (viewer, operator, admin); a submitter lists its own requests');
    let page;
    const now = new Date();
    try {
      const atRisk = value.atRisk === undefined ? undefined : { value: value.atRisk === 'true', estimates: await deps.deadlineRisk.estimates(now) };
      page = await ledger.listRequests({ status: value.status, client: scope ?? value.client, overdue: value.overdue === undefined ? undefined : value.overdue === 'true', atRisk, limit: value.limit, cursor: value.cursor, now });
    } catch (err) {
      if (err instanceof RangeError) throw new ApiError(400, 'invalid_query', 'cursor is not valid');
      throw err;
    }
    const risks = await deps.deadlineRisk.assess(page.requests, now);
    res.json({ requests: page.requests.map((r) => requestView(r, undefined, now, risks.get(r.id))), nextCursor: page.nextCursor ?? null });
  });

  router.get('/v1/requests/:id', requireRole('viewer'), async (req, res) => {
    const request = await findRequest(req);
    res.json(await viewWithRisk(request, await ledger.getTasks(request.id)));
  });

  router.post('/v1/requests/:id/retry', requireRole('operator'), async (req, res) => {
    const request = await findRequest(req);
    const { value, error } = retryBodySchema.validate(req.body, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_request', 'a retry needs a reason', toFieldProblems(error));
    const tasks = await retryFailedTasks({ ledger, queues: deps.queues }, { requestId: request.id, actor: actorOf(req), reason: value.reason, vendor: value.vendor as VendorName | undefined });
    res.status(tasks.length ? 202 : 200).json({ retried: tasks.map((t) => ({ id: t.id, vendor: t.vendor, action: t.action })) });
  });

  router.post('/v1/requests/:id/cancel', requireRole('submitter'), async (req, res) => {
    const request = await findRequest(req);
    const { value, error } = reasonSchema.validate(req.body ?? {}, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_request', 'a cancel needs a reason', toFieldProblems(error));
    const report = await cancelRequest({ ledger, config: deps.config, clients: deps.clients, logger: deps.logger }, { requestId: request.id, actor: actorOf(req), reason: value.reason });
    if (!report) throw new ApiError(409, 'already_finished', `the request already ended as ${request.status}; nothing to cancel`);
    res.json({ ...requestView((await ledger.getRequest(request.id))!, await ledger.getTasks(request.id)), cancel: report });
  });

  router.post('/v1/requests/:id/tasks/:taskId/complete', requireRole('operator'), async (req, res) => {
    const request = await findRequest(req);
    const { value, error } = noteSchema.validate(req.body ?? {}, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_request', 'completing a manual task needs a note', toFieldProblems(error));
    // The note is free text typed by a person: the ledger's audit write path scrubs it (src/ledger/audit-log.ts).
    const task = await ledger.completeManualTask(request.id, String(req.params.taskId), actorOf(req), value.note);
    if (!task) throw new ApiError(409, 'not_a_manual_task', 'no manual task waiting with that id in this request');
    await ledger.settleRequest(request.id);
    res.json(requestView((await ledger.getRequest(request.id))!, await ledger.getTasks(request.id)));
  });

  router.get('/v1/requests/:id/receipt', requireRole('viewer'), async (req, res) => {
    const request = await findRequest(req);
    const tasks = await ledger.getTasks(request.id);
    // The chain as chained (free text as digests, the text beside): it verifies offline, also after a shred.
    const chain = await ledger.auditChain(request.id);
    const body = buildReceipt(request, tasks, chain, deps.service);
    res.json(signReceipt(body, deps.signer));
  });

  router.post('/v1/requests/:id/extend', requireRole('operator'), async (req, res) => {
    const request = await findRequest(req);
    const { value, error } = extendSchema.validate(req.body ?? {}, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_request', 'an extension needs whole days and a reason', toFieldProblems(error));
    const extended = await ledger.extendDeadline(request.id, value.days, actorOf(req), value.reason);
    res.json(await viewWithRisk(extended!, await ledger.getTasks(request.id)));
  });

  /** On-call's bulk retry: failed tasks by vendor, by request, or since a time; `dryRun` lists without touching. */
  router.post('/v1/retries', requireRole('operator'), async (req, res) => {
    const { value, error } = failedTasksFilterSchema.validate(req.body ?? {}, { abortEarly: false });
    if (error) throw new ApiError(400, 'invalid_request', 'invalid retry', toFieldProblems(error));
    const tasks = await ledger.failedTasks({ vendor: value.vendor, requestId: value.requestId, since: value.since ? new Date(value.since) : undefined }, value.limit);
    const listed = tasks.map((t) => ({ requestId: t.requestId, taskId: t.id, vendor: t.vendor, action: t.action, resource: t.resource, error: t.error, failedAt: t.finishedAt?.toISOString() ?? null }));
    if (value.dryRun) return res.json({ dryRun: true, tasks: listed });
    const byRequest = new Map<string, Set<string>>();
    for (const t of tasks) byRequest.set(t.requestId, (byRequest.get(t.requestId) ?? new Set()).add(t.vendor));
    const retried: typeof listed = [];
    for (const [requestId, vendors] of byRequest) {
      for (const vendor of vendors) {
        const reopened = await retryFailedTasks({ ledger, queues: deps.queues }, { requestId, actor: actorOf(req), reason: value.reason, vendor: vendor as VendorName });
        retried.push(...listed.filter((l) => reopened.some((r) => r.id === l.taskId)));
      }
    }
    res.status(retried.length ? 202 : 200).json({ dryRun: false, tasks: retried });
  });

  router.post('/v1/queues/:name/:action', requireRole('operator'), async (req, res) => {
    const name = String(req.params.name);
    const action = String(req.params.action);
    if (action !== 'pause' && action !== 'resume') throw new ApiError(404, 'not_found', 'no such route');
    if (!deps.queues.definitions.some((d) => d.name === name)) throw new ApiError(404, 'unknown_queue', `no queue ${name}; queues: ${deps.queues.definitions.map((d) => d.name).join(', ')}`);
    const queue = deps.queues.queue(name);
    if (action === 'pause') await queue.pause();
    else await queue.resume();
    // The operator's word that the config is fixed: the breaker closes and every parked job runs again.
    const breaker = action === 'resume' && deps.breaker && isVendorName(name) ? await deps.breaker.state(name) : undefined;
    if (breaker && breaker.state !== 'closed') await deps.breaker!.reset(name as VendorName);
    await ledger.audit(null, actorOf(req), `queue.${action}`, { queue: name, ...(breaker && breaker.state !== 'closed' ? { breakerClosed: breaker.fault ?? 'unknown' } : {}) });
    res.json({ queue: name, paused: await queue.isPaused(), ...(breaker && breaker.state !== 'closed' ? { breakerClosed: { fault: breaker.fault, reason: breaker.reason } } : {}) });
  });

  /** The request named in the path, if this principal may see it: another client's answers exactly as an unknown id. */
  async function findRequest(req: Request) {
    const id = String(req.params.id);
    const request = UUID.test(id) ? await ledger.getRequest(id) : undefined;
    if (!request || !canSee(req.principal, request)) throw new ApiError(404, 'not_found', 'no request with that id');
    return request;
  }

  return router;
}

function isBulk(body: unknown): body is { requests: unknown } {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && 'requests' in body;
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}
