import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

/** A private `redis-server` child process (DESIGN.md: the default when REDIS_URL is unset). */
export interface EmbeddedRedis {
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
      server.close(() => resolve(port));
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

/** Starts redis-server with AOF and `noeviction` (BullMQ's requirement) and waits until it accepts connections. */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  if (!redisServerInstalled()) throw new RedisNotInstalledError();
  mkdirSync(options.dataDir, { recursive: true });
  const port = options.port ?? (await freePort());
  const child = spawn(
    'redis-server',
    [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', options.dataDir,
      '--appendonly', options.appendOnly === false ? 'no' : 'yes',
      '--appendfsync', 'everysec',
      '--save', '',
      '--maxmemory-policy', 'noeviction',
      '--protected-mode', 'yes',
      '--pidfile', path.join(options.dataDir, 'redis.pid'),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForReady(child);
  // Never leave an orphan redis-server behind, even on an abrupt exit of this process.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', killOnExit);
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function waitForReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within 10 s:\n${output.slice(-2000)}`)), 10_000);
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
