import { mkdirSync, readFileSync, writeFileSync, existsSync, linkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Config } from './config/config-schema.js';
import type { VendorQueueSettings } from './vendors/vendor-settings.js';
import { CONNECTORS, registerConnector } from './connectors/registry.js';
import type { ConnectorJob, VendorConnector } from './connectors/connector.js';
import { registerSandboxPlugin, sandboxPluginFor, type VendorSandboxPlugin } from './sandbox/sandbox-plugins.js';
import { decodeKey } from './config/load-config.js';
import { createLogger, type Logger } from './logger.js';
import { openDatabase, type Database } from './ledger/database.js';
import { migrate } from './ledger/migrations.js';
import { type Ledger, createLedger } from './ledger/ledger.js';
import type { StatusChangeOutlet } from './ledger/status-changes.js';
import { createIdentityCipher, type IdentityCipher } from './privacy/identity-cipher.js';
import { startEmbeddedRedis, type EmbeddedRedis } from './stores/embedded-redis.js';
import { makeDataDirPrivate, tighten } from './stores/private-data-dir.js';
import { createQueueSet, type QueueSet } from './infrastructure/queue-set.js';
import { createVendorBreaker, type VendorBreaker } from './infrastructure/vendor-breaker.js';
import { startWorkers, type WorkerPool } from './workers/start-workers.js';
import { createBulkEnqueuer, createRequestEnqueuer } from './planner/request-enqueuer.js';
import { createIntake } from './intake/intake.js';
import { createApiApp } from './api/create-api-app.js';
import { createTokenVerifier, principalsByName } from './api/auth.js';
import { CredentialGate, IntakeRateLimiter } from './api/credential-gate.js';
import { AdminSessions } from './dashboard/admin-sessions.js';
import { serveHttp } from './api/http-server.js';
import { RETIRED_VENDOR_ANSWERS, startSandbox, type Sandbox, type SandboxOptions } from './sandbox/sandbox.js';
import { connectSharedSandbox, type SharedSandbox } from './sandbox/shared-sandbox.js';
import type { SimulatedVendors } from './sandbox/simulated-vendors.js';
import { REAL_TIME, type VendorClock } from './vendors/vendor-clock.js';
import type { CallBudget } from './vendors/call-budget.js';
import { resolveQueues } from '../queues/registry.js';
import type { VendorClients } from './connectors/processor-contract.js';
import { ProjectDeletionLedger } from './ledger/project-deletion-ledger.js';
import { ScopeDeletionLedger } from './ledger/scope-deletion-ledger.js';
import { startManualWorkReminders } from './manual-work/manual-work-reminders.js';
import { createReceiptSigner, type ReceiptSigner } from './receipts/receipt-signer.js';
import { callbacksQueue } from '../queues/callbacks-queue.js';
import { deliverCallback } from '../jobs/deliver-callback.js';
import type { CallbackJobData } from './callbacks/status-notifier.js';
import { createCallbackOutbox, type CallbackOutbox } from './callbacks/callback-outbox.js';
import { createVendorCallStats, type VendorCallStats } from './metrics/vendor-call-stats.js';
import { createRedisCallBudget } from './vendors/redis-call-budget.js';
import { DeadlineRiskLedger } from './ledger/deadline-risk-ledger.js';
import { checkCallbackUrl } from './callbacks/callback-target.js';
import { OpenDsrStore } from './opendsr/opendsr-store.js';
import { loadOpenDsrSigner } from './opendsr/opendsr-signer.js';
import { createOpenDsrRouter } from './opendsr/opendsr-router.js';
import { runPreflight } from './preflight/vendor-preflight.js';
import { runCanaries, type CanaryCarry } from './preflight/canary.js';
import { ScopeSightingLedger } from './ledger/scope-sightings.js';
import { VendorHealthMonitor } from './preflight/vendor-health-monitor.js';
import type { VendorName } from './vendors/vendor-name.js';

export interface ServiceRoles {
  /** Serve the HTTP API and dashboards. */
  api: boolean;
  /** Queues to work on: 'all', or a list of queue names; none = no workers. */
  workers: 'all' | string[];
}

export interface StartServiceOptions {
  roles?: ServiceRoles;
  /** Extra sandbox settings (tests). */
  sandbox?: SandboxOptions;
  /** Do not write to stdout (tests log to a file instead). */
  quiet?: boolean;
  /** Told when a vendor's canary fails or drifts: where the integrator connects a per-vendor circuit breaker. */
  onCanaryFailed?: (vendor: VendorName, reason: string) => void;
}

/** A running service: what it listens on and how to stop it. */
export interface Service {
  config: Config;
  url?: string;
  adminToken?: string;
  logger: Logger;
  ledger: Ledger;
  /** Whole-project deletions (Pinpoint apps and their S3 prefixes). */
  projectDeletions: ProjectDeletionLedger;
  /** Guided scope deletions (src/scope-deletions/). */
  scopeDeletions: ScopeDeletionLedger;
  queues: QueueSet;
  /** The ledger's store itself (tests and tools that read or shape it directly). */
  db: Database;
  /** Status callbacks waiting in the ledger's outbox to be queued. */
  callbacks: CallbackOutbox;
  /** This process's vendor call counters, flushed to Redis. */
  vendorCalls: VendorCallStats;
  breaker: VendorBreaker;
  workers?: WorkerPool;
  sandbox?: Sandbox;
  /** The `erasure sandbox` this process uses (ERASURE_SANDBOX_URL), instead of simulators of its own. */
  sharedSandbox?: SharedSandbox;
  redisUrl: string;
  /** Vendor preflight and canaries (API processes only). */
  vendorHealth?: VendorHealthMonitor;
  close(): Promise<void>;
}

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

/**
 * The composition root: the only place that wires config, stores, queues, workers, the API and
 * (in sandbox mode) the simulators together. Everything else receives what it needs.
 */
export async function startService(config: Config, options: StartServiceOptions = {}): Promise<Service> {
  const roles = options.roles ?? { api: true, workers: 'all' };
  // Before anything writes a file (the log file included): owner-only modes from here on.
  makeDataDirPrivate(config.dataDir);
  const logger = createLogger(config, { silentConsole: options.quiet });
  const closers: Array<() => Promise<void>> = [];
  // One grace period for the whole shutdown (requests in flight, then jobs in flight), not one per part.
  let shutdownDeadline = 0;
  const graceLeft = () => Math.max(0, shutdownDeadline - Date.now());
  const closeAll = async () => {
    shutdownDeadline = Date.now() + config.server.shutdownGraceMs;
    for (const close of closers.splice(0).reverse()) await close().catch((err: unknown) => logger.error('error while stopping', { errorName: errorNameOf(err) }));
  };

  try {
    const simulated = await startVendorSimulators(config, options, logger, closers);
    const { sandbox, sharedSandbox } = simulated;
    config = simulated.config;

    const redisUrl = await redisUrlOf(config, closers);

    const db: Database = await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, 'pg') });
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
    const callbackDeps = { ledger, signer, opendsr: opendsrSigner ? { store: opendsrStore, signer: opendsrSigner } : undefined, policy: config.callbacks, timeoutMs: config.callbacks.timeoutMs };
    const queueProcessors = { [callbacksQueue.name]: (job: Job) => deliverCallback(job as Job<CallbackJobData>, callbackDeps) };
    // Requests beyond what their queues may hold ready wait in the ledger (src/workers/due-work-scheduler.ts).
    const enqueueDeps = { ledger, queues, readyJobsPerQueue: config.jobs.admission.readyJobsPerQueue };
    const enqueue = createRequestEnqueuer(enqueueDeps);
    const enqueueMany = createBulkEnqueuer(enqueueDeps);

    // Scopes seen to exist, so an app seen before that answers 404 is scope_gone, not a config error (src/ledger/scope-sightings.ts).
    const clients: VendorClients = { scopeSightings: new ScopeSightingLedger(db) };
    // Simulated vendors keep the sandbox's time, which tests move and demos speed up.
    const simulators: SimulatedVendors | undefined = sandbox ?? sharedSandbox;
    const vendorClock = simulators ? () => simulators.clock.now() : REAL_TIME;
    const jobs = addVendorClients(config, clients, { calls: vendorCalls, clock: vendorClock, budget: callBudget }, closers);

    let workers: WorkerPool | undefined;
    const runQueues = roles.workers === 'all' ? queues.definitions : queues.definitions.filter((q) => (roles.workers as string[]).includes(q.name));
    if (runQueues.length > 0) {
      const pool = await startWorkers({ config, redisUrl, queues, run: runQueues, ledger, batches: ledger.batches, clients, jobs, enqueue, enqueueMany, logger, queueProcessors, projectDeletions, callbackOutbox, breaker });
      workers = pool;
      closers.push(() => pool.close(graceLeft()));
    }

    let url: string | undefined;
    let vendorHealth: VendorHealthMonitor | undefined;
    let adminToken = config.adminToken;
    if (roles.api) {
      const { verify, sessions, gate, intakeLimiter, ...auth } = apiAuth(config, db);
      adminToken = auth.adminToken;
      const checkCallback = (url: string) => checkCallbackUrl(url, config.callbacks);
      const intake = createIntake({ config, ledger, enqueue, enqueueMany, queueReady: () => queues.isReady(), logger, checkCallbackUrl: checkCallback });
      const opendsrRouter = opendsrSigner
        ? createOpenDsrRouter({ config, ledger, intake, store: opendsrStore, signer: opendsrSigner, verify, gate, intakeLimiter, selfUrl: () => url ?? '', queues, logger, checkCallbackUrl: checkCallback })
        : undefined;
      vendorHealth = startVendorHealth({ config, clients, vendorClock, simulators, breaker, logger, onCanaryFailed: options.onCanaryFailed }, closers);
      const app = createApiApp({ config, ledger, intake, queues, verify, gate, intakeLimiter, sessions, logger, clients, signer, sandboxRouter: sandbox?.controlRouter(), opendsrRouter, projectDeletions, scopeDeletions, vendorCalls, deadlineRisk, vendorHealth, breaker });
      const stopReminders = startManualWorkReminders({ config, db, ledger, scopeDeletions, signer, logger });
      if (stopReminders) closers.push(() => { stopReminders(); return Promise.resolve(); });
      const http = await serveHttp(app, config);
      closers.push(() => http.close(shutdownDeadline));
      const port = http.port;
      url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`;
    }

    return { config, url, adminToken, logger, ledger, projectDeletions, scopeDeletions, queues, db, callbacks: callbackOutbox, vendorCalls, workers, sandbox, sharedSandbox, redisUrl, vendorHealth, breaker, close: closeAll };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

/**
 * Adds a vendor to the service: its connector (settings schema, queue defaults, client, queue and
 * jobs, planning) and, if it has a simulator, its sandbox wiring. The one call a new vendor needs
 * (README "Adding a vendor"); call it before loading the config, which validates the vendor's
 * settings with the connector's own keys. Returns the function that takes the vendor out again.
 */
export function registerVendor<S extends VendorQueueSettings, C>(connector: VendorConnector<S, C>, sandboxPlugin?: VendorSandboxPlugin<S>): () => void {
  if (sandboxPlugin && sandboxPlugin.vendor !== connector.vendor) throw new Error(`sandbox wiring for ${sandboxPlugin.vendor} given with the ${connector.vendor} connector`);
  const unregisterConnector = registerConnector(connector);
  const unregisterPlugin = sandboxPlugin ? registerSandboxPlugin(sandboxPlugin) : () => undefined;
  return () => {
    unregisterPlugin();
    unregisterConnector();
  };
}

/** In sandbox mode every vendor with sandbox wiring points at its simulator. */
function withSandboxVendors(config: Config, sandbox: SimulatedVendors): Config {
  const vendors: Record<string, unknown> = { ...config.vendors };
  for (const connector of CONNECTORS) {
    const plugin = sandboxPluginFor(connector.vendor);
    if (!plugin) continue;
    const overrides = config.sandbox.vendorOverrides[connector.vendor] ?? {};
    vendors[connector.vendor] = { ...plugin.sandboxSettings(sandbox, connector.queueDefaults), ...overrides };
  }
  return { ...config, vendors };
}

function readExistingSecret(file: string): string | undefined {
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** The vendors' wait in the sandbox, in real time at its clock speed (the canary never moves the shared clock). */
function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(ms, 5_000)).unref());
}

/** An error's class name for a log line (never its message, which may echo an identifier). */
function errorNameOf(err: unknown): string {
  return err instanceof Error ? err.name : 'Error';
}

/** The vendors' simulators in sandbox mode: a shared `erasure sandbox` or this process's own; the config then points at them. */
async function startVendorSimulators(
  config: Config,
  options: StartServiceOptions,
  logger: Logger,
  closers: Array<() => Promise<void>>,
): Promise<{ config: Config; sandbox?: Sandbox; sharedSandbox?: SharedSandbox }> {
  let sandbox: Sandbox | undefined;
  let sharedSandbox: SharedSandbox | undefined;
  if (config.sandbox.url) {
    // A shared `erasure sandbox`: its vendors and its clock, for every process of the deployment (src/sandbox/shared-sandbox.ts).
    const token = config.adminToken ?? readExistingSecret(path.join(config.dataDir, 'admin-token'));
    if (!token) throw new Error('ERASURE_SANDBOX_URL needs the admin token the sandbox runs with: set ERASURE_ADMIN_TOKEN');
    const shared = await connectSharedSandbox({ url: config.sandbox.url, token, onRefreshError: (err) => logger.warn('shared sandbox clock not refreshed', { errorName: err.name }) });
    sharedSandbox = shared;
    closers.push(() => { shared.close(); return Promise.resolve(); });
    config = withSandboxVendors(config, shared);
  } else if (config.sandboxMode) {
    // `sandbox.retiredVendors`: the answers of Pinpoint past its end of support and of a retired App Center (issue 17).
    const retired = config.sandbox.retiredVendors ? RETIRED_VENDOR_ANSWERS : {};
    const started = await startSandbox({ subjects: config.sandbox.subjects, clockSpeed: config.sandbox.clockSpeed, faults: config.sandbox.faults, ...retired, ...options.sandbox });
    sandbox = started;
    closers.push(() => started.close());
    config = withSandboxVendors(config, started);
  }
  return { config, sandbox, sharedSandbox };
}

/** The vault's keys (current and previous) and the receipt signing key: from config, or made once per data dir in sandbox mode. */
function loadKeys(config: Config): { cipher: IdentityCipher; signer: ReceiptSigner } {
  let keyText = config.encryptionKey;
  if (!keyText) {
    if (!config.sandboxMode) throw new Error('ERASURE_ENCRYPTION_KEY is required outside sandbox mode (32 bytes, hex or base64)');
    keyText = readOrCreateSecret(path.join(config.dataDir, 'encryption-key'), () => randomBytes(32).toString('base64'));
  }
  const masterKey = decodeKey(keyText);
  const cipher = createIdentityCipher(masterKey, config.previousEncryptionKeys.map(decodeKey));
  // Receipts have a key of their own (issue 25 §6), not one derived from the vault's master key.
  let receiptKeyText = config.receiptSigningKey;
  if (!receiptKeyText) {
    if (!config.sandboxMode) throw new Error('ERASURE_RECEIPT_SIGNING_KEY is required outside sandbox mode (32 bytes, hex or base64: the Ed25519 receipt signing key)');
    receiptKeyText = readOrCreateSecret(path.join(config.dataDir, 'receipt-signing-key'), () => randomBytes(32).toString('base64'));
  }
  const signer = createReceiptSigner(decodeKey(receiptKeyText), config.receipts.previousPublicKeys);
  return { cipher, signer };
}

/** Each configured vendor's client, in the slot of its vendor's name (its processors get it alone), and every vendor job by name. */
function addVendorClients(
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
    closers.push(() => { client.close(); return Promise.resolve(); });
    Object.assign(jobs, connector.jobs);
  }
  return jobs;
}

/** Preflight at boot (logged, never fatal) and every preflight.intervalMs; canaries as configured (src/preflight/). */
function startVendorHealth(
  deps: {
    config: Config;
    clients: VendorClients;
    vendorClock: VendorClock;
    simulators: SimulatedVendors | undefined;
    breaker: VendorBreaker;
    logger: Logger;
    onCanaryFailed: StartServiceOptions['onCanaryFailed'];
  },
  closers: Array<() => Promise<void>>,
): VendorHealthMonitor {
  const { config, clients, vendorClock, simulators, breaker, logger } = deps;
  // Preflight at boot (logged, never fatal) and every preflight.intervalMs; canaries as configured (src/preflight/).
  const vendorSettings = config.vendors;
  // A Segment canary regulation on a real workspace outlives one canary run (src/preflight/canary.ts).
  const canaryCarry: CanaryCarry = {};
  const monitor = new VendorHealthMonitor({
    preflight: () => runPreflight({ vendors: vendorSettings, clients, now: vendorClock }),
    canaries: () => runCanaries({ vendors: vendorSettings, clients, enabled: config.preflight.canaries, carry: canaryCarry, waitForVendor: simulators ? (ms) => sleepMs(Math.max(20, ms / simulators.clock.describe().speed)) : undefined }),
    logger,
    atBoot: config.preflight.atBoot,
    intervalMs: config.preflight.intervalMs,
    canaryEveryMs: config.preflight.canaries.length ? config.preflight.canaryEveryMs : 0,
    // A failed or drifted canary opens the vendor's breaker (its queue pauses until an operator
    // resumes it) and alerts through the breaker's webhook; tests may listen too.
    onCanaryFailed: async (vendor, reason) => {
      await breaker.trip(vendor, 'canary', `canary failed: ${reason}`).catch((err: unknown) => logger.warn('circuit breaker unavailable', { errorName: errorNameOf(err) }));
      deps.onCanaryFailed?.(vendor, reason);
    },
  });
  monitor.start();
  closers.push(() => { monitor.stop(); return Promise.resolve(); });
  return monitor;
}

/** The Redis to use: the configured one, or an embedded redis-server in the data dir (stopped with the service). */
async function redisUrlOf(config: Config, closers: Array<() => Promise<void>>): Promise<string> {
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
function apiAuth(config: Config, db: Database) {
  let adminToken = config.adminToken;
  if (!adminToken && config.sandboxMode) adminToken = readOrCreateSecret(path.join(config.dataDir, 'admin-token'), () => randomBytes(24).toString('base64url'));
  if (!adminToken && config.tokens.length === 0) throw new Error('ERASURE_ADMIN_TOKEN (or tokens in the config file) is required outside sandbox mode');
  const verify = createTokenVerifier(adminToken, config.tokens);
  const sessions = new AdminSessions(db, principalsByName(adminToken, config.tokens));
  return { adminToken, verify, sessions, gate: new CredentialGate(verify, sessions), intakeLimiter: new IntakeRateLimiter(config.tokens) };
}
