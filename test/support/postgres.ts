import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { freePort } from '../../src/stores/embedded-redis.js';
import { onSuiteEnd } from './services.js';
import { makeTestTempDir, removeTestTempDir, stopBeforeRemoving } from './temp-dirs.js';

const execFileAsync = promisify(execFile);

let shared: Promise<string | undefined> | undefined;
/** How to run pg_ctl on the shared server, once it is up. */
let pgCtlOn: ((action: string[]) => Promise<void>) | undefined;

function pgBin(name: string): string | undefined {
  // The places scripts/ensure-ready.mjs looks: PATH, Debian's versioned directory, Homebrew's keg-only postgresql@N.
  const dirs = ['/usr/lib/postgresql/*/bin', '/usr/local/opt/postgresql@*/bin', '/opt/homebrew/opt/postgresql@*/bin'];
  const found = spawnSync(
    'sh',
    ['-c', `command -v ${name} || ls ${dirs.map((d) => `${d}/${name}`).join(' ')} 2>/dev/null | tail -1`],
    { encoding: 'utf8' },
  );
  const bin = found.stdout.trim().split('\n').pop();
  return bin ? bin : undefined;
}

/** The skip reason (test/support/skip.ts) of a suite that needs a Postgres server on a machine without one. */
export const NO_POSTGRES = 'no Postgres server (initdb and pg_ctl not found; npm test installs postgresql)';

/**
 * A throw-away Postgres server for the run, when initdb and pg_ctl are installed (npm test's
 * scripts/ensure-ready.mjs installs them); undefined otherwise. Returns its connection URL.
 */
export function testPostgresUrl(): Promise<string | undefined> {
  shared ??= (async () => {
    const initdb = pgBin('initdb');
    const pgCtl = pgBin('pg_ctl');
    if (!initdb || !pgCtl) return undefined;
    const dir = makeTestTempDir('erasure-test-pg-');
    const port = await freePort();
    const asUser = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
    if (asUser.length) spawnSync('chown', ['-R', 'postgres', dir]);
    const exec = (args: string[]) => {
      const [cmd, ...rest] = [...asUser, ...args];
      return spawnSync(cmd, rest, { encoding: 'utf8' });
    };
    const run = (args: string[]) => {
      const result = exec(args);
      if (result.status !== 0) throw new Error(`${args[0]} failed: ${result.stderr || result.stdout}`);
    };
    // The server outlives this process unless stopped: first stop it, then remove its data.
    const stop = () => exec([pgCtl, '-D', path.join(dir, 'data'), '-m', 'immediate', 'stop']);
    stopBeforeRemoving(dir, stop);
    run([initdb, '-D', path.join(dir, 'data'), '-U', 'erasure', '--auth=trust', '-E', 'UTF8']);
    run([
      pgCtl,
      '-D',
      path.join(dir, 'data'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
      '-l',
      path.join(dir, 'log'),
      '-w',
      'start',
    ]);
    // Asynchronous, so the processes under test keep running while the server stops and starts.
    pgCtlOn = async (action) => {
      const [cmd, ...rest] = [
        ...asUser,
        pgCtl,
        '-D',
        path.join(dir, 'data'),
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`,
        '-l',
        path.join(dir, 'log'),
        '-w',
        ...action,
      ];
      await execFileAsync(cmd, rest);
    };
    // Only at the end of the run: restartTestPostgres keeps the data dir.
    onSuiteEnd(async () => {
      stop();
      removeTestTempDir(dir);
    });
    return `postgres://erasure@127.0.0.1:${port}/postgres`;
  })();
  return shared;
}

let databases = 0;

/** A new, empty database on the shared test server (undefined when no server could be started). */
export async function freshPostgresDatabase(): Promise<string | undefined> {
  const url = await testPostgresUrl();
  if (!url) return undefined;
  const { default: pg } = await import('pg');
  const name = `erasure_${process.pid}_${++databases}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  return url.replace(/\/postgres$/, `/${name}`);
}

/**
 * Stops the shared test server (fast shutdown: open connections are cut), runs `whileDown`, and
 * starts it again on the same port and data; resolves once it accepts connections again.
 */
export async function restartTestPostgres(whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  if (!(await testPostgresUrl()) || !pgCtlOn) throw new Error('no test Postgres server to restart');
  await pgCtlOn(['-m', 'fast', 'stop']);
  try {
    await whileDown();
  } finally {
    await pgCtlOn(['start']);
  }
}
