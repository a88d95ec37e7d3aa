import express from 'express';
import Joi from 'joi';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import { openManualWork } from '../manual-work/manual-work-notices.js';
import { manualWorkSettings } from '../manual-work/manual-work-settings.js';
import type { ManualWorkItem } from '../manual-work/manual-work.js';
import { requireRole } from './auth.js';
import { isStaff } from './access.js';
import { ApiError } from './api-error.js';
import { validInput } from './valid-input.js';

const querySchema = Joi.object<{ overdue?: 'true' | 'false' }>({ overdue: Joi.string().valid('true', 'false') });

/** Open manual work as the API shows it: who, what, due when, overdue or not. */
export function manualWorkView(item: ManualWorkItem, now: Date) {
  return { ...item, dueAt: item.dueAt.toISOString(), overdue: item.dueAt.getTime() < now.getTime() };
}

/**
 * `GET /v1/manual-work[?overdue=true]` (staff: viewer, operator, admin): per-request manual tasks and guided
 * scope deletions still to do, soonest due first. It lists every client's requests, so a client (submitter,
 * which outranks viewer on the role ladder) gets 403, as for Bull Board (README "Clients, roles and idempotency").
 */
export function createManualWorkRouter(deps: { config: Config; ledger: Ledger; scopeDeletions: ScopeDeletionLedger }) {
  const router = express.Router();
  router.get('/v1/manual-work', requireRole('viewer'), async (req, res) => {
    if (!isStaff(req.principal))
      throw new ApiError(403, 'forbidden', 'manual work is for staff roles (viewer, operator, admin)');
    const value = validInput(querySchema, req.query, 'invalid_query', 'invalid query parameters');
    const now = new Date();
    const settings = deps.config.manualWork ?? manualWorkSettings({});
    const items = (await openManualWork({ ledger: deps.ledger, scopeDeletions: deps.scopeDeletions, settings }))
      .map((i) => manualWorkView(i, now))
      .filter((i) => value.overdue === undefined || i.overdue === (value.overdue === 'true'))
      .sort((a, b) => a.dueAt.localeCompare(b.dueAt));
    res.json({ manualWork: items });
  });
  return router;
}
