import { startWorkerProcess } from './worker-process.js';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type Service } from '../../src/service.js';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { FINAL_REQUEST_STATUSES, type RequestRecord } from '../../src/ledger/ledger-types.js';
import { freshPrefix, testRedis } from './redis.js';
import { freshPostgresDatabase } from './postgres.js';
import { SUITE_LOG_FILE } from './suite-log.js';
import { waitFor } from './test-service.js';
import { pumpClock } from './aws-sandbox.js';
import { makeTestTempDir, removeTestTempDir } from './temp-dirs.js';

/**
 * An API (with the `requests` worker) in this process and the vendor workers in child processes
 * that a test can SIGKILL mid-job and start again, on the same Redis and Postgres ledger, against
 * a sandbox that outlives them. Explicit vendor settings (not sandbox mode) point at the sandbox.
 */
export interface CrashRig {
  sandbox: Sandbox;
  service: Service;
  /** A connection of the test's own to the ledger, to watch batches. */
  db: Database;
  batches: BatchLedger;
  startWorker(): Promise<ChildProcess>;
  /** SIGKILLs every worker process started so far. */
  killWorkers(): void;
  submit(body: unknown): Promise<string>;
  /** Resolves with the request once it has reached a final status (read from the ledger). */
  finished(requestId: string, timeoutMs?: number): Promise<RequestRecord>;
  close(): Promise<void>;
}

export interface CrashRigOptions {
  subjects: number;
  sandbox?: SandboxOptions;
  /** `vendors` of the config file, given the sandbox. */
  vendors(sandbox: Sandbox): Record<string, unknown>;
  /** Queues the child workers run. */
  queues: string[];
}

/** Settings for Pinpoint (with the address scan) and S3 pointing at `sandbox`, with test-sized batches. */
export function sandboxVendorSettings(
  sandbox: Sandbox,
  extra: { pinpoint?: Record<string, unknown>; s3?: Record<string, unknown> } = {},
): Record<string, unknown> {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  const credentials = { accessKeyId, secretAccessKey };
  return {
    pinpoint: {
      region,
      endpoint: sandbox.vendors.pinpoint.baseUrl,
      credentials,
      appIds: [sandbox.pinpoint.appId],
      addressScan: {
        bucket: sandbox.s3.buckets.exports,
        roleArn: 'arn:aws:iam::123456789012:role/erasure-pinpoint-export',
        s3: { region, endpoint: sandbox.vendors.s3.baseUrl, credentials, forcePathStyle: true },
      },
      batchWindowMs: 300,
      pollIntervalMs: 100,
      ...(extra.pinpoint ?? {}),
    },
    s3: {
      region,
      endpoint: sandbox.vendors.s3.baseUrl,
      credentials,
      forcePathStyle: true,
      locations: [
        { bucket: sandbox.s3.buckets.imports, prefix: 'segments/' },
        { bucket: sandbox.s3.buckets.imports, prefix: 'archive/' },
        { bucket: sandbox.s3.buckets.legacyExports, prefix: 'pinpoint-export/' },
      ],
      batchWindowMs: 300,
      ...(extra.s3 ?? {}),
    },
  };
}

/** Undefined when no Postgres server is available (several processes share the ledger, which PGlite cannot do). */
export async function startCrashRig(options: CrashRigOptions): Promise<CrashRig | undefined> {
  const databaseUrl = await freshPostgresDatabase();
  if (!databaseUrl) return undefined;
  const sandbox = await startSandbox({ subjects: options.subjects, ...options.sandbox });
  const stopClock = pumpClock(sandbox);
  const redis = await testRedis();
  const file = {
    redisUrl: redis.url,
    databaseUrl,
    queuePrefix: freshPrefix(),
    port: 0,
    dataDir: makeTestTempDir('erasure-crash-rig-'),
    logFile: SUITE_LOG_FILE,
    jobs: { attempts: 3, backoffMs: 100, lockDurationMs: 2000, stalledIntervalMs: 1000 },
    reconciler: { everyMs: 60_000, staleAfterMs: 60_000 },
    // No boot preflight: its vendor calls are not what this test measures (test/support/test-service.ts).
    preflight: { atBoot: false },
    vendors: options.vendors(sandbox),
  };
  const configPath = path.join(file.dataDir, 'erasure.json');
  writeFileSync(configPath, JSON.stringify(file));
  const env = {
    ERASURE_CONFIG: configPath,
    ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ERASURE_RECEIPT_SIGNING_KEY: randomBytes(32).toString('hex'),
    ERASURE_ADMIN_TOKEN: randomBytes(24).toString('hex'),
  };
  const service = await startService(loadConfig({ env }), { roles: { api: true, workers: ['requests'] }, quiet: true });
  const db = await openDatabase({ databaseUrl, pgliteDir: path.join(file.dataDir, 'unused') });
  const children: ChildProcess[] = [];

  async function startWorker(): Promise<ChildProcess> {
    const child = await startWorkerProcess(env, options.queues.join(','));
    children.push(child);
    return child;
  }

  return {
    sandbox,
    service,
    db,
    batches: new BatchLedger(db),
    startWorker,
    killWorkers() {
      for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    async submit(body) {
      const res = await fetch(`${service.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.ERASURE_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
      return ((await res.json()) as { id: string }).id;
    },
    async finished(requestId, timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const request = await service.ledger.requests.getRequest(requestId);
          return request && FINAL_REQUEST_STATUSES.includes(request.status) ? request : undefined;
        },
        timeoutMs,
        100,
      );
    },
    async close() {
      // The workers read their config from the data dir: it goes once they are gone.
      const exited = children
        .filter((child) => child.exitCode === null && child.signalCode === null)
        .map((child) => new Promise((resolve) => child.once('exit', resolve)));
      for (const child of children) child.kill('SIGKILL');
      stopClock();
      await db.close();
      await service.close();
      await sandbox.close();
      await Promise.all(exited);
      removeTestTempDir(file.dataDir);
    },
  };
}
