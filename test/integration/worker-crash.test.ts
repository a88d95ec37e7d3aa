import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { QueueEvents } from 'bullmq';
import { loadConfig } from '../../src/config/load-config.js';
import { startService, type Service } from '../../src/service.js';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { parentJobId } from '../../src/planner/build-flow.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { waitFor } from '../support/test-service.js';
import { startWorkerProcess } from '../support/worker-process.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

describe('A worker process killed in the middle of a job', () => {
  let sandbox: Sandbox;
  let service: Service;
  let events: QueueEvents;
  const children: ChildProcess[] = [];
  let env: Record<string, string>;

  before(async function () {
    this.timeout(60_000);
    const databaseUrl = await freshPostgresDatabase();
    // Several processes share the ledger, which PGlite cannot do; npm test installs Postgres.
    if (!databaseUrl) skipBecause(this, NO_POSTGRES);
    sandbox = await startSandbox({ subjects: 20 });
    const redis = await testRedis();
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    const file = {
      redisUrl: redis.url,
      databaseUrl,
      queuePrefix: freshPrefix(),
      port: 0,
      dataDir: makeTestTempDir('erasure-crash-'),
      logFile: SUITE_LOG_FILE,
      jobs: { attempts: 3, backoffMs: 100, lockDurationMs: 2000, stalledIntervalMs: 1000 },
      // No boot preflight: its vendor calls are not what this test measures (test/support/test-service.ts).
      preflight: { atBoot: false },
      vendors: {
        pinpoint: {
          region,
          endpoint: sandbox.vendors.pinpoint.baseUrl,
          credentials: { accessKeyId, secretAccessKey },
          appIds: [sandbox.pinpoint.appId],
        },
      },
    };
    const configPath = path.join(file.dataDir, 'erasure.json');
    writeFileSync(configPath, JSON.stringify(file));
    env = {
      ERASURE_CONFIG: configPath,
      ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      ERASURE_RECEIPT_SIGNING_KEY: randomBytes(32).toString('hex'),
      ERASURE_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    };
    // The API and the flow parents run here; the Pinpoint worker runs in child processes.
    service = await startService(loadConfig({ env }), { roles: { api: true, workers: ['requests'] }, quiet: true });
    events = new QueueEvents('requests', {
      connection: redisConnection(service.redisUrl, true),
      prefix: file.queuePrefix,
    });
    await events.waitUntilReady();
  });
  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    await events?.close();
    await service?.close();
    await sandbox?.close();
  });

  it('is picked up by a new worker, and the request still completes with its evidence', async function () {
    this.timeout(60_000);
    children.push(await startWorkerProcess(env));
    sandbox.faults.set('pinpoint', { latencyMs: 5000 });

    const res = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.ERASURE_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: { userId: 'user-12' }, vendors: ['pinpoint'] }),
    });
    const { id } = (await res.json()) as { id: string };
    await waitFor(async () => (await service.ledger.tasks.getTasks(id))[0]?.state === 'running');

    children[0].kill('SIGKILL');
    sandbox.faults.set('pinpoint', { latencyMs: 0 });
    children.push(await startWorkerProcess(env));

    const parent = await service.queues.queue('requests').getJob(parentJobId(id));
    await parent!.waitUntilFinished(events, 30_000);
    const request = await service.ledger.requests.getRequest(id);
    const [task] = await service.ledger.tasks.getTasks(id);
    expect(request!.status).to.equal('completed');
    expect(task.state).to.equal('succeeded');
    expect(task.attempts, 'the killed run and the one that finished').to.be.at.least(2);
    expect(task.evidence.endpointsDeleted, 'e-mail, SMS and push (12 % 3 === 0)').to.equal(3);
    expect(sandbox.pinpoint.store.userEndpoints(sandbox.pinpoint.appId, 'user-12')).to.have.length(0);
  });
});
