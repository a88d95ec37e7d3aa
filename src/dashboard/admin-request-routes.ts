import type express from 'express';
import { scrub } from '../logger.js';
import { cancelRequest } from '../operations/cancel-request.js';
import { retryFailedTasks } from '../operations/retry-tasks.js';
import { decideFailedTask, NotAFailedTaskError } from '../operations/decide-failed-tasks.js';
import { ERRORS, NOTICES } from './admin-views.js';
import { requestPage } from './admin-request-page.js';
import type { AdminRouteKit } from './admin-route-kit.js';

/** `/admin/requests/:id`: one request's page. */
export function addRequestPageRoute(router: express.Router, kit: AdminRouteKit): void {
  const { deps } = kit;
  router.get('/requests/:id', kit.auth, async (req, res) => {
    const request = await kit.findRequest(req, res);
    if (!request) return;
    const [tasks, trail] = await Promise.all([
      deps.ledger.tasks.getTasks(request.id),
      deps.ledger.audit.auditTrail(request.id),
    ]);
    const notice = typeof req.query.notice === 'string' ? NOTICES[req.query.notice] : undefined;
    const error = typeof req.query.error === 'string' ? ERRORS[req.query.error] : undefined;
    const risk = (await deps.deadlineRisk.assess([request])).get(request.id);
    res.send(requestPage(kit.context(req), { request, tasks, trail, notice, error, risk }));
  });
}

/** The manual steps of a request's tasks: done (with a note) and sent to the vendor (with a reference). */
export function addManualTaskRoutes(router: express.Router, kit: AdminRouteKit): void {
  const { deps, back } = kit;
  const guard = [kit.auth, kit.form, kit.requireCsrf, kit.requireRole('operator')];

  router.post('/requests/:id/tasks/:taskId/complete', ...guard, async (req, res) => {
    const request = await kit.findRequest(req, res);
    if (!request) return;
    const note = kit.text(req, 'note', 3, 2000);
    if (!note) {
      back(res, request, { error: 'note-required' });
      return;
    }
    // The note is free text typed by a person: the ledger's audit write path scrubs it (src/ledger/audit-log.ts).
    const task = await deps.ledger.tasks.completeManualTask(
      request.id,
      String(req.params.taskId),
      kit.actor(req),
      note,
    );
    if (!task) {
      back(res, request, { error: 'not-a-manual-task' });
      return;
    }
    await deps.ledger.requests.settleRequest(request.id);
    back(res, request, { notice: 'task-completed' });
  });

  router.post('/requests/:id/tasks/:taskId/sent', ...guard, async (req, res) => {
    const request = await kit.findRequest(req, res);
    if (!request) return;
    const reference = kit.text(req, 'reference', 3, 200);
    if (!reference) {
      back(res, request, { error: 'reference-required' });
      return;
    }
    const task = await deps.ledger.tasks.markManualTaskSent(request.id, String(req.params.taskId), kit.actor(req), {
      at: new Date(),
      reference: scrub(reference),
    });
    back(res, request, task ? { notice: 'task-sent' } : { error: 'not-an-unsent-manual-task' });
  });
}

/** An operator's or submitter's decisions on a whole request or a failed task: cancel, skip or resolve, retry. */
export function addRequestActionRoutes(router: express.Router, kit: AdminRouteKit): void {
  const { deps, back } = kit;
  const { ledger } = deps;
  const written = [kit.auth, kit.form, kit.requireCsrf];
  /** The request of the path and the form's reason (3–500 characters); undefined once it has answered (404, or back with reason-required). */
  const requestAndReason = async (req: express.Request, res: express.Response) => {
    const request = await kit.findRequest(req, res);
    if (!request) return undefined;
    const reason = kit.text(req, 'reason', 3, 500);
    if (!reason) {
      back(res, request, { error: 'reason-required' });
      return undefined;
    }
    return { request, reason };
  };

  router.post('/requests/:id/cancel', ...written, kit.requireRole('submitter'), async (req, res) => {
    const found = await requestAndReason(req, res);
    if (!found) return;
    const { request, reason } = found;
    const report = await cancelRequest(
      { ledger, queues: deps.queues },
      { requestId: request.id, actor: kit.actor(req), reason },
    );
    back(res, request, report ? { notice: 'cancelled' } : { error: 'already-finished' });
  });

  router.post('/requests/:id/tasks/:taskId/decide', ...written, kit.requireRole('operator'), async (req, res) => {
    const found = await requestAndReason(req, res);
    if (!found) return;
    const { request, reason } = found;
    const decision = (req.body as Record<string, unknown> | undefined)?.decision;
    if (decision !== 'skipped' && decision !== 'resolved') {
      back(res, request, { error: 'not-a-failed-task' });
      return;
    }
    try {
      await decideFailedTask(
        { ledger },
        { requestId: request.id, taskId: String(req.params.taskId), decision, actor: kit.actor(req), reason },
      );
    } catch (err) {
      if (!(err instanceof NotAFailedTaskError)) throw err;
      back(res, request, { error: 'not-a-failed-task' });
      return;
    }
    back(res, request, { notice: decision === 'skipped' ? 'task-skipped' : 'task-resolved' });
  });

  router.post('/requests/:id/retry', ...written, kit.requireRole('operator'), async (req, res) => {
    const found = await requestAndReason(req, res);
    if (!found) return;
    const { request, reason } = found;
    const tasks = await retryFailedTasks(
      { ledger, queues: deps.queues },
      { requestId: request.id, actor: kit.actor(req), reason },
    );
    back(res, request, { notice: tasks.length ? 'retried' : 'nothing-to-retry' });
  });
}
