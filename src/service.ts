import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { Config } from './config/config-schema.js';
import type { VendorQueueSettings } from './vendors/vendor-settings.js';
import { CONNECTORS, registerConnector } from './connectors/registry.js';
import type { VendorConnector } from './connectors/connector.js';
import { registerSandboxPlugin, sandboxPluginFor, type VendorSandboxPlugin } from './sandbox/sandbox-plugins.js';
import { createLogger, type Logger } from './logger.js';
import type { Database } from './ledger/database.js';
import type { Ledger } from './ledger/ledger.js';
import { makeDataDirPrivate } from './stores/private-data-dir.js';
import type { QueueSet } from './infrastructure/queue-set.js';
import type { VendorBreaker } from './infrastructure/vendor-breaker.js';
import type { WorkerPool } from './workers/start-workers.js';
import {
  createBulkEnqueuer,
  createRequestEnqueuer,
  type BulkEnqueuer,
  type RequestEnqueuer,
} from './planner/request-enqueuer.js';
import { createApiApp } from './api/create-api-app.js';
import { RETIRED_VENDOR_ANSWERS, startSandbox, type Sandbox, type SandboxOptions } from './sandbox/sandbox.js';
import { connectSharedSandbox, type SharedSandbox } from './sandbox/shared-sandbox.js';
import type { SimulatedVendors } from './sandbox/simulated-vendors.js';
import { REAL_TIME, type VendorClock } from './vendors/vendor-clock.js';
import type { VendorClients } from './connectors/processor-contract.js';
import { ProjectDeletionLedger } from './ledger/project-deletion-ledger.js';
import { ScopeDeletionLedger } from './ledger/scope-deletion-ledger.js';
import type { CallbackOutbox } from './callbacks/callback-outbox.js';
import type { VendorCallStats } from './metrics/vendor-call-stats.js';
import { runPreflight } from './preflight/vendor-preflight.js';
import { runCanaries, type CanaryCarry } from './preflight/canary.js';
import { ScopeSightingLedger } from './ledger/scope-sightings.js';
import { VendorHealthMonitor } from './preflight/vendor-health-monitor.js';
import type { VendorName } from './vendors/vendor-name.js';
import {
  addVendorClients,
  errorNameOf,
  openIntake,
  openStores,
  redisUrlOf,
  serveApi,
  startWorkerRole,
  type ServiceStores,
} from './service-steps.js';

/** Keys and tokens made once per data dir (src/service-steps.ts); `erasure sandbox` makes its admin token with it. */
export { readOrCreateSecret } from './service-steps.js';

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
    for (const close of closers.splice(0).reverse())
      await close().catch((err: unknown) => logger.error('error while stopping', { errorName: errorNameOf(err) }));
  };

  try {
    const simulated = await startVendorSimulators(config, options, logger, closers);
    const { sandbox, sharedSandbox } = simulated;
    config = simulated.config;

    const redisUrl = await redisUrlOf(config, closers);

    const stores = await openStores(config, redisUrl, logger, closers);
    const { db, projectDeletions, scopeDeletions, queues, breaker, callbackOutbox, ledger, vendorCalls, callBudget } =
      stores;
    // Requests beyond what their queues may hold ready wait in the ledger (src/workers/due-work-scheduler.ts).
    const enqueueDeps = { ledger, queues, readyJobsPerQueue: config.jobs.admission.readyJobsPerQueue };
    const enqueue = createRequestEnqueuer(enqueueDeps);
    const enqueueMany = createBulkEnqueuer(enqueueDeps);

    // Scopes seen to exist, so an app seen before that answers 404 is scope_gone, not a config error (src/ledger/scope-sightings.ts).
    const clients: VendorClients = { scopeSightings: new ScopeSightingLedger(db) };
    // Simulated vendors keep the sandbox's time, which tests move and demos speed up.
    const simulators: SimulatedVendors | undefined = sandbox ?? sharedSandbox;
    const vendorClock = simulators ? () => simulators.clock.now() : REAL_TIME;
    const jobs = addVendorClients(
      config,
      clients,
      { calls: vendorCalls, clock: vendorClock, budget: callBudget },
      closers,
    );

    const workers = await startWorkerRole(
      roles.workers,
      { config, redisUrl, stores, clients, jobs, enqueue, enqueueMany, logger },
      closers,
      graceLeft,
    );

    const { url, vendorHealth, adminToken } = await startApiRole(
      roles.api,
      {
        config,
        stores,
        enqueue,
        enqueueMany,
        clients,
        vendorClock,
        simulators,
        sandbox,
        logger,
        onCanaryFailed: options.onCanaryFailed,
      },
      closers,
      () => shutdownDeadline,
    );

    return {
      config,
      url,
      adminToken,
      logger,
      ledger,
      projectDeletions,
      scopeDeletions,
      queues,
      db,
      callbacks: callbackOutbox,
      vendorCalls,
      workers,
      sandbox,
      sharedSandbox,
      redisUrl,
      vendorHealth,
      breaker,
      close: closeAll,
    };
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
export function registerVendor<S extends VendorQueueSettings, C>(
  connector: VendorConnector<S, C>,
  sandboxPlugin?: VendorSandboxPlugin<S>,
): () => void {
  if (sandboxPlugin && sandboxPlugin.vendor !== connector.vendor)
    throw new Error(`sandbox wiring for ${sandboxPlugin.vendor} given with the ${connector.vendor} connector`);
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
    if (!token)
      throw new Error('ERASURE_SANDBOX_URL needs the admin token the sandbox runs with: set ERASURE_ADMIN_TOKEN');
    const shared = await connectSharedSandbox({
      url: config.sandbox.url,
      token,
      onRefreshError: (err) => logger.warn('shared sandbox clock not refreshed', { errorName: err.name }),
    });
    sharedSandbox = shared;
    closers.push(() => {
      shared.close();
      return Promise.resolve();
    });
    config = withSandboxVendors(config, shared);
  } else if (config.sandboxMode) {
    // `sandbox.retiredVendors`: the answers of Pinpoint past its end of support and of a retired App Center (issue 17).
    const retired = config.sandbox.retiredVendors ? RETIRED_VENDOR_ANSWERS : {};
    const started = await startSandbox({
      subjects: config.sandbox.subjects,
      clockSpeed: config.sandbox.clockSpeed,
      faults: config.sandbox.faults,
      ...retired,
      ...options.sandbox,
    });
    sandbox = started;
    closers.push(() => started.close());
    config = withSandboxVendors(config, started);
  }
  return { config, sandbox, sharedSandbox };
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
    canaries: () =>
      runCanaries({
        vendors: vendorSettings,
        clients,
        enabled: config.preflight.canaries,
        carry: canaryCarry,
        waitForVendor: simulators ? (ms) => sleepMs(Math.max(20, ms / simulators.clock.describe().speed)) : undefined,
      }),
    logger,
    atBoot: config.preflight.atBoot,
    intervalMs: config.preflight.intervalMs,
    canaryEveryMs: config.preflight.canaries.length ? config.preflight.canaryEveryMs : 0,
    // A failed or drifted canary opens the vendor's breaker (its queue pauses until an operator
    // resumes it) and alerts through the breaker's webhook; tests may listen too.
    onCanaryFailed: async (vendor, reason) => {
      await breaker
        .trip(vendor, 'canary', `canary failed: ${reason}`)
        .catch((err: unknown) => logger.warn('circuit breaker unavailable', { errorName: errorNameOf(err) }));
      deps.onCanaryFailed?.(vendor, reason);
    },
  });
  monitor.start();
  closers.push(() => {
    monitor.stop();
    return Promise.resolve();
  });
  return monitor;
}

/** The API role: credentials, intake, the OpenDSR router, vendor health, the HTTP app and server. Off: only the admin token, as configured. */
async function startApiRole(
  on: boolean,
  deps: {
    config: Config;
    stores: ServiceStores;
    enqueue: RequestEnqueuer;
    enqueueMany: BulkEnqueuer;
    clients: VendorClients;
    vendorClock: VendorClock;
    simulators: SimulatedVendors | undefined;
    sandbox: Sandbox | undefined;
    logger: Logger;
    onCanaryFailed: StartServiceOptions['onCanaryFailed'];
  },
  closers: Array<() => Promise<void>>,
  shutdownDeadline: () => number,
): Promise<{ url?: string; vendorHealth?: VendorHealthMonitor; adminToken?: string }> {
  if (!on) return { adminToken: deps.config.adminToken };
  const { config, stores, enqueue, enqueueMany, clients, vendorClock, simulators, sandbox, logger } = deps;
  const { ledger, queues, signer, projectDeletions, scopeDeletions, vendorCalls, deadlineRisk, breaker } = stores;
  const { verify, sessions, gate, intakeLimiter, adminToken, intake, opendsrRouter, self } = openIntake({
    config,
    stores,
    enqueue,
    enqueueMany,
    logger,
  });
  const vendorHealth = startVendorHealth(
    { config, clients, vendorClock, simulators, breaker, logger, onCanaryFailed: deps.onCanaryFailed },
    closers,
  );
  const app = createApiApp({
    config,
    ledger,
    intake,
    queues,
    verify,
    gate,
    intakeLimiter,
    sessions,
    logger,
    clients,
    signer,
    sandboxRouter: sandbox?.controlRouter(),
    opendsrRouter,
    projectDeletions,
    scopeDeletions,
    vendorCalls,
    deadlineRisk,
    vendorHealth,
    breaker,
  });
  const url = await serveApi(app, { config, stores, logger, self }, closers, shutdownDeadline);
  return { url, vendorHealth, adminToken };
}
