import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Job } from 'bullmq';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { createLogger } from '../../src/logger.js';
import type { QueueSet } from '../../src/infrastructure/queue-set.js';
import type { BatchProcessor } from '../../src/connectors/processor-contract.js';
import { createBatchRunner } from '../../src/workers/batch-runner.js';
import type { BatchJobData } from '../../src/workers/batch-coordinator.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';

const BATCH_JOB = 'amplitude-delete-batch';

/** Queues whose jobs are never found: the runner's wake of members then promotes nobody. */
const noJobs = { queue: () => ({ getJob: () => Promise.resolve(undefined) }) } as unknown as QueueSet;

describe('A shared batch and a cancel that came before it ran (src/workers/batch-runner.ts)', () => {
  let db: Database;
  let ledger: Ledger;
  let batches: BatchLedger;
  const logger = createLogger({ logLevel: 'debug', logFile: SUITE_LOG_FILE }, { silentConsole: true });

  beforeEach(async () => {
    db = await openDatabase({ pgliteDir: 'memory://' });
    await migrate(db);
    ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
    batches = new BatchLedger(db);
  });
  afterEach(async () => {
    await db.close();
  });

  /** A request whose Amplitude task has started and joined the scope's batch. */
  async function startedMember(amplitudeId: string): Promise<{ requestId: string; taskId: string; batchId: string }> {
    const requestId = randomUUID();
    const taskId = `${requestId}__amplitude__amplitude-delete-user`;
    await ledger.requests.createRequest({
      id: requestId,
      regulation: 'gdpr',
      vendors: ['amplitude'],
      subject: { amplitudeId },
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
    await ledger.requests.markEnqueued(requestId);
    await ledger.tasks.beginTask(taskId);
    const joined = await batches.join({
      vendor: 'amplitude',
      kind: BATCH_JOB,
      scope: 'project/main',
      taskId,
      requestId,
      windowMs: 60_000,
      maxMembers: 100,
    });
    return { requestId, taskId, batchId: joined!.batch.id };
  }

  it('sends no identifier of the cancelled person to the vendor, ends that task cancelled, and runs the others', async () => {
    const people = [await startedMember('7000001'), await startedMember('7000002'), await startedMember('7000003')];
    const batchId = people[0].batchId;
    expect(
      people.map((p) => p.batchId),
      'one batch',
    ).to.deep.equal([batchId, batchId, batchId]);
    const [kept1, cancelled, kept2] = people;
    const cancel = await ledger.requests.cancelRequest(
      cancelled.requestId,
      'operator:test',
      'the person withdrew the request',
    );
    expect(
      cancel!.started.map((t) => t.id),
      'the task had started: its withdrawal job is not run here',
    ).to.deep.equal([cancelled.taskId]);

    const sent: Array<{ taskId: string; amplitudeId?: string }> = [];
    const processor: BatchProcessor = (input) => {
      for (const m of input.members) sent.push({ taskId: m.taskId, amplitudeId: m.subject.amplitudeId });
      const results = new Map(input.members.map((m) => [m.taskId, { state: 'done' as const, result: { sent: true } }]));
      return Promise.resolve({ outcome: 'done', evidence: { members: input.members.length }, members: results });
    };
    const run = createBatchRunner({
      ledger,
      batches,
      queues: noJobs,
      processors: { [BATCH_JOB]: processor },
      clients: {},
      logger,
    });
    const job = {
      id: `batch__${batchId}`,
      name: BATCH_JOB,
      queueName: 'amplitude',
      data: { batchId },
      attemptsMade: 0,
      opts: { attempts: 3 },
    };
    expect(await run(job as unknown as Job<BatchJobData>)).to.deep.equal({ outcome: 'done', members: 2 });

    expect(sent.map((s) => s.amplitudeId).sort()).to.deep.equal(['7000001', '7000003']);
    expect(sent.map((s) => s.taskId)).to.not.include(cancelled.taskId);
    const withdrawn = await ledger.tasks.getTask(cancelled.taskId);
    expect(withdrawn!.state).to.equal('cancelled');
    expect(withdrawn!.evidence).to.include({
      withdrawn: 'before it was sent to Amplitude',
      notSentToVendor: true,
      batchId,
    });
    const request = await ledger.requests.getRequest(cancelled.requestId);
    expect(request!.status).to.equal('cancelled');
    expect(request!.finishedAt, 'its last task ended: the request has ended').to.not.equal(null);
    const members = await batches.members(batchId);
    expect(members.map((m) => m.taskId).sort()).to.deep.equal([kept1.taskId, kept2.taskId].sort());
    expect(members.every((m) => m.state === 'done')).to.equal(true);
  });

  it('keeps a cancelled member in a batch that ran before (the vendor may already hold it): its withdrawal job decides', async () => {
    const [first, second] = [await startedMember('7000011'), await startedMember('7000012')];
    await batches.start(first.batchId);
    await batches.checkpoint(first.batchId, { submitted: true });
    await ledger.requests.cancelRequest(second.requestId, 'operator:test', 'the person withdrew the request');
    const sent: string[] = [];
    const processor: BatchProcessor = (input) => {
      sent.push(...input.members.map((m) => m.taskId));
      return Promise.resolve({
        outcome: 'done',
        evidence: {},
        members: new Map(input.members.map((m) => [m.taskId, { state: 'done' as const, result: {} }])),
      });
    };
    const run = createBatchRunner({
      ledger,
      batches,
      queues: noJobs,
      processors: { [BATCH_JOB]: processor },
      clients: {},
      logger,
    });
    const job = {
      id: `batch__${first.batchId}`,
      name: BATCH_JOB,
      queueName: 'amplitude',
      data: { batchId: first.batchId },
      attemptsMade: 1,
      opts: { attempts: 3 },
    };
    await run(job as unknown as Job<BatchJobData>);
    expect(sent.sort()).to.deep.equal([first.taskId, second.taskId].sort());
    expect((await ledger.tasks.getTask(second.taskId))!.state).to.equal('running');
  });
});
