import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import type { Intake } from '../intake/intake.js';
import { IntakeUnavailableError, RequestValidationError } from '../intake/intake.js';
import type { QueueSet } from '../workers/queue-set.js';
import { authenticate, type Principal } from './auth.js';
import { createRequestsRouter } from './requests-router.js';
import { createProjectDeletionsRouter } from './project-deletions-router.js';
import type { ProjectDeletionLedger } from '../ledger/project-deletion-ledger.js';
import { ApiError } from './api-error.js';
import { BULL_BOARD_PATH, createBullBoardHandler } from '../dashboard/bull-board.js';
import { createAdminRouter, dashboardAuthenticate } from '../dashboard/admin-page.js';
import { renderMetrics } from './metrics.js';
import type { VendorCallStats } from '../metrics/vendor-call-stats.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import type { VendorClients } from '../../jobs/task-processor.js';
import type { ReceiptSigner } from '../receipts/receipt-signer.js';
import { SERVICE_INFO } from '../service-info.js';
import { bodyFailureAnswer, verifyJsonDepth } from './json-body-policy.js';

export interface ApiAppDeps {
  config: Config;
  ledger: RequestLedger;
  intake: Intake;
  queues: QueueSet;
  verify: (token: string) => Principal | undefined;
  logger: Logger;
  clients: VendorClients;
  signer: ReceiptSigner;
  /** Project deletions (`/v1/project-deletions`, and their admin page). */
  projectDeletions?: ProjectDeletionLedger;
  /** Vendor call counters (all processes, via Redis) for `/metrics`. */
  vendorCalls: VendorCallStats;
  /** `at_risk`: observed vendor durations against deadlines. */
  deadlineRisk: DeadlineRiskLedger;
  /** The `/sandbox` control routes, mounted only in sandbox mode. */
  sandboxRouter?: Router;
  /** The OpenDSR processor API (`/v2`, and its `/v1` aliases), when it is on: it parses and signs its own bodies. */
  opendsrRouter?: Router;
}

/** The HTTP surface: API, dashboards, health, metrics (DESIGN.md, Public surface). */
export function createApiApp(deps: ApiAppDeps): express.Express {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);

  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const httpId = randomUUID();
    res.set('X-Request-Id', httpId);
    res.set('X-Content-Type-Options', 'nosniff');
    res.set('X-Frame-Options', 'DENY');
    res.set('Referrer-Policy', 'no-referrer');
    res.on('finish', () => {
      // The path only: query strings are not logged.
      logger.info('http', { httpId, method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 });
    });
    next();
  });

  app.get('/healthz', (_req, res) => res.json({ status: 'ok' }));
  app.get('/readyz', async (_req, res) => {
    const [ledgerUp, redisUp] = await Promise.all([deps.ledger.ping().then(() => true, () => false), deps.queues.isReady()]);
    res.status(ledgerUp && redisUp ? 200 : 503).json({ ledger: ledgerUp ? 'up' : 'down', redis: redisUp ? 'up' : 'down' });
  });
  app.get('/metrics', async (_req, res) => {
    res.type('text/plain; version=0.0.4').send(await renderMetrics({ ledger: deps.ledger, queues: deps.queues, vendorCalls: deps.vendorCalls, deadlineRisk: deps.deadlineRisk }));
  });
  if (deps.sandboxRouter) app.use(deps.sandboxRouter);
  if (deps.opendsrRouter) app.use(deps.opendsrRouter);

  app.use('/v1', (req, res, next) => {
    if (req.method === 'POST' && req.headers['content-length'] !== '0' && !req.is('application/json')) {
      return next(new ApiError(415, 'unsupported_media_type', 'send the body as application/json'));
    }
    next();
  });
  // Authenticate before parsing bodies: a stranger's megabyte is refused unread.
  const auth = authenticate(deps.verify);
  app.use('/v1', auth);
  app.use('/v1', (_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    res.set('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    next();
  });
  app.use(express.json({ limit: config.intake.bodyLimitBytes, strict: true, verify: verifyJsonDepth }));
  app.use(createRequestsRouter({ config, ledger: deps.ledger, intake: deps.intake, queues: deps.queues, clients: deps.clients, logger, signer: deps.signer, service: SERVICE_INFO, deadlineRisk: deps.deadlineRisk }));
  if (deps.projectDeletions) app.use(createProjectDeletionsRouter({ config, ledger: deps.ledger, deletions: deps.projectDeletions, queues: deps.queues, logger }));
  app.get('/v1/receipt-key', auth, (_req, res) => res.json({ alg: 'Ed25519', keyId: deps.signer.keyId, publicKey: deps.signer.publicKeyPem }));
  app.use(BULL_BOARD_PATH, dashboardAuthenticate(deps.verify), createBullBoardHandler({ queues: deps.queues, ledger: deps.ledger, verify: deps.verify, environment: config.sandboxMode ? 'sandbox' : 'production' }));
  app.use('/admin', createAdminRouter({ config, ledger: deps.ledger, queues: deps.queues, clients: deps.clients, logger, verify: deps.verify, projectDeletions: deps.projectDeletions, deadlineRisk: deps.deadlineRisk }));

  app.use((_req, res) => res.status(404).json({ error: { code: 'not_found', message: 'no such route' } }));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ApiError) return res.status(err.status).json({ error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } });
    if (err instanceof RequestValidationError) {
      return res.status(400).json({ error: { code: 'invalid_request', message: 'the request is not valid; see details', details: err.problems } });
    }
    if (err instanceof IntakeUnavailableError) return res.status(503).set('Retry-After', '5').json({ error: { code: 'unavailable', message: err.message } });
    // Body parser failures keep their 4xx (src/api/json-body-policy.ts): a bad gzip stream is the client's error.
    const bodyFailure = bodyFailureAnswer(err, config.intake.bodyLimitBytes);
    if (bodyFailure) return res.status(bodyFailure.status).json({ error: { code: bodyFailure.code, message: bodyFailure.message } });
    logger.error('unhandled error in HTTP handler', { errorName: (err as Error)?.name });
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  });
  return app;
}
