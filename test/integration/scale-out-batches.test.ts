import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type Service, type ServiceRoles } from '../../src/service.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { CONNECTORS } from '../../src/connectors/registry.js';
import { sandboxPluginFor } from '../../src/sandbox/sandbox-plugins.js';
import { SCAN_S3_PREFIX } from '../../jobs/scan-s3-prefix.js';
import { freshPostgresDatabase } from '../support/postgres.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { waitFor } from '../support/test-service.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const PEOPLE = 40;
const GROUPS = 4;
const FINAL_TASK_STATES = ['succeeded', 'not_found', 'failed', 'skipped', 'cancelled'];

interface RunFigures {
  /** scan-s3-prefix batches in the ledger. */
  scans: number;
  /** Runs of those batches (a rerun scans the location again). */
  scanRuns: number;
  s3Calls: number;
  listings: number;
  states: string[];
}

/**
 * Issue 23 item 6: batch windows are global. The first member to arrive opens a batch in the ledger
 * and later members join it, whichever process runs them; only one batch of a location runs at a
 * time (BatchLedger.startAlone), and the next takes everyone who arrives meanwhile. So 1 api and
 * 3 worker services make the same number of S3 scans (±10 %) as one process for the same requests
 * on the same data. Each group of requests arrives while the previous group's scans run.
 */
describe('Scale-out: N worker services make as many S3 scans as one process (issue 23 item 6)', () => {
  const running: Service[] = [];
  const sandboxes: Sandbox[] = [];
  after(async function () {
    this.timeout(120_000);
    await Promise.all(running.splice(0).map((service) => service.close()));
    await Promise.all(sandboxes.splice(0).map((sandbox) => sandbox.close()));
  });

  async function run(workerServices: number): Promise<RunFigures> {
    const sandbox = await startSandbox({ subjects: PEOPLE });
    sandboxes.push(sandbox);
    const databaseUrl = await freshPostgresDatabase();
    // Several services share one ledger, which only a Postgres server allows; CI installs one (.ci/run).
    if (!databaseUrl) throw new Error('no Postgres server (initdb/pg_ctl) for this test');
    const redis = await testRedis();
    const adminToken = randomBytes(24).toString('hex');
    const env = {
      ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ERASURE_RECEIPT_SIGNING_KEY: randomBytes(32).toString('hex'),
      ERASURE_ADMIN_TOKEN: adminToken,
    };
    const file = {
      redisUrl: redis.url,
      databaseUrl,
      queuePrefix: freshPrefix(),
      port: 0,
      logFile: SUITE_LOG_FILE,
      jobs: { attempts: 5, backoffMs: 100, lockDurationMs: 10_000, stalledIntervalMs: 5000 },
      reconciler: { everyMs: 2000, staleAfterMs: 60_000 },
      preflight: { atBoot: false },
    };
    const vendors: Record<string, unknown> = {};
    for (const connector of CONNECTORS)
      vendors[connector.vendor] = sandboxPluginFor(connector.vendor)?.sandboxSettings(sandbox, connector.queueDefaults);
    vendors.s3 = { ...(vendors.s3 as object), batchWindowMs: 1000 };
    const start = async (roles: ServiceRoles) => {
      const config = loadConfig({ env, file: { ...file, dataDir: makeTestTempDir('erasure-scale-out-batches-') } });
      const service = await startService({ ...config, sandboxMode: false, vendors }, { roles, quiet: true });
      running.push(service);
      return service;
    };
    const api =
      workerServices === 0
        ? await start({ api: true, workers: 'all' })
        : await start({ api: true, workers: ['requests'] });
    for (let i = 0; i < workerServices; i++) await start({ api: false, workers: ['s3', 'callbacks'] });

    const openS3 = async () => {
      const { rows } = await api.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM tasks WHERE vendor = 's3' AND NOT (state = ANY($1))`,
        [FINAL_TASK_STATES],
      );
      return rows[0].n;
    };
    const perGroup = PEOPLE / GROUPS;
    for (let g = 0; g < GROUPS; g++) {
      const people = Array.from({ length: perGroup }, (_, k) => ({
        subject: { userId: seedPerson(g * perGroup + k).userId },
        vendors: ['s3'],
      }));
      const res = await fetch(`${api.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ requests: people }),
      });
      expect(res.status, await res.clone().text()).to.equal(202);
      // The next group arrives once this group's scans run: its members join batches that must wait their turn.
      await waitFor(
        async () => {
          const { rows } = await api.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM batches WHERE kind = $1 AND state <> 'open'`,
            [SCAN_S3_PREFIX],
          );
          return rows[0].n >= (g + 1) * 3 || (await openS3()) === 0;
        },
        60_000,
        20,
      );
    }
    await waitFor(async () => (await openS3()) === 0, 120_000, 100);

    const { rows: batches } = await api.db.query<{ n: number; runs: number }>(
      `SELECT count(*)::int AS n, coalesce(sum(attempts), 0)::int AS runs FROM batches WHERE kind = $1`,
      [SCAN_S3_PREFIX],
    );
    const { rows: states } = await api.db.query<{ state: string; n: number }>(
      `SELECT state, count(*)::int AS n FROM tasks GROUP BY state ORDER BY state`,
    );
    const stats = sandbox.stats.snapshot();
    const figures = {
      scans: batches[0].n,
      scanRuns: batches[0].runs,
      s3Calls: stats.s3.total.calls,
      listings: stats.s3.operations.ListObjectVersions.calls,
      states: states.map((s) => `${s.state}=${s.n}`),
    };
    await Promise.all(running.splice(0).map((service) => service.close()));
    return figures;
  }

  it('1 api + 3 worker services: the same scans (±10 %) and S3 calls (±10 %) as one process, every task ended', async function () {
    this.timeout(300_000);
    const one = await run(0);
    const three = await run(3);
    const report = JSON.stringify({ one, three });
    console.log(`        ${report}`);
    for (const figures of [one, three]) {
      expect(figures.states, report).to.deep.equal([`succeeded=${PEOPLE * 3}`]);
      // A location is scanned by one batch at a time, so a batch is never run again over another's rewrite.
      expect(figures.scanRuns, report).to.equal(figures.scans);
    }
    expect(Math.abs(three.scans - one.scans), report).to.be.at.most(Math.floor(0.1 * one.scans));
    expect(Math.abs(three.s3Calls - one.s3Calls), report).to.be.at.most(0.1 * one.s3Calls);
    expect(Math.abs(three.listings - one.listings), report).to.be.at.most(0.1 * one.listings);
  });
});
