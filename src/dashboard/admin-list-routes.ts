import type express from 'express';
import { REQUEST_STATUSES, type RequestRecord } from '../ledger/ledger-types.js';
import { clientScope, isStaff } from '../api/access.js';
import { openManualWork } from '../manual-work/manual-work-notices.js';
import { manualWorkSettings } from '../manual-work/manual-work-settings.js';
import { messagePage, type ListFilter } from './admin-views.js';
import { requestListPage, taskListPage } from './admin-request-list.js';
import { manualWorkPage } from './admin-manual-work.js';
import { projectDeletionsPage } from './admin-project-deletions.js';
import { LIST_LIMIT, type AdminRouteKit } from './admin-route-kit.js';

const TASK_LIST_LIMIT = 200;
const LIST_FILTERS = ['overdue', 'at_risk', 'failed', 'waiting_manual'] as const;

/** The list pages: requests (`/admin`, by filter, status and client), open manual work and project deletions. */
export function addListRoutes(router: express.Router, kit: AdminRouteKit): void {
  const { deps, auth, context } = kit;
  const { ledger } = deps;

  router.get('/', auth, async (req, res) => {
    const filter: ListFilter = LIST_FILTERS.find((f) => f === req.query.filter) ?? 'all';
    const status = REQUEST_STATUSES.find((s) => s === req.query.status);
    // A client sees its own requests only; staff may pick one client.
    const client = clientScope(req.principal) ?? kit.knownClients.find((c) => c === req.query.client);
    if (!status && (filter === 'failed' || filter === 'waiting_manual')) {
      const tasks = await ledger.queries.tasksInState(filter, TASK_LIST_LIMIT, client);
      const requests = new Map<string, RequestRecord | undefined>();
      for (const t of tasks)
        if (!requests.has(t.requestId)) requests.set(t.requestId, await ledger.requests.getRequest(t.requestId));
      res.send(
        taskListPage(context(req), {
          filter,
          rows: tasks.map((task) => ({ task, request: requests.get(task.requestId) })),
          limited: tasks.length === TASK_LIST_LIMIT,
        }),
      );
      return;
    }
    const cursor =
      typeof req.query.cursor === 'string' && req.query.cursor.length <= 200 ? req.query.cursor : undefined;
    let page;
    try {
      const atRisk =
        filter === 'at_risk' && !status ? { value: true, estimates: await deps.deadlineRisk.estimates() } : undefined;
      page = await ledger.requests.listRequests({
        status,
        client,
        overdue: filter === 'overdue' && !status ? true : undefined,
        atRisk,
        limit: LIST_LIMIT,
        cursor,
      });
    } catch (err) {
      if (!(err instanceof RangeError)) throw err;
      page = await ledger.requests.listRequests({ status, client, limit: LIST_LIMIT });
    }
    const risks = await deps.deadlineRisk.assess(page.requests);
    res.send(
      requestListPage(context(req), {
        filter: status ? 'all' : filter,
        status,
        client: isStaff(req.principal) ? client : undefined,
        requests: page.requests,
        nextCursor: page.nextCursor,
        risks,
      }),
    );
  });

  // Every client's open manual steps: staff only (a client gets 403, as for Bull Board; README "Clients, roles and idempotency").
  router.get('/manual-work', auth, async (req, res) => {
    if (!isStaff(req.principal)) {
      res
        .status(403)
        .send(messagePage(context(req), 'Not allowed', 'Manual work is for staff roles (viewer, operator, admin).'));
      return;
    }
    if (!deps.scopeDeletions) {
      res.status(404).send(messagePage(context(req), 'Not found', 'Manual work is not available here.'));
      return;
    }
    const settings = deps.config.manualWork ?? manualWorkSettings({});
    res.send(
      manualWorkPage(context(req), await openManualWork({ ledger, scopeDeletions: deps.scopeDeletions, settings })),
    );
  });

  router.get('/project-deletions', auth, kit.requireRole('operator'), async (req, res) => {
    if (!deps.projectDeletions) {
      res.status(404).send(messagePage(context(req), 'Not found', 'Project deletions are not available here.'));
      return;
    }
    res.send(projectDeletionsPage(context(req), await deps.projectDeletions.list({ limit: LIST_LIMIT })));
  });
}
