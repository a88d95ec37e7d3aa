import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { seedPerson } from '../../src/sandbox/seed.js';
import { connectSharedSandbox, SharedSandboxError, type SharedSandbox } from '../../src/sandbox/shared-sandbox.js';
import { freshPostgresDatabase } from '../support/postgres.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { waitFor } from '../support/test-service.js';
import { startRoleProcess, type RoleProcess } from '../support/role-process.js';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type Service } from '../../src/service.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { serveSandbox } from '../../src/sandbox/sandbox-server.js';
import type { ListeningServer } from '../../src/sandbox/vendor-http.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const VENDORS = ['amplitude', 'appcenter', 'pinpoint', 's3', 'segment'];
const ALL_QUEUES = 'requests,callbacks,pinpoint,s3,appcenter,segment,amplitude';
const PEOPLE = [3, 4, 5, 6, 7, 8, 9, 10];
/** Left alone: their data must survive everyone else's erasure (Invariant 2). */
const NEIGHBOUR = 11;

interface RequestView {
  status: string;
  tasks: Array<{ vendor: string; state: string; waitingReason?: string | null; evidence?: Record<string, unknown> }>;
}
type Stats = Record<
  string,
  { total: { calls: number; throttled: number; errors: number }; operations: Record<string, { calls: number }> }
>;

describe('Split roles on one shared sandbox (`erasure sandbox` + `erasure api` + two `erasure worker`, separate processes)', () => {
  const processes: RoleProcess[] = [];
  const token = randomBytes(24).toString('hex');
  let sandboxUrl: string;
  let apiUrl: string;

  before(async function () {
    this.timeout(120_000);
    const databaseUrl = await freshPostgresDatabase();
    // The api and the workers share one ledger, which only a Postgres server allows (PGlite is one process's).
    if (!databaseUrl) throw new Error('no Postgres server (initdb/pg_ctl) for this test');
    const redis = await testRedis();
    const dataDir = makeTestTempDir('erasure-shared-sandbox-');
    // The simulators' clock runs 200,000× real time, so an Amplitude job eleven vendor days ahead finishes in seconds,
    // for whoever reads the clock through the sandbox; on real time it would finish in eleven days.
    const sandboxConfig = path.join(dataDir, 'sandbox.json');
    writeFileSync(
      sandboxConfig,
      JSON.stringify({ dataDir: path.join(dataDir, 'sandbox'), sandbox: { clockSpeed: 200_000 } }),
    );
    const sandbox = await startRoleProcess(
      ['sandbox'],
      {
        PORT: '0',
        ERASURE_ADMIN_TOKEN: token,
        ERASURE_CONFIG: sandboxConfig,
        SANDBOX_SUBJECTS: '40',
        LOG_LEVEL: 'warn',
      },
      /control at (http:\/\/[\d.]+:\d+)\/sandbox/,
    );
    processes.push(sandbox);
    sandboxUrl = sandbox.ready[1]!;

    const roleConfig = path.join(dataDir, 'roles.json');
    writeFileSync(
      roleConfig,
      JSON.stringify({
        redisUrl: redis.url,
        databaseUrl,
        queuePrefix: freshPrefix(),
        port: 0,
        dataDir: path.join(dataDir, 'roles'),
        logFile: SUITE_LOG_FILE,
        jobs: { attempts: 5, backoffMs: 200, lockDurationMs: 5000, stalledIntervalMs: 2000 },
        reconciler: { everyMs: 2000, staleAfterMs: 10_000 },
        preflight: { atBoot: false },
      }),
    );
    const env = {
      ERASURE_SANDBOX_URL: sandboxUrl,
      ERASURE_CONFIG: roleConfig,
      ERASURE_ADMIN_TOKEN: token,
      ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      LOG_LEVEL: 'warn',
    };
    const roles = await Promise.all([
      startRoleProcess(['api'], env, /API {10}(http:\/\/[\d.]+:\d+)\/v1\/requests/),
      startRoleProcess(['worker', '--queues', ALL_QUEUES], env, /worker running on queues/),
      startRoleProcess(['worker', '--queues', ALL_QUEUES], env, /worker running on queues/),
    ]);
    processes.push(...roles);
    apiUrl = roles[0].ready[1]!;
  });
  after(async function () {
    this.timeout(60_000);
    await Promise.all(
      processes
        .splice(0)
        .reverse()
        .map((p) => p.stop()),
    );
  });

  const headers = () => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  const sandboxStats = async (): Promise<Stats> =>
    (await (await fetch(`${sandboxUrl}/sandbox/stats`, { headers: headers() })).json()) as Stats;

  it('the api says it runs in sandbox mode on the shared simulators', () => {
    const api = processes[1].output();
    expect(api).to.include(`every vendor is simulated by the shared sandbox at ${sandboxUrl}`);
    expect(api).to.not.include('against the configured vendors');
  });

  it('completes requests to all five vendors, Amplitude included (one clock for all), through the shared simulators only', async function () {
    this.timeout(180_000);
    const ids: string[] = [];
    for (const i of PEOPLE) {
      const { userId, email, installId } = seedPerson(i);
      const res = await fetch(`${apiUrl}/v1/requests`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify({ subject: { userId, email, installId } }),
      });
      expect(res.status, await res.clone().text()).to.equal(202);
      ids.push(((await res.json()) as { id: string }).id);
    }

    const views = await waitFor(
      async () => {
        const all = await Promise.all(
          ids.map(
            async (id) =>
              (await (await fetch(`${apiUrl}/v1/requests/${id}`, { headers: headers() })).json()) as RequestView,
          ),
        );
        return all.every((v) => !['received', 'scheduled', 'in_progress'].includes(v.status)) ? all : undefined;
      },
      150_000,
      500,
    );
    for (const view of views) {
      // The seeded Segment workspace has destinations that take no deletions, so its regulation ends with
      // Segment's FAILED for them (src/sandbox/segment/): a completion with errors that names them, nothing else.
      expect(view.status, JSON.stringify(view.tasks)).to.be.oneOf(['completed', 'completed_with_errors']);
      expect([...new Set(view.tasks.map((t) => t.vendor))].sort()).to.deep.equal(VENDORS);
      expect(
        view.tasks.filter((t) => !['succeeded', 'not_found', 'skipped'].includes(t.state)),
        'every task ended well',
      ).to.deep.equal([]);
      const partial = view.tasks.filter((t) => t.evidence?.partial === true);
      expect(
        partial.map((t) => t.vendor),
        'only Segment is partial',
      ).to.satisfy((vendors: string[]) => vendors.every((v) => v === 'segment'));
      for (const t of partial)
        expect(t.evidence!.failedDestinations, 'only destinations that take no deletions').to.deep.equal(
          t.evidence!.unsupportedDestinations,
        );
      if (view.status === 'completed_with_errors')
        expect(partial, 'an error is a partial Segment regulation').to.not.be.empty;
      const amplitude = view.tasks.filter((t) => t.vendor === 'amplitude');
      expect(amplitude.map((t) => t.state)).to.deep.equal(['succeeded']);
    }

    // Every vendor call reached the one shared sandbox: the workers started no simulators of their own.
    const stats = await sandboxStats();
    for (const vendor of VENDORS)
      expect(stats[vendor]?.total.calls ?? 0, `${vendor} calls at the shared sandbox`).to.be.greaterThan(0);
    expect(stats.pinpoint.operations.DeleteUserEndpoints?.calls ?? 0).to.be.at.least(1);
    expect(stats.amplitude.operations, 'Amplitude was asked to delete and polled until done').to.include.keys(
      'createDeletion',
    );
  });

  it('erased the people at the shared simulators and left their neighbour alone', async () => {
    const description = (await (await fetch(`${sandboxUrl}/sandbox`, { headers: headers() })).json()) as {
      vendors: { pinpoint: { baseUrl: string; appIds: string[] } };
    };
    const { PinpointClient, GetUserEndpointsCommand, NotFoundException } = await import('@aws-sdk/client-pinpoint');
    const sdk = new PinpointClient({
      endpoint: description.vendors.pinpoint.baseUrl,
      region: 'us-east-1',
      credentials: { accessKeyId: 'SANDBOXACCESSKEY', secretAccessKey: 'sandbox-secret-key' },
      maxAttempts: 1,
    });
    const appId = description.vendors.pinpoint.appIds[0];
    for (const i of PEOPLE) {
      expect(
        await sdk
          .send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: seedPerson(i).userId }))
          .catch((e: unknown) => e),
        `user-${i}`,
      ).to.be.instanceOf(NotFoundException);
    }
    const neighbour = await sdk.send(
      new GetUserEndpointsCommand({ ApplicationId: appId, UserId: seedPerson(NEIGHBOUR).userId }),
    );
    expect(neighbour.EndpointsResponse?.Item ?? []).to.not.be.empty;
    sdk.destroy();
  });

  describe('connecting to it', () => {
    let shared: SharedSandbox | undefined;
    afterEach(() => shared?.close());

    it('answers /sandbox only with the admin token, and /healthz (for container healthchecks) to anyone', async () => {
      expect((await fetch(`${sandboxUrl}/sandbox`)).status).to.equal(401);
      expect(
        (await fetch(`${sandboxUrl}/sandbox/stats`, { headers: { authorization: 'Bearer wrong-token-0123456789' } }))
          .status,
      ).to.equal(401);
      expect((await fetch(`${sandboxUrl}/sandbox`, { headers: headers() })).status).to.equal(200);
      expect((await fetch(`${sandboxUrl}/healthz`)).status).to.equal(200);
    });

    it('refuses a wrong admin token, naming ERASURE_ADMIN_TOKEN', async () => {
      const err = await connectSharedSandbox({ url: sandboxUrl, token: 'not-the-admin-token-at-all', waitMs: 0 }).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(SharedSandboxError);
      expect((err as Error).message)
        .to.include('ERASURE_ADMIN_TOKEN')
        .and.not.include('not-the-admin-token');
    });

    it("follows the sandbox's clock, speed and advances included", async () => {
      shared = await connectSharedSandbox({ url: sandboxUrl, token, refreshMs: 50 });
      expect(shared.clock.describe().speed).to.equal(200_000);
      const before = shared.clock.now();
      const res = await fetch(`${sandboxUrl}/sandbox/clock/advance`, {
        method: 'POST',
        headers: headers(),
        body: JSON.stringify({ ms: 365 * 86_400_000 }),
      });
      expect(res.status).to.equal(200);
      const sandboxNow = Date.parse(((await res.json()) as { now: string }).now);
      // Read again within a refresh: at least the sandbox's time when it answered the advance.
      const seen = await waitFor(
        async () => (shared!.clock.now() >= sandboxNow ? shared!.clock.now() : undefined),
        10_000,
      );
      expect(seen - before).to.be.at.least(365 * 86_400_000);
    });
  });
});

describe('`erasure start` given ERASURE_SANDBOX_URL, on one machine with the sandbox (token shared through the data directory)', () => {
  let sandbox: Sandbox;
  let server: ListeningServer;
  let service: Service | undefined;
  const token = randomBytes(24).toString('base64url');

  before(async () => {
    sandbox = await startSandbox({ subjects: 10, clockSpeed: 200_000 });
    server = await serveSandbox(sandbox, { port: 0, host: '127.0.0.1', adminToken: token });
  });
  after(async () => {
    await service?.close();
    await server?.close();
    await sandbox?.close();
  });

  it('starts no simulators of its own, takes every vendor and the clock from the sandbox, and erases through it', async function () {
    this.timeout(60_000);
    const dataDir = makeTestTempDir('erasure-start-shared-');
    // What `erasure sandbox` leaves in a data directory when ERASURE_ADMIN_TOKEN is unset.
    writeFileSync(path.join(dataDir, 'admin-token'), `${token}\n`);
    const redis = await testRedis();
    const config = loadConfig({
      env: { ERASURE_SANDBOX_URL: server.url },
      file: {
        redisUrl: redis.url,
        queuePrefix: freshPrefix(),
        port: 0,
        dataDir,
        logFile: SUITE_LOG_FILE,
        preflight: { atBoot: false },
      },
    });
    service = await startService(config, { quiet: true });
    expect(service.sandbox, 'no private simulators').to.equal(undefined);
    expect(service.sharedSandbox!.url).to.equal(server.url);
    expect(service.adminToken).to.equal(token);
    expect(service.config.vendors.pinpoint!.endpoint).to.equal(sandbox.vendors.pinpoint.baseUrl);
    expect(service.config.vendors.amplitude!.baseUrl).to.equal(sandbox.vendors.amplitude.baseUrl);
    expect(service.config.vendors.appcenter!.apps).to.deep.equal([sandbox.appcenter.app]);

    const { userId } = seedPerson(2);
    const res = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: { userId }, vendors: ['amplitude', 'pinpoint'] }),
    });
    expect(res.status, await res.clone().text()).to.equal(202);
    const { id } = (await res.json()) as { id: string };
    const done = await waitFor(
      async () => {
        const request = await service!.ledger.requests.getRequest(id);
        return request &&
          request.status !== 'in_progress' &&
          request.status !== 'received' &&
          request.status !== 'scheduled'
          ? request
          : undefined;
      },
      45_000,
      200,
    );
    expect(done.status).to.equal('completed');
    expect(sandbox.stats.calls('amplitude', 'createDeletion')).to.equal(1);
    expect(sandbox.stats.calls('pinpoint', 'DeleteUserEndpoints')).to.equal(1);
  });
});
