import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { RequestLedger } from '../../src/ledger/request-ledger.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { freshPostgresDatabase } from '../support/postgres.js';

describe('BatchLedger on a Postgres server (concurrent connections)', () => {
  let db: Database;
  let ledger: RequestLedger;
  let batches: BatchLedger;

  before(async function () {
    const url = await freshPostgresDatabase();
    // initdb/pg_ctl absent on this machine: .ci/run installs them, so CI always runs this block.
    if (!url) this.skip();
    db = await openDatabase({ databaseUrl: url! });
    await migrate(db);
    ledger = new RequestLedger(db, createIdentityCipher(randomBytes(32)));
    batches = new BatchLedger(db);
  });
  after(async () => db?.close());

  it('gives a burst of first joiners of one scope one shared batch, not one batch each', async () => {
    const members = await Promise.all(Array.from({ length: 40 }, (_, n) => newTask(`burst-${n}`, 'app/burst')));
    const joined = await Promise.all(
      members.map((m) => batches.join({ vendor: 'pinpoint', kind: 'export-segment', scope: 'app/burst', taskId: m.taskId, requestId: m.requestId, windowMs: 60_000, maxMembers: 100 })),
    );
    expect(new Set(joined.map((j) => j!.batch.id)).size).to.equal(1);
    expect(joined.filter((j) => j!.opened)).to.have.length(1);
    expect((await batches.get(joined[0]!.batch.id))!.memberCount).to.equal(40);
  });

  it('keeps a task in its batch when it joins again, closes a batch as it fills, and opens the next', async () => {
    const tasks = await Promise.all([1, 2, 3].map(async (n) => newTask(`fill-${n}`, 'app/fill')));
    const join = (t: { taskId: string; requestId: string }, now = new Date()) =>
      batches.join({ vendor: 'pinpoint', kind: 'export-segment', scope: 'app/fill', ...t, windowMs: 60_000, maxMembers: 2, now });
    const first = (await join(tasks[0]!))!;
    expect(first).to.deep.include({ opened: true });
    expect(first.batch).to.deep.include({ state: 'open', memberCount: 1 });
    expect((await join(tasks[0]!))!.batch, 'joining again').to.deep.include({ id: first.batch.id, memberCount: 1 });
    const fillAt = new Date(Date.now() + 1000);
    const second = (await join(tasks[1]!, fillAt))!;
    expect(second).to.deep.include({ opened: false });
    expect(second.batch).to.deep.include({ id: first.batch.id, memberCount: 2 });
    expect(second.batch.closesAt.getTime(), 'full: it closes now, not at the end of its window').to.equal(fillAt.getTime());
    const third = (await join(tasks[2]!))!;
    expect(third.opened).to.equal(true);
    expect(third.batch.id).to.not.equal(first.batch.id);
    expect(third.member).to.deep.include({ batchId: third.batch.id, taskId: tasks[2]!.taskId, state: 'waiting' });
  });

  it('refuses a new batch to a task already moved out of more failed batches than allowed', async () => {
    const task = await newTask('rebatched', 'app/rebatch');
    const join = () => batches.join({ vendor: 'pinpoint', kind: 'export-segment', scope: 'app/rebatch', ...task, windowMs: 60_000, maxMembers: 10, maxRebatches: 1 });
    for (let failed = 0; failed < 2; failed++) {
      const joined = (await join())!;
      expect(joined.opened, `batch ${failed + 1}`).to.equal(true);
      await batches.start(joined.batch.id);
      await batches.fail(joined.batch.id, 'vendor said no');
    }
    expect(await join()).to.equal(undefined);
  });

  async function newTask(userId: string, resource: string): Promise<{ taskId: string; requestId: string }> {
    const id = randomUUID();
    const taskId = `${id}__pinpoint__find-endpoint`;
    await ledger.createRequest({
      id,
      regulation: 'gdpr',
      vendors: ['pinpoint'],
      subject: { userId },
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 86_400_000),
      tasks: [{ id: taskId, vendor: 'pinpoint', resource, action: 'find-endpoint', queue: 'pinpoint', jobName: 'find-endpoint' }],
      actor: 'test',
    });
    return { taskId, requestId: id };
  }
});
