import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../support/test-service.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const GRACE_MS = 2000;

/**
 * Issue 25 §2: SIGTERM ends the process within the grace period plus 5 s, even with an idle
 * keep-alive connection, a request in flight and a job in flight (a vendor that takes a minute).
 */
describe('SIGTERM with connections and work in flight', function () {
  this.timeout(90_000);
  let child: ChildProcess;
  let output = '';
  let url: string;
  let token: string;
  const dataDir = makeTestTempDir('erasure-sigterm-');

  before(async () => {
    const configFile = path.join(dataDir, 'erasure.json');
    // Pinpoint answers after a minute: the job started below is still running at SIGTERM.
    writeFileSync(
      configFile,
      JSON.stringify({
        server: { shutdownGraceMs: GRACE_MS, keepAliveTimeoutMs: 60_000 },
        sandbox: { subjects: 20, faults: { pinpoint: { latencyMs: 60_000 } } },
      }),
    );
    child = spawn(process.execPath, [path.join(ROOT, 'bin/erasure.mjs'), 'start'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: '0',
        ERASURE_DATA_DIR: dataDir,
        ERASURE_CONFIG: configFile,
        LOG_LEVEL: 'warn',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await waitFor(async () => /API {10}(http:\/\/[\d.]+:\d+)\/v1\/requests/.exec(output)?.[1], 60_000);
    token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  });
  after(() => child?.kill('SIGKILL'));

  it('exits within the grace period plus 5 s, closing an idle keep-alive connection and one mid-request', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${url}/v1/requests`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ subject: { userId: 'user-3' }, vendors: ['pinpoint'] }),
    });
    expect(submitted.status).to.equal(202);
    const { id } = (await submitted.json()) as { id: string };
    // Work in flight: the Pinpoint task is running (its vendor call waits a minute).
    await waitFor(async () => {
      const status = (await (await fetch(`${url}/v1/requests/${id}`, { headers })).json()) as {
        tasks: Array<{ state: string }>;
      };
      return status.tasks.some((t) => t.state === 'running');
    }, 30_000);

    const { port, hostname } = new URL(url);
    const open = (): { socket: net.Socket; closed: Promise<void>; received: () => string } => {
      const socket = net.connect(Number(port), hostname);
      let received = '';
      socket.on('data', (chunk) => (received += chunk.toString()));
      socket.on('error', () => undefined);
      return {
        socket,
        closed: new Promise((resolve) =>
          socket.once('close', () => {
            resolve();
          }),
        ),
        received: () => received,
      };
    };
    // An idle keep-alive connection: one answered request, then nothing.
    const idle = open();
    idle.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`);
    await waitFor(async () => idle.received().includes('"status":"ok"'), 10_000, 20);
    // A request in flight: headers and part of a body, never finished.
    const busy = open();
    busy.socket.write(
      `POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{"subject":`,
    );

    const started = Date.now();
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => {
        resolve({ code, signal });
      }),
    );
    child.kill('SIGTERM');
    const bound = new Promise<'still running'>((resolve) =>
      setTimeout(
        () => {
          resolve('still running');
        },
        GRACE_MS + 5000 + 2000,
      ).unref(),
    );
    const result = await Promise.race([exited, bound]);
    const tookMs = Date.now() - started;
    expect(result, output.slice(-2000)).to.not.equal('still running');
    expect(tookMs, 'exit within the grace period plus 5 s').to.be.below(GRACE_MS + 5000);
    expect((result as { signal: NodeJS.Signals | null }).signal, 'it ended by itself, not by a signal').to.equal(null);
    // Both connections were closed by the server, not left hanging.
    await Promise.all([idle.closed, busy.closed]);
  });
});
