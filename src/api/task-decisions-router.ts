import express, { type Request } from 'express';
import Joi from 'joi';
import type { Ledger } from '../ledger/ledger.js';
import { failedTasksFilterSchema, reasonSchema } from './requests-router.js';
import { decideFailedTask, decideFailedTasks, NotAFailedTaskError } from '../operations/decide-failed-tasks.js';

import { requireRole } from './auth.js';
import { ApiError } from './api-error.js';
import { requestView } from './request-view.js';
import { scrub } from '../logger.js';
import { referenceSchema } from '../scope-deletions/scope-deletions.js';
import { validInput } from './valid-input.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const DECISIONS = { skip: 'skipped', resolve: 'resolved' } as const;

/** A manual step sent to the vendor: the ticket or reference, and when (default now; never in the future). */
const sentSchema = Joi.object<{ reference: string; sentAt?: Date }>({
  reference: referenceSchema.required(),
  sentAt: Joi.date().iso().max('now'),
}).required();

/**
 * Operators' actions on single tasks besides completing a manual one (issue 19): closing failed
 * tasks that will never succeed, one (`POST /v1/requests/:id/tasks/:taskId/skip|resolve`) or in bulk
 * (`POST /v1/skips`, `POST /v1/resolutions`, with `dryRun` as for retries), a reason required; and
 * recording a manual step as sent to the vendor (`POST /v1/requests/:id/tasks/:taskId/sent`), after
 * which a cancel leaves it open, saying so. Operator role.
 */
export function createTaskDecisionsRouter(deps: { ledger: Ledger }) {
  const { ledger } = deps;
  const router = express.Router();
  registerSingleDecisionRoutes(router, ledger);
  registerSentRoute(router, ledger);
  registerBulkDecisionRoutes(router, ledger);
  return router;
}

/** The request after a route changed it (it exists: the route found it). */
async function reread(ledger: Ledger, requestId: string) {
  const request = await ledger.requests.getRequest(requestId);
  if (!request) throw new ApiError(404, 'not_found', 'no request with that id');
  return request;
}

/** `POST /v1/requests/:id/tasks/:taskId/skip|resolve`: closes one failed task, a reason required. */
function registerSingleDecisionRoutes(router: express.Router, ledger: Ledger): void {
  for (const [verb, decision] of Object.entries(DECISIONS)) {
    router.post(`/v1/requests/:id/tasks/:taskId/${verb}`, requireRole('operator'), async (req, res) => {
      const id = String(req.params.id);
      const request = UUID.test(id) ? await ledger.requests.getRequest(id) : undefined;
      if (!request) throw new ApiError(404, 'not_found', 'no request with that id');
      const value = validInput(reasonSchema, req.body ?? {}, 'invalid_request', `a ${verb} needs a reason`);
      try {
        await decideFailedTask(
          { ledger },
          {
            requestId: request.id,
            taskId: String(req.params.taskId),
            decision,
            actor: actorOf(req),
            reason: value.reason,
          },
        );
      } catch (err) {
        if (err instanceof NotAFailedTaskError)
          throw new ApiError(err.state ? 409 : 404, err.state ? 'not_failed' : 'not_found', err.message);
        throw err;
      }
      res.json(requestView(await reread(ledger, request.id), await ledger.tasks.getTasks(request.id)));
    });
  }
}

/** `POST /v1/requests/:id/tasks/:taskId/sent`: records a manual step as sent to the vendor. */
function registerSentRoute(router: express.Router, ledger: Ledger): void {
  router.post('/v1/requests/:id/tasks/:taskId/sent', requireRole('operator'), async (req, res) => {
    const id = String(req.params.id);
    const request = UUID.test(id) ? await ledger.requests.getRequest(id) : undefined;
    if (!request) throw new ApiError(404, 'not_found', 'no request with that id');
    const value = validInput(
      sentSchema,
      req.body ?? {},
      'invalid_request',
      'recording a manual step as sent needs the ticket or reference',
    );
    // The reference is free text typed by a person: scrub anything shaped like an address or a number.
    const task = await ledger.tasks.markManualTaskSent(request.id, String(req.params.taskId), actorOf(req), {
      at: value.sentAt ?? new Date(),
      reference: scrub(value.reference),
    });
    if (!task)
      throw new ApiError(
        409,
        'not_an_unsent_manual_task',
        'no manual task waiting to be sent with that id in this request',
      );
    res.json(requestView(await reread(ledger, request.id), await ledger.tasks.getTasks(request.id)));
  });
}

/** `POST /v1/skips`, `POST /v1/resolutions`: closes failed tasks in bulk, with `dryRun` as for retries. */
function registerBulkDecisionRoutes(router: express.Router, ledger: Ledger): void {
  for (const [path, decision] of [
    ['/v1/skips', 'skipped'],
    ['/v1/resolutions', 'resolved'],
  ] as const) {
    router.post(path, requireRole('operator'), async (req, res) => {
      const value = validInput(
        failedTasksFilterSchema,
        req.body ?? {},
        'invalid_request',
        `invalid ${decision === 'skipped' ? 'skip' : 'resolution'}`,
      );
      const tasks = await decideFailedTasks(
        { ledger },
        {
          decision,
          actor: actorOf(req),
          reason: value.reason,
          vendor: value.vendor,
          requestId: value.requestId,
          since: value.since,
          limit: value.limit,
          dryRun: value.dryRun,
        },
      );
      res.json({ dryRun: value.dryRun, decision, tasks });
    });
  }
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}
