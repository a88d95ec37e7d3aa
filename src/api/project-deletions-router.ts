import express, { type Request } from 'express';
import Joi from 'joi';
import { nullAsAbsentSchema } from '../intake/null-as-absent.js';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import {
  PROJECT_DELETION_STATUSES,
  type ProjectDeletionLedger,
  type ProjectDeletionStatus,
} from '../ledger/project-deletion-ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { scrub, type Logger } from '../logger.js';
import { requireRole } from './auth.js';
import { ApiError } from './api-error.js';
import { projectDeletionView, whyNotCancellable } from './project-deletion-view.js';
import { ProjectDeletionRefused, scheduleProjectDeletion } from '../operations/schedule-project-deletion.js';
import { cancelProjectDeletion } from '../operations/cancel-project-deletion.js';
import { validInput } from './valid-input.js';

export interface ProjectDeletionsRouterDeps {
  config: Config;
  /** For the audit trail, which project deletions share with requests (one chain per id). */
  ledger: Ledger;
  deletions: ProjectDeletionLedger;
  queues: QueueSet;
  logger: Logger;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const APP_ID = /^[A-Za-z0-9-]+$/;

// `null` is absent for every optional field (src/intake/null-as-absent.ts).
const createSchema = nullAsAbsentSchema(
  Joi.object<{ appId: string; confirmAppId: string; reason: string; gracePeriodDays?: number }>({
    appId: Joi.string().max(128).pattern(APP_ID).required(),
    confirmAppId: Joi.string().max(128).required(),
    reason: Joi.string().trim().min(3).max(500).required(),
    gracePeriodDays: Joi.number().min(0).max(365),
  }).required(),
);

const cancelSchema = Joi.object<{ reason: string }>({
  reason: Joi.string().trim().min(3).max(500).required(),
}).required();

const listQuerySchema = Joi.object<{ status?: ProjectDeletionStatus; limit: number }>({
  status: Joi.string().valid(...PROJECT_DELETION_STATUSES),
  limit: Joi.number().integer().min(1).max(500).default(50),
});

/**
 * `/v1/project-deletions`: deleting a whole Pinpoint project (DeleteApp and its configured S3
 * prefixes) after a grace period during which it can be cancelled. Operator or admin only, reads
 * included: it is the most destructive thing the service does. Every write is in the deletion's
 * hash-chained audit trail with the caller's token name.
 */
export function createProjectDeletionsRouter(deps: ProjectDeletionsRouterDeps) {
  const { deletions } = deps;
  const router = express.Router();
  const operator = requireRole('operator');

  router.post('/v1/project-deletions', operator, async (req, res) => {
    const value = validInput(
      createSchema,
      req.body ?? {},
      'invalid_request',
      'the project deletion is not valid; see details',
    );
    let result;
    try {
      // The reason is free text typed by a person: scrub anything shaped like an address or a number.
      result = await scheduleProjectDeletion(
        { config: deps.config, deletions, queues: deps.queues, logger: deps.logger },
        {
          appId: value.appId,
          confirmAppId: value.confirmAppId,
          reason: scrub(value.reason),
          actor: actorOf(req),
          gracePeriodDays: value.gracePeriodDays,
        },
      );
    } catch (err) {
      if (err instanceof ProjectDeletionRefused)
        throw new ApiError(400, 'invalid_request', `the project deletion was refused: ${err.field} ${err.problem}`, [
          { field: err.field, problem: err.problem },
        ]);
      throw err;
    }
    const view = projectDeletionView(result.deletion);
    if (!result.created) {
      return res.status(409).json({
        error: {
          code: 'already_scheduled',
          message: `app ${result.deletion.appId} already has an open deletion (${result.deletion.id}, ${result.deletion.status}, runs at ${view.runAt})`,
        },
        projectDeletion: view,
      });
    }
    res.status(202).location(`/v1/project-deletions/${result.deletion.id}`).json(view);
  });

  router.get('/v1/project-deletions', operator, async (req, res) => {
    const value = validInput(listQuerySchema, req.query, 'invalid_query', 'invalid query parameters');
    const list = await deletions.list({ status: value.status, limit: value.limit });
    res.json({ projectDeletions: list.map((d) => projectDeletionView(d)) });
  });

  router.get('/v1/project-deletions/:id', operator, async (req, res) => {
    const deletion = await find(String(req.params.id));
    res.json(projectDeletionView(deletion, await deps.ledger.audit.auditTrail(deletion.id)));
  });

  router.post('/v1/project-deletions/:id/cancel', operator, async (req, res) => {
    const deletion = await find(String(req.params.id));
    const value = validInput(cancelSchema, req.body ?? {}, 'invalid_request', 'a cancel needs a reason');
    const result = await cancelProjectDeletion(
      { deletions, queues: deps.queues, logger: deps.logger },
      { id: deletion.id, actor: actorOf(req), reason: scrub(value.reason) },
    );
    if (!result) throw new ApiError(404, 'not_found', 'no project deletion with that id');
    if (!result.cancelled) {
      return res.status(409).json({
        error: { code: `already_${result.deletion.status}`, message: whyNotCancellable(result.deletion) },
        projectDeletion: projectDeletionView(result.deletion),
      });
    }
    res.json(projectDeletionView(result.deletion, await deps.ledger.audit.auditTrail(deletion.id)));
  });

  async function find(id: string) {
    const deletion = UUID.test(id) ? await deletions.get(id) : undefined;
    if (!deletion) throw new ApiError(404, 'not_found', 'no project deletion with that id');
    return deletion;
  }

  return router;
}

function actorOf(req: Request): string {
  return `token:${req.principal?.name ?? 'unknown'}`;
}
