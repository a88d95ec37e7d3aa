import { expect } from 'chai';
import { chmodSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startTestService, type TestService } from '../support/test-service.js';
import { startEmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

/** Every file and directory under `dir`, with its permission bits. */
function modes(dir: string): Array<{ file: string; mode: number; directory: boolean }> {
  const found: Array<{ file: string; mode: number; directory: boolean }> = [];
  const walk = (d: string) => {
    found.push({ file: d, mode: lstatSync(d).mode & 0o777, directory: true });
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) found.push({ file: full, mode: lstatSync(full).mode & 0o777, directory: false });
    }
  };
  walk(dir);
  return found;
}

describe('Data at rest is private (issue 25 §4)', function () {
  this.timeout(60_000);
  let service: TestService;
  let dataDir: string;
  let leftover: string;

  before(async () => {
    dataDir = makeTestTempDir('erasure-modes-');
    // A file an earlier version left world-readable is tightened at boot.
    leftover = path.join(dataDir, 'encryption-key');
    writeFileSync(leftover, `${Buffer.alloc(32, 7).toString('base64')}\n`);
    chmodSync(leftover, 0o644);
    // No redisUrl: the service starts its own redis-server in the data dir; the log file lives there too.
    service = await startTestService({
      file: { dataDir, redisUrl: undefined, logFile: path.join(dataDir, 'logs', 'erasure.log') },
    });
    const submitted = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-3' }, vendors: ['pinpoint'] },
    });
    expect(submitted.status).to.equal(202);
    await service.waitForRequest(submitted.body.id);
  });
  after(async () => service?.close());

  it('keeps the data dir and every directory in it 0700, and every file 0600: PGlite, Redis AOF, secrets, certificates, logs', () => {
    const all = modes(dataDir);
    const files = all.filter((f) => !f.directory).map((f) => path.relative(dataDir, f.file));
    // What the service wrote there: the ledger, Redis' AOF, the generated secrets and certificate, the log.
    expect(files.some((f) => f.startsWith('pg/'))).to.equal(true);
    expect(files.some((f) => f.startsWith('redis/appendonlydir/'))).to.equal(true);
    expect(files).to.include.members(['encryption-key', 'admin-token', 'redis/requirepass', 'logs/erasure.log']);
    expect(files.some((f) => f.startsWith('opendsr/'))).to.equal(true);
    const loose = all
      .filter((f) => f.mode !== (f.directory ? 0o700 : 0o600))
      .map((f) => `${path.relative(dataDir, f.file) || '.'} ${f.mode.toString(8)}`);
    expect(loose).to.deep.equal([]);
    expect(lstatSync(leftover).mode & 0o777).to.equal(0o600);
  });

  it('runs the embedded Redis with a generated password, on 127.0.0.1 only', async () => {
    const url = new URL(service.redisUrl);
    expect(url.hostname).to.equal('127.0.0.1');
    expect(url.password).to.have.length.greaterThan(30);
    // A local process without the password: a raw RESP command, answered with NOAUTH.
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), '127.0.0.1', () => socket.write('GET x\r\n'));
      socket.once('data', (chunk) => {
        resolve(chunk.toString());
        socket.destroy();
      });
      socket.once('error', reject);
    });
    expect(reply).to.match(/^-NOAUTH/);
    const owner = new Redis(service.redisUrl);
    try {
      expect(await owner.config('GET', 'bind')).to.deep.equal(['bind', '127.0.0.1']);
    } finally {
      owner.disconnect();
    }
  });

  it('keeps the embedded Redis password across restarts on the same dir', async () => {
    const dir = makeTestTempDir('erasure-redis-pass-');
    const first = await startEmbeddedRedis({ dataDir: dir, appendOnly: false });
    await first.stop();
    const second = await startEmbeddedRedis({ dataDir: dir, appendOnly: false });
    await second.stop();
    expect(new URL(second.url).password).to.equal(new URL(first.url).password);
  });
});
