import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PinpointClient, GetUserEndpointsCommand, NotFoundException } from '@aws-sdk/client-pinpoint';
import { waitFor } from '../support/test-service.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

describe('`erasure start` (what `npm start` runs) on an empty data directory', () => {
  let child: ChildProcess;
  let output = '';
  let url: string;
  let token: string;
  const dataDir = makeTestTempDir('erasure-start-');

  before(async function () {
    this.timeout(60_000);
    child = spawn(process.execPath, [path.join(ROOT, 'bin/erasure.mjs'), 'start'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        PORT: '0',
        ERASURE_DATA_DIR: dataDir,
        SANDBOX_SUBJECTS: '50',
        LOG_LEVEL: 'warn',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    url = await waitFor(async () => /API {10}(http:\/\/[\d.]+:\d+)\/v1\/requests/.exec(output)?.[1], 45_000);
    token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
  });
  after(() => child?.kill('SIGKILL'));

  it('says it is in sandbox mode and where the URLs and the admin token are', () => {
    expect(output).to.include('SANDBOX MODE');
    // Issue 17: the demo world is the one before the vendors' end of support, and the banner says so.
    expect(output).to.include('Pinpoint and App Center are simulated as before their end of support');
    expect(output).to.include('/admin/queues');
    expect(output).to.include(`in ${path.relative(ROOT, path.join(dataDir, 'admin-token'))}`);
  });

  it('erases user-7 from the simulated Pinpoint within seconds, and leaves user-8 alone', async () => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${url}/v1/requests`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ subject: { userId: 'user-7' }, vendors: ['pinpoint'] }),
    });
    expect(submitted.status).to.equal(202);
    const { id } = (await submitted.json()) as { id: string };
    const done = await waitFor(async () => {
      const status = (await (await fetch(`${url}/v1/requests/${id}`, { headers })).json()) as {
        status: string;
        tasks: Array<{ state: string; evidence: { endpointsDeleted: number } }>;
      };
      return status.status === 'completed' ? status : undefined;
    }, 10_000);
    expect(done.tasks[0].state).to.equal('succeeded');
    expect(done.tasks[0].evidence.endpointsDeleted).to.equal(2);

    // Issue 25 §9: the sandbox controls (simulator credentials among them) need the admin token.
    expect((await fetch(`${url}/sandbox`)).status).to.equal(401);
    const sandbox = (await (await fetch(`${url}/sandbox`, { headers })).json()) as {
      vendors: Record<string, { baseUrl: string; credentials: Record<string, string>; appIds?: string[] }>;
    };
    expect(Object.keys(sandbox.vendors)).to.include.members(['pinpoint', 's3', 'appcenter', 'segment', 'amplitude']);
    const pinpoint = sandbox.vendors.pinpoint;
    const sdk = new PinpointClient({
      endpoint: pinpoint.baseUrl,
      region: pinpoint.credentials.region,
      credentials: {
        accessKeyId: pinpoint.credentials.accessKeyId,
        secretAccessKey: pinpoint.credentials.secretAccessKey,
      },
      maxAttempts: 1,
    });
    const appId = pinpoint.appIds![0];
    expect(
      await sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-7' })).catch((e: unknown) => e),
    ).to.be.instanceOf(NotFoundException);
    const neighbour = await sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-8' }));
    expect(neighbour.EndpointsResponse?.Item).to.have.length(2);
    sdk.destroy();
    const stats = (await (await fetch(`${url}/sandbox/stats`, { headers })).json()) as Record<
      string,
      { operations: Record<string, { calls: number }> }
    >;
    expect(stats.pinpoint.operations.DeleteUserEndpoints.calls).to.equal(1);
  });

  it('stops cleanly on SIGTERM, taking its own redis-server with it', async function () {
    this.timeout(30_000);
    const redisPid = Number(readFileSync(path.join(dataDir, 'redis', 'redis.pid'), 'utf8'));
    expect(processAlive(redisPid), 'the embedded redis-server runs while the service does').to.equal(true);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => {
        resolve(code);
      }),
    );
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
    await waitFor(async () => !processAlive(redisPid), 5000);
  });
});

describe('`npm start` stopped by a SIGTERM to npm alone (what a supervisor sends)', () => {
  const dataDir = makeTestTempDir('erasure-npm-start-');
  // No boot preflight: its vendor calls (GetApp) would land in the second start's counts, not in the first's.
  const configFile = path.join(dataDir, 'erasure.yaml');
  writeFileSync(configFile, 'preflight:\n  atBoot: false\n');
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    PORT: '0',
    ERASURE_DATA_DIR: dataDir,
    ERASURE_CONFIG: configFile,
    SANDBOX_SUBJECTS: '50',
    LOG_LEVEL: 'warn',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ERASURE_NO_INSTALL: '1',
  };
  const children: ChildProcess[] = [];
  // Each start runs in its own process group, so whatever a failed stop left running goes too.
  after(() => {
    children.forEach((c) => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    });
  });

  /** Starts `command` in ROOT and resolves with the child, its output so far, and the API's base URL once printed. */
  async function start(command: string, args: string[]) {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(child);
    const seen = { output: '' };
    child.stdout.on('data', (chunk: Buffer) => (seen.output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (seen.output += chunk.toString()));
    const url = await waitFor(async () => /API {10}(http:\/\/[\d.]+:\d+)\/v1\/requests/.exec(seen.output)?.[1], 45_000);
    return { child, seen, url };
  }

  it('stops the service and its redis-server, and the vendor calls it made are all counted in /metrics afterwards', async function () {
    this.timeout(120_000);
    const npm = await start('npm', ['start', '--silent']);
    const token = readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim();
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const submitted = await fetch(`${npm.url}/v1/requests`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ subject: { userId: 'user-7' }, vendors: ['pinpoint'] }),
    });
    expect(submitted.status).to.equal(202);
    const { id } = (await submitted.json()) as { id: string };
    await waitFor(
      async () =>
        ((await (await fetch(`${npm.url}/v1/requests/${id}`, { headers })).json()) as { status: string }).status ===
        'completed',
      10_000,
    );
    const served = (
      (await (await fetch(`${npm.url}/sandbox/stats`, { headers })).json()) as Record<
        string,
        { total: { calls: number } }
      >
    ).pinpoint.total.calls;
    expect(served).to.be.at.least(2);

    const redisPid = Number(readFileSync(path.join(dataDir, 'redis', 'redis.pid'), 'utf8'));
    const exited = new Promise<void>((resolve) =>
      npm.child.once('exit', () => {
        resolve();
      }),
    );
    npm.child.kill('SIGTERM');
    await exited;
    // Nothing of the service is left serving: npm ran it in its own place (exec) and waited for it.
    await waitFor(async () => !processAlive(redisPid), 15_000);
    expect(
      await fetch(`${npm.url}/healthz`).then(
        () => 'answered',
        () => 'refused',
      ),
    ).to.equal('refused');
    expect(npm.seen.output).to.include('SIGTERM: finishing running jobs and stopping');

    // The counts live in the embedded Redis (AOF, in the data dir): a new start reads them back.
    const again = await start(process.execPath, [path.join(ROOT, 'bin/erasure.mjs'), 'start']);
    const metrics = await (await fetch(`${again.url}/metrics`)).text();
    const pinpointCalls = [...metrics.matchAll(/^erasure_vendor_calls_total\{([^}]*)\} (\d+)$/gm)]
      .filter((m) => m[1].includes('vendor="pinpoint"'))
      .reduce((n, m) => n + Number(m[2]), 0);
    expect(pinpointCalls, 'every Pinpoint call the sandbox served before the stop').to.equal(served);
    again.child.kill('SIGTERM');
  });
});
