import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startEmbeddedRedis } from '../src/stores/embedded-redis.js';
import { freshPostgresDatabase, testPostgresUrl } from '../test/support/postgres.js';
import { stopSharedServices } from '../test/support/services.js';
import { makeTestTempDir, removeTestTempDir } from '../test/support/temp-dirs.js';
import { round, type BenchSize, type Scenario, type ScenarioResult } from './scenario.js';
import { scanScenario } from './scan-scenario.js';
import { pipelineScenario } from './pipeline-scenario.js';
import { vendorLimitsScenario } from './vendor-limits-scenario.js';
import { amortisationScenario } from './amortisation-scenario.js';
import { intakeScenario } from './intake-scenario.js';
import { latencyScenario } from './latency-scenario.js';
import { scaleOutScenario } from './scale-out-scenario.js';

/**
 * `npm run bench [-- --json] [--only NAME[,NAME]] [--size smoke|full] [--profile]`: runs each scenario
 * against its baseline in the same run and prints a table (or one JSON object keyed by scenario).
 */
const SCENARIOS: Scenario[] = [
  scanScenario,
  pipelineScenario,
  vendorLimitsScenario,
  amortisationScenario,
  intakeScenario,
  latencyScenario,
  scaleOutScenario,
];

const USAGE = `usage: npm run bench -- [--json] [--only ${SCENARIOS.map((s) => s.name).join('|')}[,...]] [--size smoke|full] [--profile]`;

function parseArgs(argv: string[]): { json: boolean; only: Scenario[]; size: BenchSize; profile: boolean } {
  let json = false;
  let profile = false;
  let size: BenchSize = 'full';
  let only = SCENARIOS;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const v = arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : argv[++i];
      if (!v) throw new Error(`${arg} needs a value\n${USAGE}`);
      return v;
    };
    if (arg === '--json') json = true;
    else if (arg === '--profile') profile = true;
    else if (arg === '--only' || arg.startsWith('--only=')) {
      const names = value().split(',');
      const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
      if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
      only = SCENARIOS.filter((s) => names.includes(s.name));
    } else if (arg === '--size' || arg.startsWith('--size=')) {
      const v = value();
      if (v !== 'smoke' && v !== 'full') throw new Error(`--size is smoke or full\n${USAGE}`);
      size = v;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${arg}\n${USAGE}`);
  }
  return { json, only, size, profile };
}

/** Which ledger the services ran on: Postgres when initdb is installed, else PGlite. */
let ledger = 'pglite';

function table(results: Record<string, ScenarioResult>, size: BenchSize): string {
  const lines = [
    `erasure bench (${size}) on ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${round(os.totalmem() / 2 ** 30, 0)} GB, Node ${process.version}, ledger ${ledger}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    '| scenario | measured | baseline (same run) | ratio | target | met | s |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const [name, r] of Object.entries(results)) {
    const cells = [
      name,
      r.headline.measured,
      r.headline.baseline,
      r.ratio,
      r.target,
      r.met ? 'yes' : '**no**',
      r.seconds,
    ].map((c) => String(c).replaceAll('|', '\\|'));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  lines.push('', 'Every figure: `npm run bench -- --json`.');
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { json, only, size, profile } = parseArgs(process.argv.slice(2));
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  const cacheDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '.cache');
  const redisDir = makeTestTempDir('erasure-bench-redis-');
  const redis = await startEmbeddedRedis({ dataDir: redisDir });
  const results: Record<string, ScenarioResult> = {};
  // The ledger as deployed (Postgres) when initdb is installed; PGlite otherwise, and the table says which.
  const postgres = await testPostgresUrl();
  ledger = postgres ? 'postgres' : 'pglite';
  try {
    // One context for the whole run: scenarios that share a measurement (vendor_limits, amortisation) key it on the context.
    const context = { size, cacheDir, redisUrl: redis.url, freshDatabase: freshPostgresDatabase, profile, log };
    for (const scenario of only) {
      log(`${scenario.name}: ${scenario.summary}`);
      const started = performance.now();
      const result = await scenario.run(context);
      results[scenario.name] = { ...result, seconds: round((performance.now() - started) / 1000, 1) };
    }
  } finally {
    await stopSharedServices();
    await redis.stop();
    removeTestTempDir(redisDir);
  }
  process.stdout.write(json ? `${JSON.stringify(results, null, 2)}\n` : `${table(results, size)}\n`);
}

// Ctrl-C would end the bench without 'exit' listeners: exit instead, so its servers stop and its temp
// dirs go (test/support/temp-dirs.ts).
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => process.exit(code));

main().catch((err: Error) => {
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
});
