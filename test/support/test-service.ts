import { QueueEvents } from 'bullmq';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config-schema.js';
import { startService, type Service, type StartServiceOptions } from '../../src/service.js';
import { parentJobId } from '../../src/planner/build-flow.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { freshPrefix, testRedis } from './redis.js';
import { freshPostgresDatabase } from './postgres.js';
import { SUITE_LOG_FILE } from './suite-log.js';
import { makeTestTempDir, removeTestTempDir } from './temp-dirs.js';

export type TestDatabase = 'pglite' | 'postgres';

export interface TestServiceOptions extends StartServiceOptions {
  /** Deep-merged over the test defaults (a config file's shape). */
  file?: Record<string, unknown>;
  database?: TestDatabase;
  subjects?: number;
}

/** A running service for one test: its own queue prefix, data dir and ledger, the shared Redis. */
export interface TestService extends Service {
  url: string;
  adminToken: string;
  /** Resolves when the request's flow parent has run (its outcome is then in the ledger). */
  waitForRequest(requestId: string, timeoutMs?: number): Promise<void>;
  api(
    pathname: string,
    init?: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> },
  ): Promise<{ status: number; body: any; headers: Headers }>;
}

export async function testConfig(options: TestServiceOptions = {}): Promise<Config> {
  return (await testConfigAndDir(options)).config;
}

/** The config, and the data dir made for it unless options.file names one (its owner removes it). */
async function testConfigAndDir(options: TestServiceOptions): Promise<{ config: Config; madeDataDir?: string }> {
  const redis = await testRedis();
  const databaseUrl = options.database === 'postgres' ? await freshPostgresDatabase() : undefined;
  if (options.database === 'postgres' && !databaseUrl)
    throw new Error('no Postgres server for this test (initdb/pg_ctl missing)');
  const madeDataDir = options.file && 'dataDir' in options.file ? undefined : makeTestTempDir('erasure-test-data-');
  const file = {
    port: 0,
    dataDir: madeDataDir,
    redisUrl: redis.url,
    ...(databaseUrl ? { databaseUrl } : {}),
    queuePrefix: freshPrefix(),
    logFile: SUITE_LOG_FILE,
    logLevel: 'debug',
    sandbox: { subjects: options.subjects ?? 30, clockSpeed: 1 },
    jobs: { attempts: 3, backoffMs: 100, lockDurationMs: 5000, stalledIntervalMs: 2000 },
    reconciler: { everyMs: 60_000, staleAfterMs: 60_000 },
    // No boot preflight: its vendor calls would change the call counts and limits tests measure.
    preflight: { atBoot: false },
    ...options.file,
  };
  return { config: loadConfig({ env: {}, file }), madeDataDir };
}

export async function startTestService(options: TestServiceOptions = {}): Promise<TestService> {
  const { config, madeDataDir } = await testConfigAndDir(options);
  const service = await startService(config, { quiet: true, ...options });
  const events = new QueueEvents('requests', {
    connection: redisConnection(service.redisUrl, true),
    prefix: config.queuePrefix,
  });
  // It reconnects by itself; without a listener BullMQ prints every connection error (tests that stop Redis).
  events.on('error', () => undefined);
  await events.waitUntilReady();
  const url = service.url!;
  const adminToken = service.adminToken!;
  return {
    ...service,
    url,
    adminToken,
    async waitForRequest(requestId, timeoutMs = 20_000) {
      const job = await service.queues.queue('requests').getJob(parentJobId(requestId));
      if (!job) throw new Error(`no parent job for request ${requestId}`);
      await job.waitUntilFinished(events, timeoutMs);
    },
    async api(pathname, init = {}) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${init.token ?? adminToken}`,
        ...(init.headers ?? {}),
      };
      let body: string | undefined;
      if (init.body !== undefined) {
        headers['content-type'] ??= 'application/json';
        body = typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
      }
      const res = await fetch(`${url}${pathname}`, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (an HTML page); keep the text
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await events.close();
      await service.close();
      // Nobody starts a second service on a dir made here (a test that restarts passes its own).
      if (madeDataDir) removeTestTempDir(madeDataDir);
    },
  };
}

/** Polls `check` until it returns a truthy value: only for state outside this process (another process, a vendor). */
export async function waitFor<T>(
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
