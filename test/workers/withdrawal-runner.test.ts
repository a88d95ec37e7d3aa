import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { DelayedError, type Job } from 'bullmq';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { createLogger } from '../../src/logger.js';
import type { Config } from '../../src/config/config-schema.js';
import type { AmplitudeClient, DeletionJob } from '../../src/vendors/amplitude-client.js';
import { PermanentVendorError, RateLimitedError } from '../../src/vendors/vendor-errors.js';
import { createWithdrawalRunner, WITHDRAWAL_AUDIT_ACTION } from '../../src/workers/withdrawal-runner.js';
import { WITHDRAW_TASK, withdrawalJobId, type WithdrawalJobData } from '../../src/operations/withdrawal-job.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';

const backends: Array<{ name: string; open: () => Promise<Database | undefined> }> = [
  { name: 'PGlite', open: () => openDatabase({ pgliteDir: 'memory://' }) },
  {
    name: 'a Postgres server',
    open: async () => {
      const url = await freshPostgresDatabase();
      return url ? openDatabase({ databaseUrl: url }) : undefined;
    },
  },
];

const DAY = '2030-01-10';
const AMPLITUDE_ID = '9000001';

/** An Amplitude client that answers from one staging job holding the person, or fails as told. */
function fakeAmplitude(fail?: () => Error) {
  const calls: string[] = [];
  const job: DeletionJob = { day: DAY, status: 'staging', amplitudeIds: [AMPLITUDE_ID], entryCount: 1 };
  const client = {
    listDeletions: () => {
      calls.push('listDeletions');
      return fail ? Promise.reject(fail()) : Promise.resolve([job]);
    },
    cancelDeletion: () => {
      calls.push('cancelDeletion');
      return Promise.resolve();
    },
  };
  return { client: client as unknown as AmplitudeClient, calls };
}

/** The BullMQ job the worker would hand the runner: its data, attempts, and where it was moved. */
function fakeJob(data: WithdrawalJobData, attempts = 1) {
  const moved: number[] = [];
  const job = {
    id: withdrawalJobId(data.taskId),
    name: WITHDRAW_TASK,
    queueName: 'amplitude',
    data,
    attemptsMade: 0,
    opts: { attempts },
    moveToDelayed: (at: number) => {
      moved.push(at);
      return Promise.resolve();
    },
  };
  return { job: job as unknown as Job<WithdrawalJobData>, moved };
}

for (const backend of backends) {
  describe(`A withdrawal job after a cancel (src/workers/withdrawal-runner.ts), on ${backend.name}`, () => {
    let db: Database;
    let ledger: Ledger;
    const config = { vendors: { amplitude: {} } } as unknown as Config;
    const logger = createLogger({ logLevel: 'debug', logFile: SUITE_LOG_FILE }, { silentConsole: true });

    before(async function () {
      const opened = await backend.open();
      if (!opened) skipBecause(this, NO_POSTGRES);
      db = opened;
      await migrate(db);
      ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
    });
    after(async () => {
      // Undefined when the suite was skipped (no Postgres server).
      if ((db as Database | undefined) !== undefined) await db.close();
    });

    /** A cancelled request whose one Amplitude task had started (running, its job day known). */
    async function cancelledWithStartedTask(): Promise<WithdrawalJobData> {
      const requestId = randomUUID();
      const taskId = `${requestId}__amplitude__amplitude-delete-user`;
      await ledger.requests.createRequest({
        id: requestId,
        regulation: 'gdpr',
        vendors: ['amplitude'],
        subject: { amplitudeId: AMPLITUDE_ID },
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 86_400_000),
        tasks: [
          {
            id: taskId,
            vendor: 'amplitude',
            resource: 'project/main',
            action: 'amplitude-delete-user',
            queue: 'amplitude',
            jobName: 'amplitude-delete-user',
          },
        ],
        actor: 'test',
      });
      await ledger.tasks.beginTask(taskId);
      await ledger.tasks.checkpointTask(taskId, { day: DAY });
      const cancel = await ledger.requests.cancelRequest(requestId, 'operator:test', 'the person withdrew the request');
      expect(cancel!.started.map((t) => t.id)).to.deep.equal([taskId]);
      return { requestId, taskId };
    }

    const withdrawals = async (requestId: string) =>
      (await ledger.audit.auditTrail(requestId))
        .filter((e) => e.action === WITHDRAWAL_AUDIT_ACTION)
        .map((e) => e.detail);

    it('withdraws the started task at the vendor, ends it cancelled, audits it and ends the request', async () => {
      const data = await cancelledWithStartedTask();
      const amplitude = fakeAmplitude();
      const run = createWithdrawalRunner({ ledger, config, clients: { amplitude: amplitude.client }, logger });
      expect(await run(fakeJob(data).job)).to.deep.equal({ outcome: 'withdrawn' });
      expect(amplitude.calls).to.deep.equal(['listDeletions', 'cancelDeletion']);
      const task = await ledger.tasks.getTask(data.taskId);
      expect(task!.state).to.equal('cancelled');
      expect(task!.evidence).to.include({ day: DAY, status: 'withdrawn', withdrawnAfterCancel: true });
      expect(await withdrawals(data.requestId)).to.deep.equal([
        { taskId: data.taskId, vendor: 'amplitude', withdrawn: true },
      ]);
      const request = await ledger.requests.getRequest(data.requestId);
      expect(request!.status).to.equal('cancelled');
      expect(request!.finishedAt).to.not.equal(null);
    });

    it('leaves a task its own job ended first as that job recorded it, and calls no vendor', async () => {
      const data = await cancelledWithStartedTask();
      expect((await ledger.tasks.finishTask(data.taskId, 'succeeded', { erased: true })).applied).to.equal(true);
      const amplitude = fakeAmplitude();
      const run = createWithdrawalRunner({ ledger, config, clients: { amplitude: amplitude.client }, logger });
      expect(await run(fakeJob(data).job)).to.deep.equal({ outcome: 'already_ended' });
      expect(amplitude.calls).to.deep.equal([]);
      expect((await ledger.tasks.getTask(data.taskId))!.state).to.equal('succeeded');
      expect(await withdrawals(data.requestId)).to.have.length(1);
      expect((await withdrawals(data.requestId))[0]).to.deep.include({
        taskId: data.taskId,
        withdrawn: false,
        reason: 'it had already ended (succeeded) when its withdrawal ran',
      });
    });

    it('waits out a 429 without an attempt or an audit entry', async () => {
      const data = await cancelledWithStartedTask();
      const amplitude = fakeAmplitude(
        () => new RateLimitedError({ vendor: 'amplitude', operation: 'listDeletions' }, 2000),
      );
      const run = createWithdrawalRunner({ ledger, config, clients: { amplitude: amplitude.client }, logger });
      const { job, moved } = fakeJob(data);
      let thrown: unknown;
      await run(job).catch((err: unknown) => (thrown = err));
      expect(thrown).to.be.instanceOf(DelayedError);
      expect(moved).to.have.length(1);
      expect(await withdrawals(data.requestId)).to.deep.equal([]);
      expect((await ledger.tasks.getTask(data.taskId))!.state).to.equal('running');
    });

    it('records a withdrawal that fails for good and leaves the task to run to its end, never failed', async () => {
      const data = await cancelledWithStartedTask();
      const amplitude = fakeAmplitude(
        () => new PermanentVendorError({ vendor: 'amplitude', operation: 'listDeletions', status: 403 }),
      );
      const run = createWithdrawalRunner({ ledger, config, clients: { amplitude: amplitude.client }, logger });
      let thrown: unknown;
      await run(fakeJob(data).job).catch((err: unknown) => (thrown = err));
      expect(thrown, 'the job fails').to.be.instanceOf(PermanentVendorError);
      expect((await ledger.tasks.getTask(data.taskId))!.state).to.equal('running');
      const [entry] = await withdrawals(data.requestId);
      expect(entry).to.deep.include({ taskId: data.taskId, vendor: 'amplitude', withdrawn: false });
      expect(String(entry.reason)).to.match(/^the withdrawal failed: /);
      expect(
        (await ledger.requests.getRequest(data.requestId))!.finishedAt,
        'the request waits for its started task',
      ).to.equal(null);
    });
  });
}
