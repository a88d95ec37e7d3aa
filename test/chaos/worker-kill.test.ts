import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type Service } from '../../src/service.js';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import {
  awaitFinal,
  chaosPeople,
  endpointCounts,
  expectNothingLost,
  pause,
  randomMs,
  startWorkerProcess,
  submitPaced,
  tally,
} from './chaos-harness.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const SUBJECTS = 330;
const WORKERS = 2;

describe('Chaos: worker processes killed with SIGKILL at random moments', () => {
  let sandbox: Sandbox;
  let service: Service;
  let env: Record<string, string>;
  const workers = new Set<ChildProcess>();

  before(async function () {
    this.timeout(60_000);
    const databaseUrl = await freshPostgresDatabase();
    // Several processes share the ledger, which PGlite cannot do; npm test installs Postgres.
    if (!databaseUrl) skipBecause(this, NO_POSTGRES);
    sandbox = await startSandbox({ subjects: SUBJECTS });
    const redis = await testRedis();
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    const dataDir = makeTestTempDir('erasure-chaos-kill-');
    const file = {
      redisUrl: redis.url,
      databaseUrl,
      queuePrefix: freshPrefix(),
      port: 0,
      dataDir,
      logFile: SUITE_LOG_FILE,
      jobs: { attempts: 5, backoffMs: 200, lockDurationMs: 2000, stalledIntervalMs: 1000 },
      reconciler: { everyMs: 2000, staleAfterMs: 5000 },
      vendors: {
        pinpoint: {
          region,
          endpoint: sandbox.vendors.pinpoint.baseUrl,
          credentials: { accessKeyId, secretAccessKey },
          appIds: [sandbox.pinpoint.appId],
        },
      },
    };
    const configPath = path.join(dataDir, 'erasure.json');
    writeFileSync(configPath, JSON.stringify(file));
    env = {
      ERASURE_CONFIG: configPath,
      ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ERASURE_RECEIPT_SIGNING_KEY: randomBytes(32).toString('hex'),
      ERASURE_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    };
    // The API and the flow parents run here; the Pinpoint workers run in child processes.
    service = await startService(loadConfig({ env }), { roles: { api: true, workers: ['requests'] }, quiet: true });
    const started = await Promise.all(Array.from({ length: WORKERS }, () => startWorkerProcess(env)));
    for (const child of started) workers.add(child);
  });
  after(async () => {
    for (const child of workers) child.kill('SIGKILL');
    await service?.close();
    await sandbox?.close();
  });

  it('loses no request and erases nobody twice: a job whose worker died runs again on another, from its checkpoint', async function () {
    this.timeout(150_000);
    const { submitted, neighbours } = chaosPeople(SUBJECTS);
    const neighbourEndpoints = endpointCounts(sandbox.pinpoint, neighbours);
    // Slow answers keep many jobs in flight, so a kill lands in the middle of some.
    sandbox.faults.set('pinpoint', { latencyMs: 200 });

    const submitting = submitPaced({
      url: service.url!,
      token: env.ERASURE_ADMIN_TOKEN,
      scenario: 'worker-kill',
      people: submitted,
      perSecond: 20,
    });
    let submittingDone = false;
    void submitting.finally(() => (submittingDone = true));
    let kills = 0;
    while (!submittingDone || kills < 4) {
      await pause(randomMs(500, 2500));
      const victim = [...workers][Math.floor(Math.random() * workers.size)];
      victim.kill('SIGKILL');
      workers.delete(victim);
      kills += 1;
      workers.add(await startWorkerProcess(env));
    }
    const submissions = await submitting;
    sandbox.faults.set('pinpoint', { latencyMs: 0 });

    const open = await awaitFinal(service.ledger, submissions.accepted.values(), 90_000);
    // No vendor errors here: a task that ran more than once was cut off by a kill and ran again.
    let ranAgain = 0;
    for (const id of submissions.accepted.values())
      ranAgain += (await service.ledger.tasks.getTasks(id)).filter((t) => t.attempts > 1).length;
    const summary = await tally({
      scenario: 'worker-kill',
      ledger: service.ledger,
      pinpoint: sandbox.pinpoint,
      submissions,
      neighbourEndpoints,
      sent: submitted,
      notes: { kills, tasks_run_again_after_a_kill: ranAgain },
    });
    expectNothingLost(summary, open, submitted);
    expect(ranAgain, 'tasks cut off by a kill and run again').to.be.greaterThan(0);
  });
});
