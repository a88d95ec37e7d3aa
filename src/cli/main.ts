import path from 'node:path';
import type { Config } from '../config/config-schema.js';
import type { ConfigError } from '../config/load-config.js';
import type { Service } from '../service.js';
import { RedisNotInstalledError } from '../stores/embedded-redis.js';
import { clientCommandsHelp, findClientCommand, runClientCommand } from './run-client.js';
import { printable } from '../privacy/printable-text.js';

// The server roles' modules (config schema, BullMQ, AWS SDK, express, the simulators) load only for
// those roles, so the client commands start quickly.
const startService = async (...args: Parameters<typeof import('../service.js').startService>) =>
  (await import('../service.js')).startService(...args);

const USAGE = `usage: erasure <command> [flags]

Service roles (configuration from the environment and ERASURE_CONFIG; see README.md):
  start                      API + workers + dashboards (+ simulated vendors when none is configured)
  api                        the HTTP API and dashboards only
  worker [--queues a,b]      workers only (all queues, or the ones named)
  sandbox                    the vendor simulators only, with /sandbox on PORT
  rekey                      re-seal vault entries sealed with an old key (after a key rotation)

Client commands (talk to the API at --url / $ERASURE_URL with --token / $ERASURE_TOKEN):
${clientCommandsHelp()}

"erasure <command> --help" describes a command. Exit codes: 0 ok, 1 refused or failed,
2 usage error, 3 service unreachable or failing.`;

function queuesArg(argv: string[], ConfigError: new (problems: string[]) => ConfigError): string[] | 'all' {
  const i = argv.indexOf('--queues');
  if (i === -1) return 'all';
  const list = (argv[i + 1] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.length === 0) throw new ConfigError(['--queues needs a comma-separated list, e.g. --queues pinpoint,s3']);
  return list;
}

/**
 * Stops on SIGTERM/SIGINT: `stop` lets requests and jobs in flight finish within `graceMs`
 * (src/service.ts), and whatever still holds the process then is cut off: it exits by grace + 4 s
 * at the latest (issue 25 §2: within the grace period plus 5 s, never needing SIGKILL).
 */
function onShutdown(stop: () => Promise<void>, graceMs = 10_000): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) process.exit(1);
      stopping = true;
      setTimeout(() => {
        process.stderr.write(`${signal}: still stopping ${Math.round(graceMs / 1000) + 4} s later; exiting now\n`);
        process.exit(1);
      }, graceMs + 4000).unref();
      process.stdout.write(`\n${signal}: finishing running jobs and stopping…\n`);
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

function printBanner(service: Service): void {
  const { config, url } = service;
  const tokenFile = path.relative(process.cwd(), path.join(config.dataDir, 'admin-token'));
  const token = config.adminToken ? '$ERASURE_ADMIN_TOKEN' : `$(cat ${tokenFile})`;
  const lines = [
    '',
    config.sandbox.url
      ? `*** SANDBOX MODE: every vendor is simulated by the shared sandbox at ${config.sandbox.url}. No real data is touched. ***`
      : config.sandboxMode
        ? '*** SANDBOX MODE: no vendor is configured, so every vendor is simulated in this process. No real data is touched. ***'
        : 'erasure is running against the configured vendors.',
    `  API          ${url}/v1/requests`,
    `  Bull Board   ${url}/admin/queues   (log in at /admin/login, or send the token as a Bearer header)`,
    `  Health       ${url}/healthz   ${url}/readyz   ${url}/metrics`,
  ];
  if (config.sandbox.url) lines.push(`  Sandbox      ${config.sandbox.url.replace(/\/$/, '')}/sandbox   (shared)`);
  else if (config.sandboxMode) {
    lines.push(`  Sandbox      ${url}/sandbox   ${url}/sandbox/stats   (admin token)`);
    lines.push(
      config.sandbox.retiredVendors
        ? '  Retired      Pinpoint (end of support 2026-10-30) and App Center (retired 2025-03-31) answer as retired: their tasks end scope_gone'
        : '  Retired      Pinpoint and App Center are simulated as before their end of support (2026-10-30, 2025-03-31); sandbox.retiredVendors: true serves the retired answers',
    );
  }
  lines.push(
    `  Admin token  ${config.adminToken ? 'from ERASURE_ADMIN_TOKEN' : `in ${tokenFile}`}`,
    '',
    'Try:',
    `  curl -s -H "Authorization: Bearer ${token}" -H 'Content-Type: application/json' \\`,
    `       -d '{"subject":{"userId":"user-7"},"vendors":["pinpoint"]}' ${url}/v1/requests`,
    '',
  );
  process.stdout.write(lines.join('\n'));
}

/** `erasure sandbox`: the vendor simulators alone, with their control page on PORT. */
async function runSandbox(config: Config): Promise<void> {
  const [{ startSandbox, RETIRED_VENDOR_ANSWERS }, { serveSandbox }, { readOrCreateSecret }, { randomBytes }] =
    await Promise.all([
      import('../sandbox/sandbox.js'),
      import('../sandbox/sandbox-server.js'),
      import('../service.js'),
      import('node:crypto'),
    ]);
  // The api and workers that use these simulators (ERASURE_SANDBOX_URL) read them with this token.
  const tokenFile = path.join(config.dataDir, 'admin-token');
  const adminToken = config.adminToken ?? readOrCreateSecret(tokenFile, () => randomBytes(24).toString('base64url'));
  // On HOST=0.0.0.0 (a container) the simulators listen on every interface too; clients reach them at the sandbox's host.
  const sandbox = await startSandbox({
    subjects: config.sandbox.subjects,
    clockSpeed: config.sandbox.clockSpeed,
    faults: config.sandbox.faults,
    host: config.host,
    ...(config.sandbox.retiredVendors ? RETIRED_VENDOR_ANSWERS : {}),
  });
  const server = await serveSandbox(sandbox, { port: config.port, host: config.host, adminToken });
  onShutdown(async () => {
    await server.close();
    await sandbox.close();
  });
  const url = server.url.replace('//0.0.0.0:', '//127.0.0.1:');
  process.stdout.write(
    [
      `vendor simulators running; control at ${url}/sandbox (admin token ${config.adminToken ? 'from ERASURE_ADMIN_TOKEN' : `in ${path.relative(process.cwd(), tokenFile)}`})`,
      `clock: ${sandbox.clock.describe().speed}x real time`,
      `run the other roles on them with: ERASURE_SANDBOX_URL=${url} erasure api | worker | start`,
      '',
    ].join('\n'),
  );
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0];
  if (!command || command === '--help' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const client = findClientCommand(command);
  if (client) {
    process.exitCode = await runClientCommand(client, argv.slice(1));
    return;
  }
  if (!['start', 'api', 'worker', 'sandbox', 'rekey'].includes(command)) {
    process.stderr.write(`erasure: unknown command "${command}"\n\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const { loadConfig, ConfigError } = await import('../config/load-config.js');
  const config = loadConfig();
  switch (command) {
    case 'start': {
      const service = await startService(config);
      onShutdown(() => service.close(), config.server.shutdownGraceMs);
      printBanner(service);
      return;
    }
    case 'api': {
      const service = await startService(config, { roles: { api: true, workers: [] } });
      onShutdown(() => service.close(), config.server.shutdownGraceMs);
      printBanner(service);
      return;
    }
    case 'worker': {
      const service = await startService(config, { roles: { api: false, workers: queuesArg(argv, ConfigError) } });
      onShutdown(() => service.close(), config.server.shutdownGraceMs);
      process.stdout.write(`worker running on queues: ${service.workers?.workers.map((w) => w.name).join(', ')}\n`);
      return;
    }
    case 'sandbox': {
      await runSandbox(config);
      return;
    }
    case 'rekey': {
      const { rekey } = await import('./rekey.js');
      const { resealed, remaining } = await rekey(config);
      process.stdout.write(
        `re-sealed ${resealed} identifier(s) with the current key; ${remaining} still sealed with an old key\n`,
      );
      if (remaining > 0) process.exitCode = 1;
      return;
    }
    default:
      throw new ConfigError([`unknown command "${command}"`, USAGE]);
  }
}

main(process.argv.slice(2)).catch((caught: unknown) => {
  const err = caught instanceof Error ? caught : new Error(String(caught));
  if (err.name === 'ConfigError' || err instanceof RedisNotInstalledError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(printable(`erasure failed to start: ${err.name}: ${err.message}\n`));
  process.exit(1);
});
