import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { manualWorkSettings } from '../manual-work/manual-work-settings.js';
import path from 'node:path';
import Joi from 'joi';
import YAML from 'yaml';
import { configFileSchema, type Config } from './config-schema.js';
import { withQueueDefaults } from '../connectors/registry.js';
import { AT_RISK_DEFAULTS } from '../deadlines/at-risk.js';

/** Every problem found in the configuration, listed at once so one fix-and-restart is enough. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The environment variables the service reads (README "Configuration"); nothing else reads process.env. */
export const ENV_VARS = [
  'PORT',
  'HOST',
  'REDIS_URL',
  'DATABASE_URL',
  'ERASURE_ADMIN_TOKEN',
  'ERASURE_ENCRYPTION_KEY',
  'ERASURE_PREVIOUS_ENCRYPTION_KEYS',
  'ERASURE_RECEIPT_SIGNING_KEY',
  'ERASURE_CONFIG',
  'ERASURE_DATA_DIR',
  'SANDBOX_SUBJECTS',
  'LOG_LEVEL',
  'ERASURE_SANDBOX_URL',
] as const;

/** One rule per name in ENV_VARS: the Record type keeps the list and the schema in step. */
const envRules: Record<(typeof ENV_VARS)[number], Joi.Schema> = {
  PORT: Joi.number().port(),
  HOST: Joi.string().hostname(),
  REDIS_URL: Joi.string().uri({ scheme: ['redis', 'rediss'] }),
  DATABASE_URL: Joi.string().uri({ scheme: ['postgres', 'postgresql'] }),
  ERASURE_ADMIN_TOKEN: Joi.string().min(16).max(512),
  ERASURE_ENCRYPTION_KEY: Joi.string().custom((value: string) => {
    decodeKey(value);
    return value;
  }, '32-byte key'),
  ERASURE_PREVIOUS_ENCRYPTION_KEYS: Joi.string().custom((value: string) => {
    value.split(',').forEach((k) => decodeKey(k));
    return value;
  }, 'comma-separated 32-byte keys'),
  ERASURE_RECEIPT_SIGNING_KEY: Joi.string().custom((value: string) => {
    decodeKey(value);
    return value;
  }, '32-byte key'),
  ERASURE_CONFIG: Joi.string(),
  ERASURE_DATA_DIR: Joi.string(),
  SANDBOX_SUBJECTS: Joi.number().integer().min(0).max(1_000_000),
  LOG_LEVEL: Joi.string().valid('error', 'warn', 'info', 'debug'),
  ERASURE_SANDBOX_URL: Joi.string().uri({ scheme: ['http', 'https'] }),
};
const envSchema = Joi.object(envRules)
  .messages({ 'any.custom': '{{#label}} must be 32 bytes, as 64 hex characters or base64' })
  .unknown(true);

/** Decodes a 32-byte key given as 64 hex characters or base64. */
export function decodeKey(value: string): Buffer {
  const trimmed = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new Error('key must be 32 bytes');
  return key;
}

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  /** A config object used instead of reading ERASURE_CONFIG (tests). */
  file?: unknown;
  cwd?: string;
}

/** The config file's content: the one given (tests), the file ERASURE_CONFIG names, or nothing. Faults go to `problems`. */
function readConfigFile(options: LoadConfigOptions, configFile: unknown, cwd: string, problems: string[]): unknown {
  if (options.file !== undefined) return options.file;
  if (typeof configFile !== 'string') return {};
  const configPath = path.resolve(cwd, configFile);
  const yaml = /\.ya?ml$/i.test(configPath);
  let text: string | undefined;
  try {
    text = readFileSync(configPath, 'utf8');
  } catch (err) {
    problems.push(`ERASURE_CONFIG ${configPath} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (text === undefined) return {};
  try {
    const parsed: unknown = yaml ? YAML.parse(text) : JSON.parse(text);
    return parsed ?? {};
  } catch (err) {
    // Parser messages quote the file around the fault, which may be a secret: give the position only.
    const position = (err as { linePos?: Array<{ line: number; col: number }> }).linePos?.[0];
    const offset = /position \d+/.exec((err as Error).message)?.[0];
    const where = position ? ` at line ${position.line}, column ${position.col}` : offset ? ` at ${offset}` : '';
    problems.push(`ERASURE_CONFIG ${configPath} is not valid ${yaml ? 'YAML' : 'JSON'}${where}`);
    return {};
  }
}

/** The environment's values, as envSchema converted them. */
type EnvValues = Record<string, string | number | undefined>;
/** The config file's values, as configFileSchema converted them. */
type FileValues = Partial<Config> & { sandbox?: Partial<Config['sandbox']>; jobs?: Partial<Config['jobs']> };

/** The environment and the config file, each validated; throws ConfigError listing every problem of both. */
function validatedSources(options: LoadConfigOptions, cwd: string): { e: EnvValues; f: FileValues } {
  const env = options.env ?? process.env;
  const problems: string[] = [];

  const envResult = envSchema.validate(env, { abortEarly: false, convert: true });
  for (const d of envResult.error?.details ?? []) problems.push(`environment ${d.message.replace(/"/g, '')}`);
  const e = (envResult.value ?? {}) as EnvValues;

  const file = readConfigFile(options, e.ERASURE_CONFIG, cwd, problems);
  const fileResult = configFileSchema().validate(file, { abortEarly: false, convert: true });
  for (const d of fileResult.error?.details ?? []) problems.push(`config file: ${d.message.replace(/"/g, '')}`);
  if (problems.length) throw new ConfigError(problems);
  return { e, f: fileResult.value as FileValues };
}

/** Checks settings that are valid alone but not together (or not as PEM); returns the ones they yield. */
function checkedCombinations(
  e: EnvValues,
  f: FileValues,
  sandboxMode: boolean,
): { previousPublicKeys: string[]; sandboxUrl: string | undefined } {
  // The certificate URL in signed discovery comes only from configuration, never from a Host header (issue 25 §9).
  if (!sandboxMode && f.opendsr?.keyFile && !f.opendsr.publicUrl)
    throw new ConfigError([
      'config file: opendsr.publicUrl is required outside sandbox mode (the certificate URL in signed discovery)',
    ]);
  const previousPublicKeys = (f as { receipts?: { previousPublicKeys?: string[] } }).receipts?.previousPublicKeys ?? [];
  for (const [i, pem] of previousPublicKeys.entries()) {
    try {
      createPublicKey(pem);
    } catch {
      throw new ConfigError([`config file: receipts.previousPublicKeys[${i}] is not a PEM public key`]);
    }
  }
  // A shared sandbox (`erasure sandbox`) gives every vendor's settings; configured vendors beside it would be ambiguous.
  const sandboxUrl = (e.ERASURE_SANDBOX_URL as string | undefined) ?? f.sandbox?.url;
  if (sandboxUrl && !sandboxMode)
    throw new ConfigError([
      'ERASURE_SANDBOX_URL (sandbox.url) takes every vendor from the shared sandbox: remove vendors from the config file, or unset it',
    ]);
  return { previousPublicKeys, sandboxUrl };
}

/** Parses and validates the environment and the config file once, at boot. Throws ConfigError listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const { e, f } = validatedSources(options, cwd);

  const vendors = withQueueDefaults(f.vendors ?? {});
  const sandboxMode = Object.keys(vendors).length === 0;
  const { previousPublicKeys, sandboxUrl } = checkedCombinations(e, f, sandboxMode);

  const dataDir = path.resolve(cwd, String(e.ERASURE_DATA_DIR ?? f.dataDir ?? '.data'));
  return {
    port: Number(e.PORT ?? f.port ?? 3000),
    host: String(e.HOST ?? f.host ?? '127.0.0.1'),
    dataDir,
    redisUrl: (e.REDIS_URL as string | undefined) ?? f.redisUrl,
    databaseUrl: (e.DATABASE_URL as string | undefined) ?? f.databaseUrl,
    queuePrefix: f.queuePrefix ?? 'erasure',
    adminToken: e.ERASURE_ADMIN_TOKEN as string | undefined,
    encryptionKey: e.ERASURE_ENCRYPTION_KEY as string | undefined,
    previousEncryptionKeys:
      typeof e.ERASURE_PREVIOUS_ENCRYPTION_KEYS === 'string'
        ? e.ERASURE_PREVIOUS_ENCRYPTION_KEYS.split(',').map((k) => k.trim())
        : [],
    tokens: f.tokens ?? [],
    receiptSigningKey: e.ERASURE_RECEIPT_SIGNING_KEY as string | undefined,
    receipts: { previousPublicKeys },
    trustProxy: f.trustProxy ?? false,
    publicUrl: f.publicUrl,
    server: {
      headersTimeoutMs: 20_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      maxConnections: 1000,
      shutdownGraceMs: 10_000,
      ...(f.server ?? {}),
    },
    logLevel: (e.LOG_LEVEL as Config['logLevel'] | undefined) ?? f.logLevel ?? 'info',
    logFile: f.logFile,
    sandboxMode,
    sandbox: sandboxSettings(e, f, sandboxUrl),
    intake: { maxBulk: 1000, bodyLimitBytes: 1024 * 1024, ...(f.intake ?? {}) },
    deadlines: {
      gdprDays: 30,
      ccpaDays: 45,
      ...(f.deadlines ?? {}),
      atRisk: { ...AT_RISK_DEFAULTS, ...(f.deadlines?.atRisk ?? {}) },
    },
    jobs: jobsSettings(f),
    reconciler: { everyMs: 30_000, staleAfterMs: 120_000, ...(f.reconciler ?? {}) },
    breaker: { consecutiveFailures: 10, probeAfterMs: 60_000, ...(f.breaker ?? {}) },
    callbacks: {
      allowPrivateNetworks: false,
      allowedHosts: [],
      attempts: 12,
      backoffMs: 5000,
      timeoutMs: 10_000,
      ...(f.callbacks ?? {}),
    },
    opendsr: f.opendsr,
    retention: { identityDays: 30, ...(f.retention ?? {}) },
    projectDeletion: { gracePeriodDays: 5, ...(f.projectDeletion ?? {}) },
    preflight: { atBoot: true, intervalMs: 900_000, canaries: [], canaryEveryMs: 3_600_000, ...(f.preflight ?? {}) },
    manualWork: manualWorkSettings(f.manualWork),
    vendors,
  };
}

/** The simulators' settings (README "Configuration"), defaults filled in. */
function sandboxSettings(e: EnvValues, f: FileValues, sandboxUrl: string | undefined): Config['sandbox'] {
  return {
    ...(sandboxUrl ? { url: sandboxUrl } : {}),
    subjects: Number(e.SANDBOX_SUBJECTS ?? f.sandbox?.subjects ?? 1000),
    clockSpeed: f.sandbox?.clockSpeed ?? 20_000,
    faults: f.sandbox?.faults ?? {},
    vendorOverrides: f.sandbox?.vendorOverrides ?? {},
    retiredVendors: f.sandbox?.retiredVendors ?? false,
  };
}

/** BullMQ job settings (attempts, locks, retention, admission), defaults filled in. */
function jobsSettings(f: FileValues): Config['jobs'] {
  return {
    attempts: f.jobs?.attempts ?? 5,
    backoffMs: f.jobs?.backoffMs ?? 1000,
    lockDurationMs: f.jobs?.lockDurationMs ?? 30_000,
    stalledIntervalMs: f.jobs?.stalledIntervalMs ?? 30_000,
    retention: {
      completedAgeSeconds: 7 * 24 * 3600,
      completedCount: 10_000,
      failedAgeSeconds: 30 * 24 * 3600,
      failedCount: 50_000,
      ...(f.jobs?.retention ?? {}),
    },
    admission: { readyJobsPerQueue: 1000, everyMs: 250, ...(f.jobs?.admission ?? {}) },
  };
}
