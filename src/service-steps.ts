/*
 * The start-up steps of the composition root, src/service.ts: each opens one part of the service
 * (stores, worker role, intake, API) and registers how to close it, in the order startService calls
 * them. The simulators stay in service.ts, the one production file lint lets import src/sandbox/.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync, linkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Config } from './config/config-schema.js';
import { CONNECTORS } from './connectors/registry.js';
import type { ConnectorJob } from './connectors/connector.js';
import { decodeKey } from './config/load-config.js';
import type { Logger } from './logger.js';
import { openDatabase, type Database } from './ledger/database.js';
import { migrate } from './ledger/migrations.js';
import { type Ledger, createLedger } from './ledger/ledger.js';
import type { StatusChangeOutlet } from './ledger/status-changes.js';
import { createIdentityCipher, type IdentityCipher } from './privacy/identity-cipher.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './stores/embedded-redis.js';
import { tighten } from './stores/private-data-dir.js';
import { createQueueSet, type QueueSet } from './infrastructure/queue-set.js';
import { createVendorBreaker, type VendorBreaker } from './infrastructure/vendor-breaker.js';
import { createTokenVerifier, principalsByName } from './api/auth.js';
import { CredentialGate, IntakeRateLimiter } from './api/credential-gate.js';
import { AdminSessions } from './dashboard/admin-sessions.js';
import type { VendorClock } from './vendors/vendor-clock.js';
import type { CallBudget } from './vendors/call-budget.js';
import { resolveQueues } from '../queues/registry.js';
import type { VendorClients } from './connectors/processor-contract.js';
import { ProjectDeletionLedger } from './ledger/project-deletion-ledger.js';
import { ScopeDeletionLedger } from './ledger/scope-deletion-ledger.js';
import { createReceiptSigner, type ReceiptSigner } from './receipts/receipt-signer.js';
import { createCallbackOutbox, type CallbackOutbox } from './callbacks/callback-outbox.js';
import { createVendorCallStats, type VendorCallStats } from './metrics/vendor-call-stats.js';
import { createRedisCallBudget } from './vendors/redis-call-budget.js';
import { DeadlineRiskLedger } from './ledger/deadline-risk-ledger.js';
import { OpenDsrStore } from './opendsr/opendsr-store.js';
import { loadOpenDsrSigner, type OpenDsrSigner } from './opendsr/opendsr-signer.js';
import type { Job } from 'bullmq';
import type { Express } from 'express';
import { startWorkers, type WorkerPool } from './workers/start-workers.js';
import type { BulkEnqueuer, RequestEnqueuer } from './planner/request-enqueuer.js';
import { createIntake } from './intake/intake.js';
import { serveHttp } from './api/http-server.js';
import { startManualWorkReminders } from './manual-work/manual-work-reminders.js';
import { callbacksQueue } from '../queues/callbacks-queue.js';
import { deliverCallback } from '../jobs/deliver-callback.js';
import type { CallbackJobData } from './callbacks/status-notifier.js';
import { checkCallbackUrl } from './callbacks/callback-target.js';
import { createOpenDsrRouter } from './opendsr/opendsr-router.js';

// Steps of startService (src/service.ts) that need no simulator: secrets, keys, stores, vendor
// clients, API credentials. The composition root calls them in its order; each registers its
// close with the service's closers.

/**
 * Keys and tokens generated once into the data dir in sandbox mode, so restarts keep them. Written
 * to a temporary file and linked into place, so processes starting together on one data dir (a
 * shared sandbox's api and workers) all end with the one that won.
 */
export function readOrCreateSecret(file: string, make: () => string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(path.dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(draft, `${make()}\n`, { mode: 0o600 });
  try {
    linkSync(draft, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(draft);
  }
  return readFileSync(file, 'utf8').trim();
}

/** The ledger, the queues and what lives beside them in Postgres and Redis, as startService wires them. */
export interface ServiceStores {
  db: Database;
  signer: ReceiptSigner;
  projectDeletions: ProjectDeletionLedger;
  scopeDeletions: ScopeDeletionLedger;
  queues: QueueSet;
  breaker: VendorBreaker;
  opendsrStore: OpenDsrStore;
  opendsrSigner: OpenDsrSigner | undefined;
  callbackOutbox: CallbackOutbox;
  ledger: Ledger;
  vendorCalls: VendorCallStats;
  callBudget: CallBudget;
  deadlineRisk: DeadlineRiskLedger;
}

/** Opens the ledger's database (migrated), the queues and the Redis-backed breaker, call counters and budgets; each closes with the service. */
export async function openStores(
  config: Config,
  redisUrl: string,
  logger: Logger,
  closers: Array<() => Promise<void>>,
): Promise<ServiceStores> {
  const db: Database = await openDatabase({
    databaseUrl: config.databaseUrl,
    pgliteDir: path.join(config.dataDir, 'pg'),
  });
  closers.push(() => db.close());
  await migrate(db);
  tighten(config.dataDir);

  const { cipher, signer } = loadKeys(config);
  const projectDeletions = new ProjectDeletionLedger(db);
  const scopeDeletions = new ScopeDeletionLedger(db);

  const queues = await createQueueSet({ url: redisUrl, prefix: config.queuePrefix }, resolveQueues(config));
  closers.push(() => queues.close());
  // One circuit breaker per vendor, its state in Redis, shared by every process (src/infrastructure/vendor-breaker.ts).
  const breaker = createVendorBreaker({ redisUrl, queues, settings: config.breaker, logger });
  closers.push(() => breaker.close());
  // Status callbacks: every committed status change queues its signed callbacks (src/callbacks/).
  const opendsrStore = new OpenDsrStore(db);
  const opendsrSigner = await loadOpenDsrSigner(config, logger);
  // The callbacks a change owes commit with it (an outbox row) and are queued right after (src/callbacks/callback-outbox.ts).
  const callbackOutbox = createCallbackOutbox({ db, queues, store: opendsrStore, config, logger });
  const ledger = createLedger(db, cipher, callbackOutlet(callbackOutbox));
  // Every vendor HTTP call is counted here and summed in Redis across processes (src/metrics/).
  const vendorCalls = createVendorCallStats({ redisUrl, prefix: config.queuePrefix });
  closers.push(() => vendorCalls.close());
  // Every vendor call budget (rates, in-flight caps) lives in Redis, one per vendor and operation
  // however many processes run (Invariant 12; src/vendors/redis-call-budget.ts).
  const callBudget = createRedisCallBudget({ redisUrl, prefix: config.queuePrefix });
  closers.push(() => callBudget.close());
  const deadlineRisk = new DeadlineRiskLedger(db, config.deadlines.atRisk);
  return {
    db,
    signer,
    projectDeletions,
    scopeDeletions,
    queues,
    breaker,
    opendsrStore,
    opendsrSigner,
    callbackOutbox,
    ledger,
    vendorCalls,
    callBudget,
    deadlineRisk,
  };
}

/** The vault's keys (current and previous) and the receipt signing key: from config, or made once per data dir in sandbox mode. */
function loadKeys(config: Config): { cipher: IdentityCipher; signer: ReceiptSigner } {
  let keyText = config.encryptionKey;
  if (!keyText) {
    if (!config.sandboxMode)
      throw new Error('ERASURE_ENCRYPTION_KEY is required outside sandbox mode (32 bytes, hex or base64)');
    keyText = readOrCreateSecret(path.join(config.dataDir, 'encryption-key'), () => randomBytes(32).toString('base64'));
  }
  const masterKey = decodeKey(keyText);
  const cipher = createIdentityCipher(masterKey, config.previousEncryptionKeys.map(decodeKey));
  // Receipts have a key of their own (issue 25 §6), not one derived from the vault's master key.
  let receiptKeyText = config.receiptSigningKey;
  if (!receiptKeyText) {
    if (!config.sandboxMode)
      throw new Error(
        'ERASURE_RECEIPT_SIGNING_KEY is required outside sandbox mode (32 bytes, hex or base64: the Ed25519 receipt signing key)',
      );
    receiptKeyText = readOrCreateSecret(path.join(config.dataDir, 'receipt-signing-key'), () =>
      randomBytes(32).toString('base64'),
    );
  }
  const signer = createReceiptSigner(decodeKey(receiptKeyText), config.receipts.previousPublicKeys);
  return { cipher, signer };
}

/** Each configured vendor's client, in the slot of its vendor's name (its processors get it alone), and every vendor job by name. */
export function addVendorClients(
  config: Config,
  clients: VendorClients,
  wiring: { calls: VendorCallStats; clock: VendorClock; budget: CallBudget },
  closers: Array<() => Promise<void>>,
): Record<string, ConnectorJob> {
  const jobs: Record<string, ConnectorJob> = {};
  for (const connector of CONNECTORS) {
    const settings = config.vendors[connector.vendor];
    if (!settings) continue;
    const client = connector.createClient(settings, wiring.calls, wiring.clock, wiring.budget);
    // Each connector's client fills the slot of its vendor's name: its processors get it alone (start-workers.ts).
    (clients as Record<string, unknown>)[connector.vendor] = client;
    closers.push(() => {
      client.close();
      return Promise.resolve();
    });
    Object.assign(jobs, connector.jobs);
  }
  return jobs;
}

/** The Redis to use: the configured one, or an embedded redis-server in the data dir (stopped with the service). */
export async function redisUrlOf(config: Config, closers: Array<() => Promise<void>>): Promise<string> {
  if (config.redisUrl) return config.redisUrl;
  const embedded: EmbeddedRedis = await startEmbeddedRedis({ dataDir: path.join(config.dataDir, 'redis') });
  closers.push(() => embedded.stop());
  return embedded.url;
}

/** The callbacks a status change owes commit with it (outbox rows) and are queued once it has committed (src/callbacks/callback-outbox.ts). */
function callbackOutlet(outbox: CallbackOutbox): StatusChangeOutlet {
  return {
    record: async (tx, changes) => {
      for (const change of changes) await outbox.write(tx, change);
    },
    publish: (change) => outbox.dispatch(change),
  };
}

/** The API's credentials: the admin token (made once per data dir in sandbox mode), and one gate and failure limiter for every authenticated surface (issue 25 §2). */
export function apiAuth(config: Config, db: Database) {
  let adminToken = config.adminToken;
  if (!adminToken && config.sandboxMode)
    adminToken = readOrCreateSecret(path.join(config.dataDir, 'admin-token'), () =>
      randomBytes(24).toString('base64url'),
    );
  if (!adminToken && config.tokens.length === 0)
    throw new Error('ERASURE_ADMIN_TOKEN (or tokens in the config file) is required outside sandbox mode');
  const verify = createTokenVerifier(adminToken, config.tokens);
  const sessions = new AdminSessions(db, principalsByName(adminToken, config.tokens));
  return {
    adminToken,
    verify,
    sessions,
    gate: new CredentialGate(verify, sessions),
    intakeLimiter: new IntakeRateLimiter(config.tokens),
  };
}

/** An error's class name for a log line (never its message, which may echo an identifier). */
export function errorNameOf(err: unknown): string {
  return err instanceof Error ? err.name : 'Error';
}

/** What the worker and API roles get besides the stores. */
interface RoleDeps {
  config: Config;
  stores: ServiceStores;
  enqueue: RequestEnqueuer;
  enqueueMany: BulkEnqueuer;
  logger: Logger;
}

/** The worker role: one Worker per queue this process runs ('all', or those named), the callbacks queue's own processor among them. */
export async function startWorkerRole(
  roleQueues: 'all' | string[],
  deps: RoleDeps & { redisUrl: string; clients: VendorClients; jobs: Record<string, ConnectorJob> },
  closers: Array<() => Promise<void>>,
  graceLeft: () => number,
): Promise<WorkerPool | undefined> {
  const { config, redisUrl, clients, jobs, enqueue, enqueueMany, logger } = deps;
  const { ledger, signer, opendsrStore, opendsrSigner, queues, projectDeletions, callbackOutbox, breaker } =
    deps.stores;
  const callbackDeps = {
    ledger,
    signer,
    opendsr: opendsrSigner ? { store: opendsrStore, signer: opendsrSigner } : undefined,
    policy: config.callbacks,
    timeoutMs: config.callbacks.timeoutMs,
  };
  const queueProcessors = {
    [callbacksQueue.name]: (job: Job) => deliverCallback(job as Job<CallbackJobData>, callbackDeps),
  };
  let workers: WorkerPool | undefined;
  const runQueues =
    roleQueues === 'all' ? queues.definitions : queues.definitions.filter((q) => roleQueues.includes(q.name));
  if (runQueues.length > 0) {
    const pool = await startWorkers({
      config,
      redisUrl,
      queues,
      run: runQueues,
      ledger,
      batches: ledger.batches,
      clients,
      jobs,
      enqueue,
      enqueueMany,
      logger,
      queueProcessors,
      projectDeletions,
      callbackOutbox,
      breaker,
    });
    workers = pool;
    closers.push(() => pool.close(graceLeft()));
  }
  return workers;
}

/** The API's credentials, the native intake and (when configured) the OpenDSR router, which learns its own URL once the server listens (`self`). */
export function openIntake(deps: RoleDeps) {
  const { config, enqueue, enqueueMany, logger } = deps;
  const { db, ledger, queues, opendsrStore, opendsrSigner } = deps.stores;
  // The OpenDSR router's own URL is known once the server listens.
  const self: { url?: string } = {};
  const { verify, sessions, gate, intakeLimiter, ...auth } = apiAuth(config, db);
  const checkCallback = (url: string) => checkCallbackUrl(url, config.callbacks);
  const intake = createIntake({
    config,
    ledger,
    enqueue,
    enqueueMany,
    queueReady: () => queues.isReady(),
    logger,
    checkCallbackUrl: checkCallback,
  });
  const opendsrRouter = opendsrSigner
    ? createOpenDsrRouter({
        config,
        ledger,
        intake,
        store: opendsrStore,
        signer: opendsrSigner,
        verify,
        gate,
        intakeLimiter,
        selfUrl: () => self.url ?? '',
        queues,
        logger,
        checkCallbackUrl: checkCallback,
      })
    : undefined;
  return { verify, sessions, gate, intakeLimiter, adminToken: auth.adminToken, intake, opendsrRouter, self };
}

/** Manual work reminders, then the HTTP server; answers the URL it listens on. Both stop with the service. */
export async function serveApi(
  app: Express,
  deps: { config: Config; stores: ServiceStores; logger: Logger; self: { url?: string } },
  closers: Array<() => Promise<void>>,
  shutdownDeadline: () => number,
): Promise<string> {
  const { config, logger, self } = deps;
  const { db, ledger, scopeDeletions, signer } = deps.stores;
  const stopReminders = startManualWorkReminders({ config, db, ledger, scopeDeletions, signer, logger });
  if (stopReminders)
    closers.push(() => {
      stopReminders();
      return Promise.resolve();
    });
  const http = await serveHttp(app, config);
  closers.push(() => http.close(shutdownDeadline()));
  const port = http.port;
  self.url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
  return self.url;
}
