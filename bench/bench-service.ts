import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../src/config/load-config.js';
import { startService, type Service, type StartServiceOptions } from '../src/service.js';
import { FINAL_REQUEST_STATUSES } from '../src/ledger/ledger-types.js';
import type { ScenarioContext } from './scenario.js';
import { makeTestTempDir, removeTestTempDir } from '../test/support/temp-dirs.js';

/** A service in sandbox mode on the bench's Redis: its own key prefix, data dir (PGlite) and log file. */
export interface BenchService extends Service {
  url: string;
  adminToken: string;
  /** POSTs `bodies` in bulk calls of at most `chunk`; returns how many were accepted. */
  submitBulk(bodies: unknown[], chunk?: number): Promise<number>;
  /** Resolves when `expected` requests are in a final state (polls the ledger: another process's state). */
  waitForFinal(expected: number, timeoutMs: number, everyMs?: number): Promise<Record<string, number>>;
  pauseAll(): Promise<void>;
  resumeAll(): Promise<void>;
}

export function freshBenchPrefix(name: string): string {
  return `bench-${name}-${randomBytes(3).toString('hex')}`;
}

export async function startBenchService(
  options: { context: ScenarioContext; name: string; file?: Record<string, unknown> } & StartServiceOptions,
): Promise<BenchService> {
  const { context } = options;
  const databaseUrl = await context.freshDatabase();
  // Removed by close(), or when the bench process exits if a scenario fails before that (test/support/temp-dirs.ts).
  const dataDir = makeTestTempDir(`erasure-bench-${options.name}-`);
  const config = loadConfig({
    env: {},
    file: {
      port: 0,
      dataDir,
      redisUrl: context.redisUrl,
      ...(databaseUrl ? { databaseUrl } : {}),
      queuePrefix: freshBenchPrefix(options.name),
      logLevel: 'warn',
      logFile: path.join(context.cacheDir, 'bench.log'),
      intake: { maxBulk: 1000, bodyLimitBytes: 8 * 1024 * 1024 },
      // The boot preflight's vendor calls are not the service's work under measure.
      preflight: { atBoot: false },
      ...options.file,
    },
  });
  const service = await startService(config, { quiet: true, ...options });
  const url = service.url!;
  const adminToken = service.adminToken!;
  return {
    ...service,
    url,
    adminToken,
    async submitBulk(bodies, chunk = 1000) {
      let accepted = 0;
      for (let i = 0; i < bodies.length; i += chunk) {
        const res = await fetch(`${url}/v1/requests`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ requests: bodies.slice(i, i + chunk) }),
        });
        const body = (await res.json()) as { summary?: { accepted: number } };
        if (res.status !== 202 || !body.summary)
          throw new Error(`bulk intake answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
        accepted += body.summary.accepted;
      }
      return accepted;
    },
    async waitForFinal(expected, timeoutMs, everyMs = 100) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const { byStatus } = await service.ledger.queries.countRequestsByStatus();
        const final = FINAL_REQUEST_STATUSES.reduce((n, s) => n + (byStatus[s] ?? 0), 0);
        if (final >= expected) return byStatus;
        if (Date.now() > deadline)
          throw new Error(
            `only ${final} of ${expected} requests final after ${timeoutMs} ms: ${JSON.stringify(byStatus)}`,
          );
        await new Promise((resolve) => setTimeout(resolve, everyMs));
      }
    },
    async pauseAll() {
      await Promise.all(service.queues.all().map((q) => q.pause()));
    },
    async resumeAll() {
      await Promise.all(service.queues.all().map((q) => q.resume()));
    },
    async close() {
      await service.close();
      removeTestTempDir(dataDir);
    },
  };
}

/** Bodies for `count` seeded people by user id only (user-0 … user-{count-1}). */
export function userIdRequests(count: number, vendors?: string[]): unknown[] {
  return Array.from({ length: count }, (_, i) => ({
    subject: { userId: `user-${i}` },
    ...(vendors ? { vendors } : {}),
  }));
}
