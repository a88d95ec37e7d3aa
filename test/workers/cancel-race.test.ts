import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { createQueueSet, type QueueSet } from '../../src/infrastructure/queue-set.js';
import { startWorkers, type WorkerPool } from '../../src/workers/start-workers.js';
import { createRequestEnqueuer, type RequestEnqueuer } from '../../src/planner/request-enqueuer.js';
import { createLogger } from '../../src/logger.js';
import { resolveQueues } from '../../queues/registry.js';
import { PermanentVendorError, RateLimitedError, TransientVendorError } from '../../src/vendors/vendor-errors.js';
import type { TaskProcessor, TaskResult } from '../../src/connectors/processor-contract.js';
import { testConfig, waitFor } from '../support/test-service.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { pinpointTaskRequest } from '../support/pinpoint-task-request.js';

/** What the gated processor does once the test lets it go on. */
type Ending = { result: TaskResult } | { throws: () => Error } | { checkpointThen: TaskResult };

interface Gate {
  entered: Promise<void>;
  enter: () => void;
  release: (ending: Ending) => void;
  ending: Promise<Ending>;
}

function gate(): Gate {
  let enter!: () => void;
  let release!: (ending: Ending) => void;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  const ending = new Promise<Ending>((resolve) => (release = resolve));
  return { entered, enter, release, ending };
}

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

/**
 * Issue 18's bug: a job is mid-run when a cancel withdraws its task (cancelStartedTask). Whatever
 * the run then ends with, the task stays cancelled, and its job is not run again.
 */
for (const backend of backends) {
  describe(`A job whose task a cancel withdraws mid-run, on ${backend.name}`, () => {
    let db: Database;
    let ledger: Ledger;
    let queues: QueueSet;
    let workers: WorkerPool;
    let enqueue: RequestEnqueuer;
    const gates = new Map<string, Gate>();
    /** Runs of the processor per task; steps it reached after its checkpoint (vendor changes, in a real one). */
    const runs = new Map<string, number>();
    const afterCheckpoint = new Set<string>();

    const gated: TaskProcessor = async (input) => {
      runs.set(input.taskId, (runs.get(input.taskId) ?? 0) + 1);
      const own = gates.get(input.taskId)!;
      own.enter();
      const ending = await own.ending;
      if ('throws' in ending) throw ending.throws();
      if ('checkpointThen' in ending) {
        await input.checkpoint({ intent: 'delete endpoints' });
        afterCheckpoint.add(input.taskId);
        return ending.checkpointThen;
      }
      return ending.result;
    };

    before(async function () {
      const opened = await backend.open();
      if (!opened) {
        skipBecause(this, NO_POSTGRES);
      }
      db = opened!;
      await migrate(db);
      const config = await testConfig();
      ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
      queues = await createQueueSet({ url: config.redisUrl!, prefix: config.queuePrefix }, resolveQueues(config));
      enqueue = createRequestEnqueuer({ ledger, queues });
      workers = await startWorkers({
        config,
        redisUrl: config.redisUrl!,
        queues,
        run: queues.definitions,
        ledger,
        batches: new BatchLedger(db),
        clients: {},
        jobs: { 'gated-member': { kind: 'task', processor: gated } },
        enqueue,
        logger: createLogger({ logLevel: 'debug', logFile: SUITE_LOG_FILE }, { silentConsole: true }),
      });
    });
    after(async () => {
      await workers?.close(1000);
      await queues?.close();
      await db?.close();
    });

    /** Submits a request, waits until its job is mid-run, cancels it and withdraws the started task. */
    async function cancelMidRun(): Promise<{ requestId: string; taskId: string; job: Job }> {
      const requestId = randomUUID();
      const taskId = `${requestId}__pinpoint__gated`;
      gates.set(taskId, gate());
      const { request } = await ledger.requests.createRequest(
        pinpointTaskRequest({
          id: requestId,
          userId: 'user-7',
          resource: 'app/a1',
          action: 'gated',
          jobName: 'gated-member',
        }),
      );
      await enqueue(request);
      await gates.get(taskId)!.entered;
      expect((await ledger.tasks.getTask(taskId))!.state).to.equal('running');

      const cancel = await ledger.requests.cancelRequest(requestId, 'operator:test', 'the person withdrew the request');
      expect(cancel!.started.map((t) => t.id)).to.deep.equal([taskId]);
      await ledger.tasks.cancelStartedTask(taskId, { withdrawnAfterCancel: true });
      expect((await ledger.tasks.getTask(taskId))!.state).to.equal('cancelled');
      return { requestId, taskId, job: (await queues.queue('pinpoint').getJob(taskId))! };
    }

    /** Lets the run go on, waits until its job is no longer active, and checks nothing revived the task. */
    async function endRun(taskId: string, requestId: string, job: Job, ending: Ending): Promise<void> {
      gates.get(taskId)!.release(ending);
      const state = await waitFor(async () => {
        const now = await queues.queue('pinpoint').getJobState(taskId);
        return now === 'active' ? undefined : now;
      });
      const task = (await ledger.tasks.getTask(taskId))!;
      expect(task.state, 'task state after the run ended').to.equal('cancelled');
      expect(task.evidence).to.include({ withdrawnAfterCancel: true });
      // Completed: the job will not run again (not delayed, waiting to be retried, or failed for the failed handler).
      expect(state, 'job state after the run ended').to.equal('completed');
      expect((await queues.queue('pinpoint').getJob(taskId))!.returnvalue).to.deep.equal({ outcome: 'superseded' });
      expect(runs.get(taskId)).to.equal(1);
      expect(await ledger.requests.settleRequest(requestId)).to.equal('cancelled');
      expect((await ledger.requests.getRequest(requestId))!.status).to.equal('cancelled');
    }

    it('does not write the task back to waiting_vendor, nor delay its job to poll again', async () => {
      const { requestId, taskId, job } = await cancelMidRun();
      await endRun(taskId, requestId, job, {
        result: {
          outcome: 'waiting_vendor',
          evidence: { regulateId: 'r-1' },
          pollAfterMs: 200,
          reason: 'the vendor is working',
        },
      });
    });

    it('does not write the task back to succeeded', async () => {
      const { requestId, taskId, job } = await cancelMidRun();
      await endRun(taskId, requestId, job, { result: { outcome: 'succeeded', evidence: { endpointsDeleted: 2 } } });
      expect((await ledger.tasks.getTask(taskId))!.evidence).to.not.have.property('endpointsDeleted');
    });

    it('does not put the task back in the queue when the vendor throttles or fails for now', async () => {
      const throttled = await cancelMidRun();
      await endRun(throttled.taskId, throttled.requestId, throttled.job, {
        throws: () => new RateLimitedError({ vendor: 'pinpoint', operation: 'gated', status: 429 }, 200),
      });
      const transient = await cancelMidRun();
      await endRun(transient.taskId, transient.requestId, transient.job, {
        throws: () => new TransientVendorError({ vendor: 'pinpoint', operation: 'gated', status: 503 }),
      });
    });

    it('does not fail the withdrawn task when the vendor refuses for good', async () => {
      const { requestId, taskId, job } = await cancelMidRun();
      await endRun(taskId, requestId, job, {
        throws: () => new PermanentVendorError({ vendor: 'pinpoint', operation: 'gated', status: 400 }),
      });
      expect((await ledger.tasks.getTask(taskId))!.error).to.equal(null);
    });

    it('stops the run at its next checkpoint, before it would change anything at the vendor', async () => {
      const { requestId, taskId, job } = await cancelMidRun();
      await endRun(taskId, requestId, job, { checkpointThen: { outcome: 'succeeded', evidence: {} } });
      expect(afterCheckpoint.has(taskId), 'the processor went on after its checkpoint was refused').to.equal(false);
      expect((await ledger.tasks.getTask(taskId))!.evidence).to.not.have.property('intent');
    });
  });
}
