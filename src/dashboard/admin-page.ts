import express from 'express';
import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import type { Logger } from '../logger.js';
import type { Principal } from '../api/auth.js';
import type { CredentialGate } from '../api/credential-gate.js';
import type { AdminSessions } from './admin-sessions.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import { pageHeaders } from './admin-guards.js';
import { ADMIN_CSS } from './admin-css.js';
import { adminRouteKit } from './admin-route-kit.js';
import { addLoginRoutes } from './admin-login-routes.js';
import { addListRoutes } from './admin-list-routes.js';
import { addScopeDeletionRoutes } from './admin-scope-deletion-routes.js';
import { addManualTaskRoutes, addRequestActionRoutes, addRequestPageRoute } from './admin-request-routes.js';

export { adminPageHeaders, csrfTokenFor, dashboardAuthenticate } from './admin-guards.js';

/**
 * `/admin`: the operators' request pages (server-rendered, no scripts), behind the API's tokens.
 * A browser logs in at `/admin/login` with a token and gets a session (src/dashboard/admin-sessions.ts):
 * a random id in an HttpOnly, SameSite=Strict cookie, `Secure` and `__Host-` over https, which Bull
 * Board at `/admin/queues` accepts too. Every form carries a CSRF token derived from the session id
 * with HMAC, and every cookie-authenticated write must also come from this origin (Origin /
 * Sec-Fetch-Site); writes without both are refused (src/dashboard/admin-guards.ts).
 */

export interface AdminPageDeps {
  config: Config;
  ledger: Ledger;
  queues: QueueSet;
  clients: VendorClients;
  logger: Logger;
  verify: (token: string) => Principal | undefined;
  /** The one authentication gate and failure limiter of every surface (src/api/credential-gate.ts). */
  gate: CredentialGate;
  /** Server-side admin sessions. */
  sessions: AdminSessions;
  /** Whole-project deletions, listed for operators at `/admin/project-deletions`. */
  projectDeletions?: ProjectDeletionLedger;
  /** Guided scope deletions (`/admin/scope-deletions`). */
  scopeDeletions?: ScopeDeletionLedger;
  /** `at_risk`: observed vendor durations against deadlines (filter and badges). */
  deadlineRisk: DeadlineRiskLedger;
  /** The vendors' circuit breakers, shown as a banner when one is open. */
  breaker?: VendorBreaker;
}

export function createAdminRouter(deps: AdminPageDeps): express.Router {
  const router = express.Router();
  const kit = adminRouteKit(deps);

  router.use((_req, res, next) => {
    pageHeaders(res);
    next();
  });
  router.get('/assets/admin.css', (_req, res) => {
    res.type('text/css').set('Cache-Control', 'public, max-age=300').send(ADMIN_CSS);
  });
  addLoginRoutes(router, kit);

  // The breaker banner: read once per page (a Redis read per vendor); a Redis outage shows no banner rather than no page.
  router.use(async (req, _res, next) => {
    const states = deps.breaker ? await deps.breaker.states().catch(() => []) : [];
    req.vendorBreakers = states.filter((b) => b.state !== 'closed');
    next();
  });
  addListRoutes(router, kit);
  addScopeDeletionRoutes(router, kit);
  addRequestPageRoute(router, kit);
  addManualTaskRoutes(router, kit);
  addRequestActionRoutes(router, kit);
  return router;
}
