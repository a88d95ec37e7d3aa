import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config/load-config.js';
import type { Config } from '../../src/config/config-schema.js';
import { startService, type Service, type ServiceRoles } from '../../src/service.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { FINAL_REQUEST_STATUSES } from '../../src/ledger/ledger-types.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { createQueueSet, type QueueSet } from '../../src/infrastructure/queue-set.js';
import { createBatchRunner } from '../../src/workers/batch-runner.js';
import { resolveQueues } from '../../queues/registry.js';
import { createLogger } from '../../src/logger.js';
import type { BatchProcessor } from '../../src/connectors/processor-contract.js';
import { freshPostgresDatabase } from '../support/postgres.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { waitFor, testConfig } from '../support/test-service.js';
import { pumpClock } from '../support/aws-sandbox.js';
import { sandboxVendorSettings } from '../support/crash-rig.js';
import { pinpointTaskRequest } from '../support/pinpoint-task-request.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const hex = (key: Buffer) => key.toString('hex');

describe('Rolling key rotation (Invariant 12)', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  describe('an api with the new key and a worker still on the old one, on one Redis and one ledger', () => {
    let sandbox: Sandbox;
    let stopClock: () => void;
    let db: Database;
    let base: Record<string, unknown>;
    const running: Service[] = [];

    before(async function () {
      this.timeout(60_000);
      const databaseUrl = await freshPostgresDatabase();
      // Two processes share one ledger, which only a Postgres server allows; CI installs one (.ci/run).
      if (!databaseUrl) throw new Error('no Postgres server (initdb/pg_ctl) for this test');
      sandbox = await startSandbox({ subjects: 40 });
      stopClock = pumpClock(sandbox);
      const redis = await testRedis();
      base = {
        redisUrl: redis.url,
        databaseUrl,
        queuePrefix: freshPrefix(),
        port: 0,
        logFile: SUITE_LOG_FILE,
        jobs: { attempts: 3, backoffMs: 100, lockDurationMs: 5000, stalledIntervalMs: 2000 },
        reconciler: { everyMs: 60_000, staleAfterMs: 60_000 },
        vendors: sandboxVendorSettings(sandbox),
      };
      db = await openDatabase({ databaseUrl });
    });
    after(async () => {
      for (const service of running.splice(0)) await service.close();
      stopClock?.();
      await db?.close();
      await sandbox?.close();
    });

    /** Receipts are signed with a key of their own, the same in every process (issue 25 §6). */
    const RECEIPT_KEY = randomBytes(32).toString('hex');
    /** A process of the deployment: `keys` is [current, ...previous], as its environment would give them. */
    async function start(roles: ServiceRoles, keys: Buffer[], adminToken: string): Promise<Service> {
      const file = { ...base, dataDir: makeTestTempDir('erasure-rolling-') };
      const env: Record<string, string> = {
        ERASURE_ENCRYPTION_KEY: hex(keys[0]),
        ERASURE_RECEIPT_SIGNING_KEY: RECEIPT_KEY,
        ERASURE_ADMIN_TOKEN: adminToken,
      };
      if (keys.length > 1) env.ERASURE_PREVIOUS_ENCRYPTION_KEYS = keys.slice(1).map(hex).join(',');
      const service = await startService(loadConfig({ env, file }), { roles, quiet: true });
      running.push(service);
      return service;
    }
    async function stop(service: Service): Promise<void> {
      running.splice(running.indexOf(service), 1);
      await service.close();
    }
    async function submit(service: Service, token: string, people: number[]): Promise<string[]> {
      const ids: string[] = [];
      for (const i of people) {
        const res = await fetch(`${service.url}/v1/requests`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            subject: { userId: `user-${i}`, email: `user${i}@example.com` },
            vendors: ['pinpoint', 's3'],
          }),
        });
        expect(res.status, await res.clone().text()).to.equal(202);
        ids.push(((await res.json()) as { id: string }).id);
      }
      return ids;
    }

    it('defers the tasks the old worker cannot read (key_not_loaded, on the admin page), fails none, and completes every request once the worker restarts with the new key', async function () {
      this.timeout(120_000);
      const token = randomBytes(24).toString('hex');
      // Before the rotation: requests sealed with the old key.
      const apiBefore = await start({ api: true, workers: ['requests'] }, [oldKey], token);
      const sealedOld = await submit(apiBefore, token, [1, 2, 3, 4]);
      await stop(apiBefore);
      // The api restarts first, with the new key (the old one as previous); the worker still has only the old key.
      const api = await start({ api: true, workers: ['requests'] }, [newKey, oldKey], token);
      const sealedNew = await submit(api, token, [5, 6, 7, 8]);
      const oldWorker = await start({ api: false, workers: ['pinpoint', 's3'] }, [oldKey], token);

      const waitingForKey = await waitFor(async () => {
        const { rows } = await db.query<{ id: string; request_id: string; waiting_reason: string }>(
          `SELECT id, request_id, waiting_reason FROM tasks WHERE waiting_reason LIKE 'key_not_loaded%'`,
        );
        return rows.length > 0 ? rows : undefined;
      }, 30_000);
      expect(sealedNew, 'only requests sealed with the new key wait for it').to.include(waitingForKey[0].request_id);
      const page = await fetch(`${api.url}/admin/requests/${waitingForKey[0].request_id}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(page.status).to.equal(200);
      expect(await page.text(), 'the admin page shows why the task waits').to.contain('key_not_loaded');
      // Requests sealed with the old key go on meanwhile.
      await waitFor(async () => {
        const all = await Promise.all(sealedOld.map((id) => api.ledger.requests.getRequest(id)));
        return all.every((r) => r && FINAL_REQUEST_STATUSES.includes(r.status));
      }, 60_000);

      // The worker restarts with the new key, rolling: the new process starts before the old one
      // stops, so for a while both take jobs (a shared batch may run in either). Nobody retries anything.
      await start({ api: false, workers: ['pinpoint', 's3'] }, [newKey, oldKey], token);
      await stop(oldWorker);
      const finals = await waitFor(async () => {
        const all = await Promise.all([...sealedOld, ...sealedNew].map((id) => api.ledger.requests.getRequest(id)));
        return all.every((r) => r && FINAL_REQUEST_STATUSES.includes(r.status)) ? all : undefined;
      }, 60_000);
      expect(finals.map((r) => r!.status)).to.deep.equal(Array(8).fill('completed'));
      const { rows: tasks } = await db.query<{ state: string; error: string | null }>(`SELECT state, error FROM tasks`);
      expect(
        tasks.filter((t) => t.state === 'failed'),
        'no task failed',
      ).to.deep.equal([]);
      expect(
        tasks.filter((t) => /not loaded/.test(t.error ?? '')),
        'no key error left on a task',
      ).to.deep.equal([]);
    });
  });

  describe('a shared batch run by a process without the key', () => {
    let db: Database;
    let queues: QueueSet;
    let config: Config;

    before(async () => {
      db = await openDatabase({ pgliteDir: 'memory://' });
      await migrate(db);
      config = await testConfig();
      queues = await createQueueSet({ url: (await testRedis()).url, prefix: freshPrefix() }, resolveQueues(config));
    });
    after(async () => {
      await queues?.close();
      await db?.close();
    });

    it('sets aside only the members it cannot read: they leave the batch uncounted and join a new one; the others are done', async () => {
      const withNewKey = createLedger(db, createIdentityCipher(newKey, [oldKey]));
      const withOldKey = createLedger(db, createIdentityCipher(oldKey));
      const batches = new BatchLedger(db);
      const member = async (ledger: Ledger, userId: string) => {
        const id = randomUUID();
        await ledger.requests.createRequest(
          pinpointTaskRequest({
            id,
            userId,
            resource: 'app/rotation',
            action: 'find_by_address',
            jobName: 'find-endpoint',
          }),
        );
        const taskId = `${id}__pinpoint__find_by_address`;
        await batches.join({
          vendor: 'pinpoint',
          kind: 'export-segment',
          scope: 'app/rotation',
          taskId,
          requestId: id,
          windowMs: 60_000,
          maxMembers: 10,
          maxRebatches: 0,
        });
        return { requestId: id, taskId };
      };
      const readable = [await member(withOldKey, 'user-1'), await member(withOldKey, 'user-2')];
      const unreadable = await member(withNewKey, 'user-3');
      const batchId = (await batches.join({
        vendor: 'pinpoint',
        kind: 'export-segment',
        scope: 'app/rotation',
        ...unreadable,
        windowMs: 60_000,
        maxMembers: 10,
      }))!.batch.id;

      const seen: string[][] = [];
      const processor: BatchProcessor = async (input) => {
        seen.push(input.members.map((m) => m.subject.userId!));
        return {
          outcome: 'done',
          evidence: {},
          members: new Map(input.members.map((m) => [m.taskId, { state: 'done' as const, result: { found: 1 } }])),
        };
      };
      // The batch job runs in a process that holds only the old key.
      const run = createBatchRunner({
        ledger: withOldKey,
        batches,
        queues,
        processors: { 'export-segment': processor },
        clients: {},
        logger: createLogger(config, { silentConsole: true }),
      });
      const job = {
        id: `batch__${batchId}`,
        name: 'export-segment',
        queueName: 'pinpoint',
        data: { batchId },
        attemptsMade: 0,
        opts: {},
      };
      const result = await run(job as never);

      expect(result).to.deep.equal({ outcome: 'done', members: 2 });
      expect(seen, 'the processor saw only the members it could read').to.deep.equal([['user-1', 'user-2']]);
      const members = await batches.members(batchId);
      expect(members.map((m) => [m.taskId, m.state]).sort()).to.deep.equal(
        readable.map((r) => [r.taskId, 'done']).sort(),
      );
      expect((await batches.get(batchId))!.memberCount).to.equal(2);
      // Set aside is not a failed batch: even with maxRebatches 0 the member joins a new one.
      const again = await batches.join({
        vendor: 'pinpoint',
        kind: 'export-segment',
        scope: 'app/rotation',
        ...unreadable,
        windowMs: 60_000,
        maxMembers: 10,
        maxRebatches: 0,
      });
      expect(again, 'joins a new batch').to.not.equal(undefined);
      expect(again!.batch.id).to.not.equal(batchId);
      expect(again!.member.state).to.equal('waiting');
    });
  });
});
