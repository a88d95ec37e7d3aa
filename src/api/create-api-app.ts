import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import type { Intake } from '../intake/intake.js';
import { IdempotencyKeyReusedError, IntakeUnavailableError, RequestValidationError } from '../intake/intake.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { requireRole, type Principal } from './auth.js';
import type { CredentialGate, IntakeRateLimiter } from './credential-gate.js';
import type { AdminSessions } from '../dashboard/admin-sessions.js';
import { createRequestsRouter } from './requests-router.js';
import { createProjectDeletionsRouter } from './project-deletions-router.js';
import { createTaskDecisionsRouter } from './task-decisions-router.js';
import { createScopeDeletionsRouter } from './scope-deletions-router.js';
import { createManualWorkRouter } from './manual-work-router.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import { countOverdueManualWork } from '../manual-work/manual-work-notices.js';
import { manualWorkSettings } from '../manual-work/manual-work-settings.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import { ApiError } from './api-error.js';
import { BULL_BOARD_PATH, createBullBoardHandler } from '../dashboard/bull-board.js';
import { adminPageHeaders, createAdminRouter, dashboardAuthenticate } from '../dashboard/admin-page.js';
import { renderMetrics } from './metrics.js';
import type { VendorCallStats } from '../metrics/vendor-call-stats.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import type { VendorClients } from '../connectors/processor-contract.js';
import type { ReceiptSigner } from '../receipts/receipt-signer.js';
import { SERVICE_INFO } from '../service-info.js';
import type { VendorHealthMonitor } from '../preflight/vendor-health-monitor.js';
import { createVendorHealthRouter } from '../preflight/vendor-health-router.js';
import { bodyFailureAnswer, verifyJsonDepth } from './json-body-policy.js';

export interface ApiAppDeps {
  config: Config;
  ledger: Ledger;
  intake: Intake;
  queues: QueueSet;
  verify: (token: string) => Principal | undefined;
  /** The one authentication gate and failure limiter of every surface (src/api/credential-gate.ts). */
  gate: CredentialGate;
  /** Per-token intake rate limits (`tokens[].rateLimit`). */
  intakeLimiter: IntakeRateLimiter;
  /** Server-side admin sessions (src/dashboard/admin-sessions.ts). */
  sessions: AdminSessions;
  logger: Logger;
  clients: VendorClients;
  signer: ReceiptSigner;
  /** Project deletions (`/v1/project-deletions`, and their admin page). */
  projectDeletions?: ProjectDeletionLedger;
  /** Guided scope deletions (`/v1/scope-deletions`, `/admin/scope-deletions`). */
  scopeDeletions?: ScopeDeletionLedger;
  /** Vendor call counters (all processes, via Redis) for `/metrics`. */
  vendorCalls: VendorCallStats;
  /** `at_risk`: observed vendor durations against deadlines. */
  deadlineRisk: DeadlineRiskLedger;
  /** The `/sandbox` control routes, mounted only in sandbox mode. */
  sandboxRouter?: Router;
  /** The OpenDSR processor API (`/v2`, and its `/v1` aliases), when it is on: it parses and signs its own bodies. */
  opendsrRouter?: Router;
  /** Vendor preflight and canary results (`GET /v1/vendors/health`, `erasure_vendor_check` in `/metrics`). */
  vendorHealth?: VendorHealthMonitor;
  /** The vendors' circuit breakers: `/readyz` details, `/metrics`, the admin banner, queue resume. */
  breaker?: VendorBreaker;
}

/** Every answer's request id and safety headers, and one log line per request once answered. */
function requestLog(logger: Logger): express.RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const httpId = randomUUID();
    res.set('X-Request-Id', httpId);
    res.set('X-Content-Type-Options', 'nosniff');
    res.set('X-Frame-Options', 'DENY');
    res.set('Referrer-Policy', 'no-referrer');
    res.on('finish', () => {
      // The path only: query strings are not logged.
      logger.info('http', {
        httpId,
        method: req.method,
        path: req.path,
        status: res.statusCode,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}

/** The HTTP surface: API, dashboards, health, metrics (README "HTTP API"). */
export function createApiApp(deps: ApiAppDeps): express.Express {
  const { config, logger } = deps;
  /** The `client` label's values (src/api/metrics.ts): names of configured tokens that can submit (viewers cannot) and `admin` (the admin token's name, src/api/auth.ts). */
  const metricClients = [...new Set([...config.tokens.filter((t) => t.role !== 'viewer').map((t) => t.name), 'admin'])];
  const app = express();
  app.disable('x-powered-by');
  // Whose address the failure limiter counts, and whether X-Forwarded-Proto is believed (issue 25 §2).
  app.set('trust proxy', config.trustProxy);

  app.use(requestLog(logger));

  mountHealthAndMetrics(app, deps, metricClients);

  const { gate } = deps;
  // Sandbox controls hand out simulator credentials and move the clock: admin token only (issue 25 §9).
  if (deps.sandboxRouter) {
    app.use('/sandbox', gate.bearerOnly('admin'));
    app.use(deps.sandboxRouter);
  }
  if (deps.opendsrRouter) app.use(deps.opendsrRouter);

  mountV1BodyPolicy(app, deps);
  mountApiRouters(app, deps);
  mountDashboards(app, deps);

  app.use((_req, res) => res.status(404).json({ error: { code: 'not_found', message: 'no such route' } }));
  app.use(errorAnswer(deps));
  return app;
}

/** `/healthz`, `/readyz` (the ledger, Redis, paused vendors) and `/metrics`. */
function mountHealthAndMetrics(app: express.Express, deps: ApiAppDeps, metricClients: string[]): void {
  const { config } = deps;
  app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    const [ledgerUp, redisUp] = await Promise.all([
      deps.ledger.ping().then(
        () => true,
        () => false,
      ),
      deps.queues.isReady(),
    ]);
    // A paused vendor is reported, but readiness stays up: the API still accepts and queues requests.
    const vendors = deps.breaker && redisUp ? await deps.breaker.states().catch(() => undefined) : undefined;
    const paused = vendors
      ?.filter((b) => b.state !== 'closed')
      .map(({ vendor, state, fault, reason, configKey, openedAt }) => ({
        vendor,
        state,
        fault,
        reason,
        configKey,
        openedAt,
      }));
    res.status(ledgerUp && redisUp ? 200 : 503).json({
      ledger: ledgerUp ? 'up' : 'down',
      redis: redisUp ? 'up' : 'down',
      ...(paused ? { vendors: { paused } } : {}),
    });
  });
  app.get('/metrics', async (_req, res) => {
    const { scopeDeletions } = deps;
    const overdueManualWork = scopeDeletions
      ? () =>
          countOverdueManualWork(
            { ledger: deps.ledger, scopeDeletions, settings: config.manualWork ?? manualWorkSettings({}) },
            new Date(),
          )
      : undefined;
    const text = await renderMetrics({
      ledger: deps.ledger,
      queues: deps.queues,
      vendorCalls: deps.vendorCalls,
      deadlineRisk: deps.deadlineRisk,
      breaker: deps.breaker,
      clients: metricClients,
      overdueManualWork,
    });
    res
      .type('text/plain; version=0.0.4')
      .send(deps.vendorHealth ? `${text}${deps.vendorHealth.metricLines().join('\n')}\n` : text);
  });
}

/** `/v1`: bearer authentication before any body is read, its headers, the intake limit, the JSON body policy. */
function mountV1BodyPolicy(app: express.Express, deps: ApiAppDeps): void {
  const { config, gate } = deps;
  // Authenticate before anything reads a body: a stranger's megabyte is refused unread. Bearer only.
  app.use('/v1', gate.bearerOnly());
  app.use('/v1', (req, res, next) => {
    res.set('Cache-Control', 'no-store');
    res.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    if (req.method === 'POST' && req.headers['content-length'] !== '0' && !req.is('application/json')) {
      next(new ApiError(415, 'unsupported_media_type', 'send the body as application/json'));
      return;
    }
    next();
  });
  // Per-token intake limit: one token before the body is read, the rest of a bulk body once parsed.
  app.post('/v1/requests', requireRole('submitter'), deps.intakeLimiter.middleware());
  app.use('/v1', express.json({ limit: config.intake.bodyLimitBytes, strict: true, verify: verifyJsonDepth }));
  app.post('/v1/requests', (req, _res, next) => {
    const bulk = (req.body as { requests?: unknown } | undefined)?.requests;
    if (req.principal && Array.isArray(bulk)) deps.intakeLimiter.charge(req.principal.name, bulk.length - 1);
    next();
  });
}

/** The `/v1` routers: requests, task decisions, manual work, scope and project deletions, vendor health, the receipt key. */
function mountApiRouters(app: express.Express, deps: ApiAppDeps): void {
  const { config, logger } = deps;
  app.use(
    createRequestsRouter({
      config,
      ledger: deps.ledger,
      intake: deps.intake,
      queues: deps.queues,
      clients: deps.clients,
      logger,
      signer: deps.signer,
      service: SERVICE_INFO,
      deadlineRisk: deps.deadlineRisk,
      breaker: deps.breaker,
    }),
  );
  app.use(createTaskDecisionsRouter({ ledger: deps.ledger }));
  if (deps.scopeDeletions)
    app.use(createManualWorkRouter({ config, ledger: deps.ledger, scopeDeletions: deps.scopeDeletions }));
  if (deps.scopeDeletions)
    app.use(
      createScopeDeletionsRouter({
        config,
        ledger: deps.ledger,
        scopeDeletions: deps.scopeDeletions,
        projectDeletions: deps.projectDeletions,
        queues: deps.queues,
        logger,
      }),
    );
  if (deps.projectDeletions)
    app.use(
      createProjectDeletionsRouter({
        config,
        ledger: deps.ledger,
        deletions: deps.projectDeletions,
        queues: deps.queues,
        logger,
      }),
    );
  if (deps.vendorHealth) app.use(createVendorHealthRouter(deps.vendorHealth));
  // The current key, and the retired ones (`previous`) that older receipts were signed with.
  app.get('/v1/receipt-key', (_req, res) =>
    res.json({
      alg: 'Ed25519',
      keyId: deps.signer.keyId,
      publicKey: deps.signer.publicKeyPem,
      previous: deps.signer.previousKeys,
    }),
  );
}

/** Bull Board and the admin page. */
function mountDashboards(app: express.Express, deps: ApiAppDeps): void {
  const { config, logger, gate } = deps;
  // Bull Board pages and its JSON get the admin page's headers: mounted first, they never ran the admin router's.
  app.use(BULL_BOARD_PATH, (_req, res, next) => {
    adminPageHeaders(res, { board: true });
    next();
  });
  // Authenticated first, then its JSON bodies read under the one body policy (depth, encodings) as every route's.
  app.use(
    BULL_BOARD_PATH,
    dashboardAuthenticate(gate, config),
    express.json({ limit: config.intake.bodyLimitBytes, strict: true, verify: verifyJsonDepth }),
    createBullBoardHandler({
      queues: deps.queues,
      ledger: deps.ledger,
      environment: config.sandboxMode ? 'sandbox' : 'production',
    }),
  );
  app.use(
    '/admin',
    createAdminRouter({
      config,
      ledger: deps.ledger,
      queues: deps.queues,
      clients: deps.clients,
      logger,
      verify: deps.verify,
      gate,
      sessions: deps.sessions,
      projectDeletions: deps.projectDeletions,
      scopeDeletions: deps.scopeDeletions,
      deadlineRisk: deps.deadlineRisk,
      breaker: deps.breaker,
    }),
  );
}

/** The one error answer: the error taxonomy's status and code, body parser failures kept 4xx, anything else a logged 500. */
function errorAnswer(deps: ApiAppDeps): express.ErrorRequestHandler {
  const { config, logger } = deps;
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError)
      return res
        .status(err.status)
        .json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    if (err instanceof RequestValidationError) {
      return res.status(400).json({
        error: { code: 'invalid_request', message: 'the request is not valid; see details', details: err.problems },
      });
    }
    if (err instanceof IdempotencyKeyReusedError)
      return res
        .status(422)
        .json({ error: { code: 'idempotency_key_reused', message: err.message, details: err.problems } });
    if (err instanceof IntakeUnavailableError)
      return res
        .status(503)
        .set('Retry-After', '5')
        .json({ error: { code: 'unavailable', message: err.message } });
    // Body parser failures keep their 4xx (src/api/json-body-policy.ts): a bad gzip stream is the client's error.
    const bodyFailure = bodyFailureAnswer(err, config.intake.bodyLimitBytes);
    if (bodyFailure)
      return res.status(bodyFailure.status).json({ error: { code: bodyFailure.code, message: bodyFailure.message } });
    logger.error('unhandled error in HTTP handler', { errorName: err instanceof Error ? err.name : typeof err });
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  };
}
