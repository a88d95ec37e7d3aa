import express, { type Request } from 'express';
import Joi from 'joi';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import {
  SCOPE_DELETION_STATUSES,
  type ScopeDeletionLedger,
  type ScopeDeletionStatus,
} from '../ledger/scope-deletion-ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { scrub, type Logger } from '../logger.js';
import { requireRole } from './auth.js';
import { ApiError } from './api-error.js';
import { projectDeletionView, whyNotCancellable } from './project-deletion-view.js';
import { ProjectDeletionRefused, scheduleProjectDeletion } from '../operations/schedule-project-deletion.js';
import { cancelProjectDeletion } from '../operations/cancel-project-deletion.js';
import { GUIDED_KINDS, SCOPE_KINDS } from '../scope-deletions/scope-kinds.js';
import {
  cancelGuided,
  confirmGuided,
  confirmSchema,
  markGuidedSent,
  problemsOf,
  requestGuidedDeletion,
  scopeDeletionView,
  ScopeDeletionInvalid,
  ScopeDeletionNotFound,
  ScopeDeletionRefused,
  scopeRequestSchema,
  sentSchema,
} from '../scope-deletions/scope-deletions.js';

export interface ScopeDeletionsRouterDeps {
  config: Config;
  ledger: Ledger;
  scopeDeletions: ScopeDeletionLedger;
  projectDeletions?: ProjectDeletionLedger;
  queues: QueueSet;
  logger: Logger;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const pinpointFields = Joi.object<{ appId: string }>({
  appId: Joi.string()
    .max(128)
    .pattern(/^[A-Za-z0-9-]+$/)
    .required(),
});
const cancelSchema = Joi.object<{ reason: string }>({
  reason: Joi.string().trim().min(3).max(500).required(),
}).required();
const listQuerySchema = Joi.object<{ status?: ScopeDeletionStatus; limit: number }>({
  status: Joi.string().valid(...SCOPE_DELETION_STATUSES),
  limit: Joi.number().integer().min(1).max(500).default(50),
});

/**
 * `/v1/scope-deletions` (issue 19): whole-scope deletions of every vendor. `pinpoint-project` is the
 * automated project deletion (`/v1/project-deletions` stays as its alias); the other kinds are
 * guided (src/scope-deletions/scope-kinds.ts). Operator or admin only, reads included.
 */
export function createScopeDeletionsRouter(deps: ScopeDeletionsRouterDeps) {
  const router = express.Router();
  addScopeReadRoutes(router, deps);
  addScopeRequestRoute(router, deps);
  addScopeStepRoutes(router, deps);
  return router;
}

/** A body as its schema leaves it, or a 400 naming each field's problem (under `prefix`). */
function validBody<T>(schema: Joi.ObjectSchema<T>, input: unknown, prefix = ''): T {
  const result = schema.validate(input, { abortEarly: false });
  if (result.error) throw invalid(problemsOf(result.error, prefix));
  return result.value;
}

/** The kinds, the list (guided and project deletions together), and one deletion with its audit trail. */
function addScopeReadRoutes(router: express.Router, deps: ScopeDeletionsRouterDeps): void {
  const ledger = deps.scopeDeletions;
  const operator = requireRole('operator');
  router.get('/v1/scope-deletions/kinds', operator, (_req, res) => {
    res.json({
      kinds: SCOPE_KINDS.map((kind) =>
        kind === 'pinpoint-project'
          ? { kind, vendor: 'pinpoint', mode: 'automated', scopeField: 'appId' }
          : {
              kind,
              vendor: GUIDED_KINDS[kind].vendor,
              mode: 'guided',
              scopeField: GUIDED_KINDS[kind].scopeField,
              rules: GUIDED_KINDS[kind].rules,
            },
      ),
    });
  });

  router.get('/v1/scope-deletions', operator, async (req, res) => {
    const query = listQuerySchema.validate(req.query, { abortEarly: false });
    if (query.error) throw new ApiError(400, 'invalid_query', 'invalid query parameters', problemsOf(query.error));
    const value = query.value;
    const now = ledger.now();
    const guided = (await ledger.list(value.limit, value.status)).map((d) => scopeDeletionView(d, now));
    const projects =
      deps.projectDeletions && !value.status
        ? (await deps.projectDeletions.list({ limit: value.limit })).map((d) => ({
            kind: 'pinpoint-project',
            mode: 'automated',
            scope: d.appId,
            ...projectDeletionView(d),
          }))
        : [];
    const all = [...guided, ...projects]
      .sort((a, b) => b.requestedAt.localeCompare(a.requestedAt))
      .slice(0, value.limit);
    res.json({ scopeDeletions: all });
  });

  router.get('/v1/scope-deletions/:id', operator, async (req, res) => {
    const id = String(req.params.id);
    if (!UUID.test(id)) throw new ApiError(404, 'not_found', 'no scope deletion with that id');
    const guided = await ledger.get(id);
    if (guided)
      return res.json({ ...scopeDeletionView(guided, ledger.now()), audit: auditView(await ledger.auditTrail(id)) });
    const project = await deps.projectDeletions?.get(id);
    if (!project) throw new ApiError(404, 'not_found', 'no scope deletion with that id');
    res.json({
      kind: 'pinpoint-project',
      mode: 'automated',
      scope: project.appId,
      ...projectDeletionView(project, await deps.ledger.audit.auditTrail(id)),
    });
  });
}

/** POST /v1/scope-deletions: a pinpoint-project deletion is scheduled; a guided kind is drafted. */
function addScopeRequestRoute(router: express.Router, deps: ScopeDeletionsRouterDeps): void {
  const ledger = deps.scopeDeletions;
  const operator = requireRole('operator');
  router.post('/v1/scope-deletions', operator, async (req, res) => {
    const value = validBody(scopeRequestSchema, req.body ?? {});
    const reason = scrub(value.reason);
    if (value.kind === 'pinpoint-project') {
      if (!deps.projectDeletions)
        throw new ApiError(400, 'invalid_request', 'project deletions are not available here', [
          { field: 'kind', problem: 'is not available here' },
        ]);
      const fields = validBody(pinpointFields, value.fields, 'fields.');
      let result;
      try {
        result = await scheduleProjectDeletion(
          { config: deps.config, deletions: deps.projectDeletions, queues: deps.queues, logger: deps.logger },
          {
            appId: fields.appId,
            confirmAppId: value.confirmScope,
            reason,
            actor: actorOf(req),
            gracePeriodDays: value.gracePeriodDays,
          },
        );
      } catch (err) {
        if (err instanceof ProjectDeletionRefused)
          throw invalid([
            {
              field: err.field === 'confirmAppId' ? 'confirmScope' : err.field === 'appId' ? 'fields.appId' : err.field,
              problem: err.problem,
            },
          ]);
        throw err;
      }
      const view = {
        kind: 'pinpoint-project',
        mode: 'automated',
        scope: result.deletion.appId,
        ...projectDeletionView(result.deletion),
      };
      if (!result.created)
        return res.status(409).json({
          error: {
            code: 'already_scheduled',
            message: `app ${result.deletion.appId} already has an open deletion (${result.deletion.id})`,
          },
          scopeDeletion: view,
        });
      return res.status(202).location(`/v1/scope-deletions/${result.deletion.id}`).json(view);
    }
    if (value.gracePeriodDays !== undefined)
      throw invalid([
        {
          field: 'gracePeriodDays',
          problem: 'goes only with pinpoint-project: a guided kind follows the vendor’s own clock',
        },
      ]);
    try {
      const deletion = await requestGuidedDeletion(ledger, {
        kind: value.kind,
        fields: value.fields,
        confirmScope: value.confirmScope,
        reason,
        actor: actorOf(req),
      });
      deps.logger.info('scope deletion drafted', { scopeDeletionId: deletion.id, kind: deletion.kind });
      res.status(201).location(`/v1/scope-deletions/${deletion.id}`).json(scopeDeletionView(deletion, ledger.now()));
    } catch (err) {
      throw translate(err);
    }
  });
}

/** A guided deletion's steps: sent, confirmed by the vendor, cancelled (a project deletion's cancel too). */
function addScopeStepRoutes(router: express.Router, deps: ScopeDeletionsRouterDeps): void {
  const ledger = deps.scopeDeletions;
  const operator = requireRole('operator');
  router.post('/v1/scope-deletions/:id/sent', operator, async (req, res) => {
    const value = validBody(sentSchema, req.body ?? {});
    try {
      const deletion = await markGuidedSent(ledger, guidedId(req), actorOf(req), {
        reference: scrub(value.reference),
        sentAt: value.sentAt,
      });
      res.json(scopeDeletionView(deletion, ledger.now()));
    } catch (err) {
      throw translate(err);
    }
  });

  router.post('/v1/scope-deletions/:id/confirm', operator, async (req, res) => {
    const value = validBody(confirmSchema, req.body ?? {});
    try {
      const deletion = await confirmGuided(ledger, guidedId(req), actorOf(req), {
        reference: scrub(value.reference),
        ...(value.note ? { note: scrub(value.note) } : {}),
      });
      res.json(scopeDeletionView(deletion, ledger.now()));
    } catch (err) {
      throw translate(err);
    }
  });

  router.post('/v1/scope-deletions/:id/cancel', operator, async (req, res) => {
    const value = validBody(cancelSchema, req.body ?? {});
    const id = String(req.params.id);
    if (UUID.test(id) && deps.projectDeletions && !(await ledger.get(id))) {
      const result = await cancelProjectDeletion(
        { deletions: deps.projectDeletions, queues: deps.queues, logger: deps.logger },
        { id, actor: actorOf(req), reason: scrub(value.reason) },
      );
      if (!result) throw new ApiError(404, 'not_found', 'no scope deletion with that id');
      if (!result.cancelled)
        return res
          .status(409)
          .json({ error: { code: `already_${result.deletion.status}`, message: whyNotCancellable(result.deletion) } });
      return res.json({
        kind: 'pinpoint-project',
        mode: 'automated',
        scope: result.deletion.appId,
        ...projectDeletionView(result.deletion),
      });
    }
    try {
      const deletion = await cancelGuided(ledger, guidedId(req), actorOf(req), scrub(value.reason));
      res.json(scopeDeletionView(deletion, ledger.now()));
    } catch (err) {
      throw translate(err);
    }
  });
}

function guidedId(req: Request): string {
  const id = String(req.params.id);
  if (!UUID.test(id)) throw new ScopeDeletionNotFound();
  return id;
}

function invalid(problems: Array<{ field: string; problem: string }>): ApiError {
  return new ApiError(
    400,
    'invalid_request',
    `the scope deletion is not valid: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`,
    problems,
  );
}

function translate(err: unknown): unknown {
  if (err instanceof ScopeDeletionInvalid) return invalid(err.problems);
  if (err instanceof ScopeDeletionNotFound) return new ApiError(404, 'not_found', err.message);
  if (err instanceof ScopeDeletionRefused) return new ApiError(409, err.code, err.why);
  return err;
}

function auditView(
  trail: Array<{ at: string; actor: string; action: string; detail: Record<string, unknown>; hash: string }>,
) {
  return trail.map((e) => ({ at: e.at, actor: e.actor, action: e.action, detail: e.detail, hash: e.hash }));
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}
