import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A private `redis-server` child process (README "Quick start": the default when REDIS_URL is unset). */
export interface EmbeddedRedis {
  /** `redis://:<requirepass>@127.0.0.1:<port>`: the password rides in the URL, never on a command line. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export class RedisNotInstalledError extends Error {
  constructor() {
    super(
      [
        'redis-server was not found on PATH. Erasure starts its own Redis when REDIS_URL is unset. Install it with one of:',
        '  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y redis-server',
        '  macOS:          brew install redis',
        '  or run everything with Docker:  docker compose up',
        'or point REDIS_URL at a Redis 7 server (noeviction, AOF on).',
      ].join('\n'),
    );
    this.name = 'RedisNotInstalledError';
  }
}

export function redisServerInstalled(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A free loopback TCP port, found by binding port 0. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export interface EmbeddedRedisOptions {
  /** Where the AOF lives; the same dir on the next start replays it. */
  dataDir: string;
  port?: number;
  /** AOF persistence. @defaultValue true */
  appendOnly?: boolean;
}

/**
 * The embedded Redis' password (issue 25 §4): generated once into `<dataDir>/requirepass` (0600) so a
 * restart on the same dir keeps it; handed to redis-server in a 0600 config file, because a
 * command-line `--requirepass` would show in `ps` to every local user.
 */
function readOrCreatePassword(dataDir: string): string {
  const file = path.join(dataDir, 'requirepass');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const password = randomBytes(24).toString('hex');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  return password;
}

/** Starts redis-server with AOF, `noeviction` (BullMQ's requirement) and a password, on 127.0.0.1 only, and waits until it accepts connections. */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  if (!redisServerInstalled()) throw new RedisNotInstalledError();
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(options.dataDir, 0o700);
  const password = readOrCreatePassword(options.dataDir);
  const configFile = path.join(options.dataDir, 'redis.conf');
  writeFileSync(configFile, `requirepass ${password}\n`, { mode: 0o600 });
  chmodSync(configFile, 0o600);
  const port = options.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    [
      configFile,
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      options.dataDir,
      '--appendonly',
      options.appendOnly === false ? 'no' : 'yes',
      '--appendfsync',
      'everysec',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
      '--protected-mode',
      'yes',
      '--pidfile',
      path.join(options.dataDir, 'redis.pid'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForReady(child);
  // Never leave an orphan redis-server behind, even on an abrupt exit of this process; before the
  // other exit listeners, so one that removes the data dir (a test's temp dir) finds it stopped.
  const killOnExit = () => child.kill('SIGKILL');
  process.prependOnceListener('exit', killOnExit);
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', killOnExit);
        if (child.exitCode !== null) {
          resolve();
          return;
        }
        child.once('exit', () => {
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      reject(new Error(`redis-server did not start within 10 s:\n${output.slice(-2000)}`));
    }, 10_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${code}:\n${output.slice(-2000)}`));
    });
  });
}
