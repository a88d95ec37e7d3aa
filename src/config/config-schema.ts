import Joi from 'joi';
import { manualWorkFileSchema, type ManualWorkSettings } from '../manual-work/manual-work-settings.js';
import { VENDOR_NAMES, type VendorName } from '../vendors/vendor-name.js';
import type { VendorSettingsMap } from '../vendors/vendor-settings.js';
import { vendorSettingsSchema } from '../connectors/registry.js';
import type { AtRiskSettings } from '../deadlines/at-risk.js';

export type { QueueLimit, VendorQueueSettings } from '../vendors/vendor-settings.js';

export interface ApiToken {
  name: string;
  /** SHA-256 hex of the token; tokens themselves are never stored. */
  sha256: string;
  role: Role;
  /**
   * Intake rate limit of this token (issue 25 §2): a token bucket refilled at `perSecond`, holding
   * up to `burst`; a submission finding it empty gets 429 with Retry-After. Unset: no limit.
   */
  rateLimit?: { perSecond: number; burst: number };
}

/**
 * viewer: reads requests and dashboards; submitter: also submits requests (upstream systems);
 * operator: also retries and completes tasks; admin: everything.
 */
export type Role = 'viewer' | 'submitter' | 'operator' | 'admin';

/** The whole configuration, validated once at boot (src/config/load-config.ts). */
export interface Config {
  port: number;
  host: string;
  /** Where embedded Redis, PGlite, generated keys and tokens live. @defaultValue '.data' */
  dataDir: string;
  redisUrl?: string;
  databaseUrl?: string;
  /** Prefix of every BullMQ key. @defaultValue 'erasure' */
  queuePrefix: string;
  adminToken?: string;
  /** 32 bytes, base64 or hex. Generated into dataDir in sandbox mode when unset. */
  encryptionKey?: string;
  /** Earlier keys, oldest first, kept to open entries sealed before a rotation (ERASURE_PREVIOUS_ENCRYPTION_KEYS). */
  previousEncryptionKeys: string[];
  tokens: ApiToken[];
  /**
   * The receipt signing key (ERASURE_RECEIPT_SIGNING_KEY): a 32-byte Ed25519 seed, hex or base64.
   * Generated into dataDir in sandbox mode; required outside it (src/receipts/receipt-signer.ts).
   */
  receiptSigningKey?: string;
  /** Public keys (PEM) of retired receipt signing keys, published beside the current one so old receipts still verify. */
  receipts: { previousPublicKeys: string[] };
  /**
   * Express `trust proxy` (issue 25 §2): false (default) = the socket's address is the client's;
   * true, a hop count or a list of addresses/subnets when a proxy sits in front. It decides the
   * address the failure limiter counts and whether `X-Forwarded-Proto: https` makes cookies Secure.
   */
  trustProxy: boolean | number | string;
  /** The service's public base URL (https → admin cookies are Secure and `__Host-`-prefixed). */
  publicUrl?: string;
  /** HTTP server bounds (src/api/http-server.ts). */
  server: {
    /** @defaultValue 20000 */
    headersTimeoutMs: number;
    /** Whole request, body included. @defaultValue 30000 */
    requestTimeoutMs: number;
    /** @defaultValue 5000 */
    keepAliveTimeoutMs: number;
    /** Open connections at most; more are refused. @defaultValue 1000 */
    maxConnections: number;
    /** On SIGTERM: how long requests in flight may finish before every connection is closed. @defaultValue 10000 */
    shutdownGraceMs: number;
  };
  logLevel: 'error' | 'warn' | 'info' | 'debug';
  /** Also append JSON log lines to this file. */
  logFile?: string;
  /** True when no vendor is configured: the embedded simulators stand in for every vendor. */
  sandboxMode: boolean;
  sandbox: {
    /**
     * A running `erasure sandbox` (ERASURE_SANDBOX_URL): its simulators and clock stand in for every
     * vendor, shared by every process (src/sandbox/shared-sandbox.ts). Unset: each sandbox-mode process
     * starts its own simulators.
     */
    url?: string;
    subjects: number;
    /**
     * Sandbox milliseconds per real millisecond for the simulated vendors' async jobs.
     * @defaultValue 20000 (a ten-day Amplitude batch runs in about a minute; an export in an instant)
     */
    clockSpeed: number;
    /** Faults in force from the start, per vendor (same fields as `PUT /sandbox/faults/:vendor`). */
    faults: Partial<
      Record<
        VendorName,
        { errorRate?: number; badRequestRate?: number; latencyMs?: number; throttleForMs?: number; outage?: boolean }
      >
    >;
    /** Settings merged over each simulated vendor's sandbox settings (tests, demos), e.g. a shorter batch window. */
    vendorOverrides: { [V in keyof VendorSettingsMap]?: Partial<NonNullable<VendorSettingsMap[V]>> };
    /**
     * Serve the retired vendors' answers: Pinpoint past its end of support (403 on every call) and
     * App Center retired (404 on every call). Off by default: the demo world is the one before
     * retirement, and the start banner says so. @defaultValue false
     */
    retiredVendors: boolean;
  };
  intake: { maxBulk: number; bodyLimitBytes: number };
  /** Legal deadlines in days from submission, and when an open request counts as at risk (src/deadlines/at-risk.ts). */
  deadlines: { gdprDays: number; ccpaDays: number; atRisk: AtRiskSettings };
  jobs: {
    attempts: number;
    backoffMs: number;
    /** Milliseconds without lock renewal after which a job counts as stalled. */
    lockDurationMs: number;
    stalledIntervalMs: number;
    retention: { completedAgeSeconds: number; completedCount: number; failedAgeSeconds: number; failedCount: number };
    /**
     * Due work admitted into Redis (src/workers/due-work-scheduler.ts): a request's jobs are added
     * only while each of its vendor queues holds fewer than `readyJobsPerQueue` ready jobs; the
     * others wait in the ledger (`received`) and are admitted every `everyMs` as room frees up.
     */
    admission: { readyJobsPerQueue: number; everyMs: number };
  };
  reconciler: { everyMs: number; staleAfterMs: number };
  /** Per-vendor circuit breakers (src/infrastructure/vendor-breaker.ts). */
  breaker: { consecutiveFailures: number; probeAfterMs: number; webhookUrl?: string };
  /**
   * Days after a request ends before its identifiers are destroyed (crypto-shredding): the vault
   * entry is wiped and only keyed hashes remain. @defaultValue 30
   */
  retention: { identityDays: number };
  /**
   * Deleting a whole project (a Pinpoint app and its configured S3 prefixes; src/api/project-deletions-router.ts):
   * how long a requested deletion waits, cancellable, before it runs. Fractions are allowed
   * (0.5 = 12 hours); a request may lengthen it, never shorten it. @defaultValue 5
   */
  projectDeletion: { gracePeriodDays: number };
  /** Reminders and escalations of manual work (src/manual-work/); absent: none are sent. */
  manualWork?: ManualWorkSettings;
  /** Signed status callbacks (native `callbackUrl`, OpenDSR `status_callback_urls`): src/callbacks/. */
  callbacks: {
    /** Deliver to private, loopback and link-local addresses too (never in production). @defaultValue false */
    allowPrivateNetworks: boolean;
    /** Host names (or IP literals) exempt from the private-address refusal. */
    allowedHosts: string[];
    attempts: number;
    backoffMs: number;
    timeoutMs: number;
  };
  /** OpenDSR 2.0 processor API (src/opendsr/); a development certificate is generated in sandbox mode. */
  opendsr?: {
    processorDomain?: string;
    keyFile?: string;
    certificateFile?: string;
    publicUrl?: string;
    gracePeriodSeconds?: number;
  };
  /**
   * Vendor preflight (src/preflight/): run at boot and every `intervalMs` (0 = at boot and on
   * demand only); canaries (synthetic people erased through the normal jobs) for the vendors in
   * `canaries`, every `canaryEveryMs` (0 = on demand only). `atBoot: false` skips the boot run (the
   * test suite, whose vendor call counts it would change). @defaultValue {atBoot: true, intervalMs: 900000, canaries: [], canaryEveryMs: 3600000}
   */
  preflight: { atBoot: boolean; intervalMs: number; canaries: VendorName[]; canaryEveryMs: number };
  /** Configured vendors; each absent one is simulated in sandbox mode (src/vendors/vendor-settings.ts). */
  vendors: VendorSettingsMap;
}

/** The config file's shape (ERASURE_CONFIG, JSON or YAML). Environment variables win over it. */
/** Each vendor's settings schema with every key optional and no defaults filled in: overrides of sandbox settings. */
function vendorOverridesSchema(vendors: Joi.ObjectSchema): Joi.ObjectSchema {
  return Joi.object(
    Object.fromEntries(
      describedKeys(vendors).map((vendor) => {
        const schema = vendors.extract(vendor) as Joi.ObjectSchema;
        // noDefaults does not stop a nested object's bare `.default()` (App Center's `sweep`, `deviceExport`)
        // from filling in `{}`, which would replace the sandbox's own setting: keep only the keys the file gives.
        const given = (value: Record<string, unknown>, helpers: Joi.CustomHelpers) =>
          Object.fromEntries(Object.entries(value).filter(([key]) => Object.hasOwn(helpers.original as object, key)));
        return [
          vendor,
          schema
            .fork(describedKeys(schema), (key) => key.optional())
            .prefs({ noDefaults: true })
            .custom(given),
        ];
      }),
    ),
  );
}

/** The `sandbox` section: the simulators' size, clock, faults and settings overrides. */
function sandboxFileSchema(vendors: Joi.ObjectSchema): Joi.ObjectSchema {
  return Joi.object({
    url: Joi.string().uri({ scheme: ['http', 'https'] }),
    subjects: Joi.number().integer().min(0).max(1_000_000),
    clockSpeed: Joi.number().min(0.001).max(1e9),
    faults: Joi.object(
      Object.fromEntries(
        VENDOR_NAMES.map((v) => [
          v,
          Joi.object({
            errorRate: Joi.number().min(0).max(1),
            badRequestRate: Joi.number().min(0).max(1),
            latencyMs: Joi.number().integer().min(0).max(600_000),
            throttleForMs: Joi.number().integer().min(0),
            outage: Joi.boolean(),
          }),
        ]),
      ),
    ),
    vendorOverrides: vendorOverridesSchema(vendors),
    retiredVendors: Joi.boolean(),
  });
}

/** The `deadlines` section: statutory days and the at-risk estimate. */
function deadlinesFileSchema(): Joi.ObjectSchema {
  return Joi.object({
    gdprDays: Joi.number().integer().min(1),
    ccpaDays: Joi.number().integer().min(1),
    atRisk: Joi.object({
      windowDays: Joi.number().min(0.001).max(365),
      minSamples: Joi.number().integer().min(1),
      defaultHours: Joi.number().min(0),
      vendorDefaultHours: Joi.object(Object.fromEntries(VENDOR_NAMES.map((v) => [v, Joi.number().min(0)]))),
      cacheMs: Joi.number().integer().min(0),
    }),
  });
}

/** The `jobs` section: attempts, locks, retention and admission of BullMQ jobs. */
function jobsFileSchema(): Joi.ObjectSchema {
  return Joi.object({
    attempts: Joi.number().integer().min(1).max(100),
    backoffMs: Joi.number().integer().min(1),
    lockDurationMs: Joi.number().integer().min(1000),
    stalledIntervalMs: Joi.number().integer().min(1000),
    retention: Joi.object({
      completedAgeSeconds: Joi.number().integer().min(1),
      completedCount: Joi.number().integer().min(1),
      failedAgeSeconds: Joi.number().integer().min(1),
      failedCount: Joi.number().integer().min(1),
    }),
    admission: Joi.object({
      readyJobsPerQueue: Joi.number().integer().min(1),
      everyMs: Joi.number().integer().min(10),
    }),
  });
}

/** API tokens: each a name, the SHA-256 of its secret, a role and an optional rate limit. */
function tokensFileSchema(): Joi.ArraySchema {
  return Joi.array().items(
    Joi.object({
      name: Joi.string().max(64).required(),
      sha256: Joi.string().hex().length(64).required(),
      role: Joi.string().valid('viewer', 'submitter', 'operator', 'admin').required(),
      rateLimit: Joi.object({
        perSecond: Joi.number().min(0.001).max(100_000).required(),
        burst: Joi.number().integer().min(1).max(1_000_000).required(),
      }),
    }),
  );
}

function serverFileSchema(): Joi.ObjectSchema {
  return Joi.object({
    headersTimeoutMs: Joi.number().integer().min(1000).max(600_000),
    requestTimeoutMs: Joi.number().integer().min(1000).max(3_600_000),
    keepAliveTimeoutMs: Joi.number().integer().min(100).max(600_000),
    maxConnections: Joi.number().integer().min(1).max(1_000_000),
    shutdownGraceMs: Joi.number().integer().min(0).max(600_000),
  });
}

function callbacksFileSchema(): Joi.ObjectSchema {
  return Joi.object({
    allowPrivateNetworks: Joi.boolean(),
    allowedHosts: Joi.array().items(Joi.string().max(253)),
    attempts: Joi.number().integer().min(1).max(50),
    backoffMs: Joi.number().integer().min(1),
    timeoutMs: Joi.number().integer().min(100).max(120_000),
  });
}

function opendsrFileSchema(): Joi.ObjectSchema {
  return Joi.object({
    processorDomain: Joi.string().hostname(),
    keyFile: Joi.string(),
    certificateFile: Joi.string(),
    publicUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
    gracePeriodSeconds: Joi.number()
      .integer()
      .min(0)
      .max(90 * 86_400),
  })
    .and('keyFile', 'certificateFile')
    .with('keyFile', 'processorDomain');
}

/** The keys an object schema declares (joi's description is untyped). */
function describedKeys(schema: Joi.ObjectSchema): string[] {
  const keys: unknown = schema.describe().keys;
  return typeof keys === 'object' && keys !== null ? Object.keys(keys) : [];
}

/**
 * The config file's schema. Built when the config is loaded, not at import: `vendors` takes each
 * registered connector's own settings keys (src/connectors/registry.ts), vendors registered at
 * boot included.
 */
export function configFileSchema(vendors = vendorSettingsSchema()): Joi.ObjectSchema {
  return Joi.object({
    port: Joi.number().port(),
    host: Joi.string().hostname(),
    dataDir: Joi.string(),
    redisUrl: Joi.string().uri({ scheme: ['redis', 'rediss'] }),
    databaseUrl: Joi.string().uri({ scheme: ['postgres', 'postgresql'] }),
    queuePrefix: Joi.string()
      .pattern(/^[A-Za-z0-9_{}-]+$/)
      .max(64),
    logLevel: Joi.string().valid('error', 'warn', 'info', 'debug'),
    logFile: Joi.string(),
    tokens: tokensFileSchema(),
    receipts: Joi.object({ previousPublicKeys: Joi.array().items(Joi.string().max(2000)) }),
    trustProxy: Joi.alternatives(Joi.boolean(), Joi.number().integer().min(0).max(10), Joi.string().max(500)),
    publicUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
    server: serverFileSchema(),
    sandbox: sandboxFileSchema(vendors),
    intake: Joi.object({
      maxBulk: Joi.number().integer().min(1).max(100_000),
      bodyLimitBytes: Joi.number()
        .integer()
        .min(1024)
        .max(64 * 1024 * 1024),
    }),
    deadlines: deadlinesFileSchema(),
    jobs: jobsFileSchema(),
    reconciler: Joi.object({
      everyMs: Joi.number().integer().min(1000),
      staleAfterMs: Joi.number().integer().min(1000),
    }),
    breaker: Joi.object({
      consecutiveFailures: Joi.number().integer().min(1).max(1000),
      probeAfterMs: Joi.number().integer().min(100),
      webhookUrl: Joi.string().uri({ scheme: ['http', 'https'] }),
    }),
    retention: Joi.object({ identityDays: Joi.number().integer().min(0).max(3650) }),
    projectDeletion: Joi.object({ gracePeriodDays: Joi.number().min(0).max(365) }),
    manualWork: manualWorkFileSchema,
    callbacks: callbacksFileSchema(),
    opendsr: opendsrFileSchema(),
    preflight: Joi.object({
      atBoot: Joi.boolean(),
      intervalMs: Joi.number().integer().min(0),
      canaries: Joi.array()
        .items(Joi.string().valid(...VENDOR_NAMES))
        .unique(),
      canaryEveryMs: Joi.number().integer().min(0),
    }),
    vendors,
  });
}
