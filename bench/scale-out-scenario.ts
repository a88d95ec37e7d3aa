import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { QUEUE_DEFINITIONS } from '../queues/registry.js';
import { FINAL_REQUEST_STATUSES } from '../src/ledger/ledger-types.js';
import { startSandbox } from '../src/sandbox/sandbox.js';
import { serveSandbox } from '../src/sandbox/sandbox-server.js';
import { startRoleProcess, type RoleProcess } from '../test/support/role-process.js';
import { makeTestTempDir, removeTestTempDir } from '../test/support/temp-dirs.js';
import { freshBenchPrefix, userIdRequests } from './bench-service.js';
import { round, type BenchSize, type Figure, type Scenario, type ScenarioContext } from './scenario.js';

/**
 * Pinpoint acts per request (three calls each); S3 purges share one scan per location and batch
 * window (Invariant 7), so S3 calls per request show whether batches shrink as workers grow (issue 23 §6).
 */
const VENDORS = ['pinpoint', 's3'];
const SIZES: Record<BenchSize, { requests: number; workers: number[] }> = {
  full: { requests: 200, workers: [1, 2, 4] },
  smoke: { requests: 20, workers: [1, 2, 4] },
};
const RATE_TARGET = 0.9;
const CALLS_TOLERANCE = 0.1;
/** The sandbox's demo speed (config default). */
const CLOCK_SPEED = 20_000;
const ROLE_READY = {
  api: /API {10}(http:\/\/[\d.]+:\d+)\/v1\/requests/,
  worker: /worker running on queues/,
};

interface RunFigures {
  processes: number;
  requests: number;
  completed: number;
  lost: number;
  seconds: number;
  requests_per_s: number;
  vendor_calls: number;
  calls_per_request: number;
  s3_calls_per_request: number;
  pinpoint_calls_per_request: number;
  throttled_429: number;
}

/**
 * One measured run on a fresh shared sandbox (the same seed, so the same people with the same data),
 * a fresh Postgres database and queue prefix on the bench's Redis: `roles` started as OS processes
 * (`erasure start`, or `erasure api` and `erasure worker`s) with ERASURE_SANDBOX_URL. Everything is
 * submitted with the queues paused, then timed from resume to the last final status in the ledger.
 */
async function measure(
  context: ScenarioContext,
  label: string,
  roles: Array<'start' | 'api' | 'worker'>,
  n: number,
): Promise<RunFigures> {
  const databaseUrl = await context.freshDatabase();
  // Split roles share one ledger, which only a Postgres server allows (PGlite is one process's).
  if (!databaseUrl)
    throw new Error('scale_out needs a Postgres server (initdb and pg_ctl), as split roles share one ledger');
  const token = randomBytes(24).toString('hex');
  const dataDir = makeTestTempDir('erasure-bench-scale-out-');
  const sandbox = await startSandbox({ subjects: n, clockSpeed: CLOCK_SPEED });
  const server = await serveSandbox(sandbox, { port: 0, host: '127.0.0.1', adminToken: token });
  const prefix = freshBenchPrefix('scale-out');
  // The URL carries the embedded Redis's password.
  const connection = new Redis(context.redisUrl, { maxRetriesPerRequest: null });
  const queues = QUEUE_DEFINITIONS.map((d) => new Queue(d.name, { connection, prefix }));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  const processes: RoleProcess[] = [];
  try {
    const configFile = path.join(dataDir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        redisUrl: context.redisUrl,
        databaseUrl,
        queuePrefix: prefix,
        port: 0,
        dataDir: path.join(dataDir, 'roles'),
        logLevel: 'warn',
        logFile: path.join(context.cacheDir, 'bench.log'),
        intake: { maxBulk: 1000, bodyLimitBytes: 8 * 1024 * 1024 },
        // The boot preflight's vendor calls are not the work under measure.
        preflight: { atBoot: false },
      }),
    );
    const env = {
      ERASURE_SANDBOX_URL: server.url,
      ERASURE_CONFIG: configFile,
      ERASURE_ADMIN_TOKEN: token,
      ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
    };
    // Paused before any process starts, so no worker takes a job before the clock starts.
    await Promise.all(queues.map((q) => q.pause()));
    const start = (role: (typeof roles)[number]) =>
      startRoleProcess([role], env, role === 'worker' ? ROLE_READY.worker : ROLE_READY.api, 120_000);
    // The first role migrates the fresh database alone: processes that migrate an empty database at the
    // same moment can collide in Postgres's catalog (seen here: duplicate key in pg_type_typname_nsp_index).
    processes.push(await start(roles[0]));
    // Settled one by one, so that a role that fails to start leaves none of the others running.
    const starting = await Promise.allSettled(roles.slice(1).map(start));
    for (const s of starting) if (s.status === 'fulfilled') processes.push(s.value);
    const failed = starting.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const started = processes;
    const apiUrl = started[0].ready[1];
    const bodies = userIdRequests(n, VENDORS);
    const res = await fetch(`${apiUrl}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ requests: bodies }),
    });
    const accepted = ((await res.json()) as { summary?: { accepted: number } }).summary?.accepted;
    if (res.status !== 202 || accepted !== n)
      throw new Error(`scale_out ${label}: bulk intake answered ${res.status}, ${accepted ?? 0} of ${n} accepted`);
    sandbox.stats.reset();

    const startedAt = performance.now();
    await Promise.all(queues.map((q) => q.resume()));
    const deadline = Date.now() + Math.max(120_000, n * 500);
    let final = 0;
    for (;;) {
      const { rows } = await pool.query<{ status: string; n: number }>(
        'SELECT status, count(*)::int AS n FROM requests GROUP BY status',
      );
      final = rows
        .filter((r) => (FINAL_REQUEST_STATUSES as readonly string[]).includes(r.status))
        .reduce((k, r) => k + r.n, 0);
      if (final >= n || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const { rows: completedRows } = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM requests WHERE status = 'completed'`,
    );
    const stats = sandbox.stats.snapshot();
    const calls = (vendor?: string) =>
      Object.entries(stats)
        .filter(([v]) => !vendor || v === vendor)
        .reduce((k, [, s]) => k + s.total.calls, 0);
    const throttled = Object.values(stats).reduce((k, s) => k + s.total.throttled, 0);
    const figures: RunFigures = {
      processes: roles.length,
      requests: n,
      completed: completedRows[0].n,
      lost: n - final,
      seconds: round(seconds, 2),
      requests_per_s: round(final / seconds, 1),
      vendor_calls: calls(),
      calls_per_request: round(calls() / n),
      s3_calls_per_request: round(calls('s3') / n),
      pinpoint_calls_per_request: round(calls('pinpoint') / n),
      throttled_429: throttled,
    };
    context.log(
      `scale_out ${label}: ${figures.requests_per_s} requests/s, ${figures.calls_per_request} vendor calls per request (S3 ${figures.s3_calls_per_request}), ${figures.lost} lost`,
    );
    return figures;
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    await pool.end();
    await server.close();
    await sandbox.close();
    removeTestTempDir(dataDir);
  }
}

/**
 * `scale_out`: 1 api + N workers (N = 1, 2, 4) as OS processes on one shared sandbox, Redis and
 * Postgres, against `erasure start` (all-in-one) on the same requests: requests/s and vendor calls
 * per request (the sandbox's counts) for each. Ratio: the N = 2 rate over the one-process rate.
 */
export const scaleOutScenario: Scenario = {
  name: 'scale_out',
  summary:
    '1 api + N workers (N = 1, 2, 4) as processes on the shared sandbox vs one `erasure start`, same requests: requests/s and vendor calls per request',
  async run(context) {
    const { requests: n, workers } = SIZES[context.size];
    const loadBefore = os.loadavg()[0];
    const one = await measure(context, 'all-in-one', ['start'], n);
    const byWorkers = new Map<number, RunFigures>();
    for (const count of workers)
      byWorkers.set(
        count,
        await measure(context, `1 api + ${count} worker(s)`, ['api', ...Array<'worker'>(count).fill('worker')], n),
      );
    const loadAfter = os.loadavg()[0];

    const two = byWorkers.get(2)!;
    const ratio = two.requests_per_s / one.requests_per_s;
    const callsWithin: Record<string, Figure> = {};
    const ratioByWorkers: Record<string, Figure> = {};
    for (const [count, run] of byWorkers) {
      callsWithin[String(count)] =
        Math.abs(run.calls_per_request - one.calls_per_request) <= CALLS_TOLERANCE * one.calls_per_request;
      ratioByWorkers[String(count)] = round(run.requests_per_s / one.requests_per_s);
    }
    const lost = one.lost + [...byWorkers.values()].reduce((k, r) => k + r.lost, 0);
    const measured: Record<string, Figure | Record<string, Figure>> = {
      requests: n,
      vendors: VENDORS.join(','),
      cpus: os.cpus().length,
      load_average_1m: { before: round(loadBefore, 2), after: round(loadAfter, 2) },
    };
    for (const [count, run] of byWorkers) measured[`workers_${count}`] = { ...run };
    measured.ratio_by_workers = ratioByWorkers;
    measured.calls_within_10pct = callsWithin;
    measured.lost = lost;
    const met = ratio >= RATE_TARGET && Object.values(callsWithin).every(Boolean) && lost === 0;
    return {
      measured,
      baseline: { all_in_one: { ...one } },
      ratio: round(ratio),
      headline: {
        measured: `${[...byWorkers].map(([count, r]) => `N=${count}: ${r.requests_per_s} requests/s, ${r.calls_per_request} calls/request`).join('; ')} (${n} requests, load ${round(loadBefore, 1)}→${round(loadAfter, 1)})`,
        baseline: `all-in-one: ${one.requests_per_s} requests/s, ${one.calls_per_request} calls/request`,
      },
      target: `ratio (N=2 rate / one-process rate) >= ${RATE_TARGET}, vendor calls per request within ${CALLS_TOLERANCE * 100} % of one process for every N, 0 lost`,
      met,
    };
  },
};
