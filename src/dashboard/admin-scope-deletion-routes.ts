import type express from 'express';
import type { Request, Response } from 'express';
import { scrub } from '../logger.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import {
  cancelGuided,
  confirmGuided,
  markGuidedSent,
  ScopeDeletionInvalid,
  ScopeDeletionNotFound,
  ScopeDeletionRefused,
} from '../scope-deletions/scope-deletions.js';
import { ADMIN_PATH, messagePage } from './admin-views.js';
import { SCOPE_NOTICES, scopeDeletionsPage } from './admin-scope-deletions.js';
import { LIST_LIMIT, UUID, type AdminRouteKit } from './admin-route-kit.js';

type GuidedAction = 'sent' | 'confirm' | 'cancel';

/** Carries out one guided step; answers the notice key the list page shows after it. */
async function applyGuided(
  scopes: ScopeDeletionLedger,
  action: GuidedAction,
  id: string,
  actor: string,
  input: string,
): Promise<string> {
  if (action === 'sent') {
    await markGuidedSent(scopes, id, actor, { reference: scrub(input) });
    return 'sent';
  }
  if (action === 'confirm') {
    const done = await confirmGuided(scopes, id, actor, { reference: scrub(input) });
    return done.status === 'cancelled' ? 'cancelled' : 'confirmed';
  }
  const done = await cancelGuided(scopes, id, actor, scrub(input));
  return done.status === 'cancel_requested' ? 'cancel-drafted' : 'cancelled';
}

/** `/admin/scope-deletions`: the guided scope deletions, and an operator's sent / confirm / cancel on one. */
export function addScopeDeletionRoutes(router: express.Router, kit: AdminRouteKit): void {
  const { deps, auth, context } = kit;

  router.get('/scope-deletions', auth, kit.requireRole('operator'), async (req, res) => {
    if (!deps.scopeDeletions) {
      res.status(404).send(messagePage(context(req), 'Not found', 'Scope deletions are not available here.'));
      return;
    }
    const notice = SCOPE_NOTICES[typeof req.query.notice === 'string' ? req.query.notice : ''];
    res.send(
      scopeDeletionsPage(context(req), await deps.scopeDeletions.list(LIST_LIMIT), deps.scopeDeletions.now(), {
        notice,
      }),
    );
  });

  const notFound = (req: Request, res: Response) => {
    res.status(404).send(messagePage(context(req), 'Not found', 'No scope deletion with that id.'));
  };

  for (const action of ['sent', 'confirm', 'cancel'] as const) {
    router.post(
      `/scope-deletions/:id/${action}`,
      auth,
      kit.form,
      kit.requireCsrf,
      kit.requireRole('operator'),
      async (req, res) => {
        const scopes = deps.scopeDeletions;
        const id = String(req.params.id);
        if (!scopes || !UUID.test(id)) {
          notFound(req, res);
          return;
        }
        const input = kit.text(req, action === 'cancel' ? 'reason' : 'reference', 3, action === 'cancel' ? 500 : 200);
        const refuse = async (status: number, message: string) => {
          res
            .status(status)
            .send(scopeDeletionsPage(context(req), await scopes.list(LIST_LIMIT), scopes.now(), { error: message }));
        };
        if (!input) {
          await refuse(
            400,
            action === 'cancel'
              ? 'A cancel needs a reason of at least 3 characters.'
              : 'This needs the ticket or reference (3 to 200 characters).',
          );
          return;
        }
        try {
          const notice = await applyGuided(scopes, action, id, kit.actor(req), input);
          res.redirect(303, `${ADMIN_PATH}/scope-deletions?notice=${notice}`);
        } catch (err) {
          if (err instanceof ScopeDeletionRefused) await refuse(409, `Refused: ${err.why}. Nothing changed.`);
          else if (err instanceof ScopeDeletionInvalid) await refuse(400, err.message);
          else if (err instanceof ScopeDeletionNotFound) notFound(req, res);
          else throw err;
        }
      },
    );
  }
}
