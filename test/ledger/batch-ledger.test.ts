import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { BatchLedger } from '../../src/ledger/batch-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { pinpointTaskRequest } from '../support/pinpoint-task-request.js';

describe('BatchLedger on a Postgres server (concurrent connections)', () => {
  let db: Database;
  let ledger: Ledger;
  let batches: BatchLedger;

  before(async function () {
    const url = await freshPostgresDatabase();
    // initdb/pg_ctl absent on this machine: counted as skipped, and as failed with CI=true.
    if (!url) skipBecause(this, NO_POSTGRES);
    db = await openDatabase({ databaseUrl: url });
    await migrate(db);
    ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
    batches = new BatchLedger(db);
  });
  after(async () => db?.close());

  it('gives a burst of first joiners of one scope one shared batch, not one batch each', async () => {
    const members = await Promise.all(Array.from({ length: 40 }, (_, n) => newTask(`burst-${n}`, 'app/burst')));
    const joined = await Promise.all(
      members.map((m) =>
        batches.join({
          vendor: 'pinpoint',
          kind: 'export-segment',
          scope: 'app/burst',
          taskId: m.taskId,
          requestId: m.requestId,
          windowMs: 60_000,
          maxMembers: 100,
        }),
      ),
    );
    expect(new Set(joined.map((j) => j!.batch.id)).size).to.equal(1);
    expect(joined.filter((j) => j!.opened)).to.have.length(1);
    expect((await batches.get(joined[0]!.batch.id))!.memberCount).to.equal(40);
  });

  it('keeps a task in its batch when it joins again, closes a batch as it fills, and opens the next', async () => {
    const tasks = await Promise.all([1, 2, 3].map(async (n) => newTask(`fill-${n}`, 'app/fill')));
    const join = (t: { taskId: string; requestId: string }, now = new Date()) =>
      batches.join({
        vendor: 'pinpoint',
        kind: 'export-segment',
        scope: 'app/fill',
        ...t,
        windowMs: 60_000,
        maxMembers: 2,
        now,
      });
    const first = (await join(tasks[0]))!;
    expect(first).to.deep.include({ opened: true });
    expect(first.batch).to.deep.include({ state: 'open', memberCount: 1 });
    expect((await join(tasks[0]))!.batch, 'joining again').to.deep.include({ id: first.batch.id, memberCount: 1 });
    const fillAt = new Date(Date.now() + 1000);
    const second = (await join(tasks[1], fillAt))!;
    expect(second).to.deep.include({ opened: false });
    expect(second.batch).to.deep.include({ id: first.batch.id, memberCount: 2 });
    expect(second.batch.closesAt.getTime(), 'full: it closes now, not at the end of its window').to.equal(
      fillAt.getTime(),
    );
    const third = (await join(tasks[2]))!;
    expect(third.opened).to.equal(true);
    expect(third.batch.id).to.not.equal(first.batch.id);
    expect(third.member).to.deep.include({ batchId: third.batch.id, taskId: tasks[2].taskId, state: 'waiting' });
  });

  it('refuses a new batch to a task already moved out of more failed batches than allowed', async () => {
    const task = await newTask('rebatched', 'app/rebatch');
    const join = () =>
      batches.join({
        vendor: 'pinpoint',
        kind: 'export-segment',
        scope: 'app/rebatch',
        ...task,
        windowMs: 60_000,
        maxMembers: 10,
        maxRebatches: 1,
      });
    for (let failed = 0; failed < 2; failed++) {
      const joined = (await join())!;
      expect(joined.opened, `batch ${failed + 1}`).to.equal(true);
      await batches.start(joined.batch.id);
      await batches.fail(joined.batch.id, 'vendor said no');
    }
    expect(await join()).to.equal(undefined);
  });

  it('takes members into a reopened batch, and into a running one when they ask to, carrying those that joined during its last run into a new batch', async () => {
    const [early, duringRun, separate, whileOpen, duringLastRun] = await Promise.all(
      ['early', 'during-run', 'separate', 'while-open', 'during-last-run'].map((n) =>
        newTask(`reopen-${n}`, 'app/reopen'),
      ),
    );
    const join = (t: { taskId: string; requestId: string }, joinWhileRunning = false) =>
      batches.join({
        vendor: 'amplitude',
        kind: 'amplitude-poll-deletions',
        scope: 'app/reopen',
        ...t,
        windowMs: 60_000,
        maxMembers: 10,
        joinWhileRunning,
      });
    const batchId = (await join(early))!.batch.id;
    await batches.start(batchId);
    expect((await join(duringRun, true))!.batch.id, 'asked to join while it runs').to.equal(batchId);
    expect((await join(separate))!.batch.id, 'a running batch takes no one else').to.not.equal(batchId);

    const closesAt = new Date(Date.now() + 5000);
    await batches.reopen(batchId, { polls: 1 }, closesAt);
    expect(await batches.get(batchId)).to.deep.include({ state: 'open', closesAt, evidence: { polls: 1 } });
    expect((await join(whileOpen))!).to.deep.include({ opened: false });

    await batches.start(batchId);
    const ranWith = (await batches.members(batchId)).map((m) => m.taskId);
    expect(ranWith).to.deep.equal([early.taskId, duringRun.taskId, whileOpen.taskId]);
    await join(duringLastRun, true);
    const results = new Map(ranWith.map((taskId) => [taskId, { state: 'done' as const, result: { ok: true } }]));
    const { completed, carriedTo } = await batches.complete(batchId, { polls: 2 }, results, ranWith);
    expect(completed).to.equal(true);
    expect(carriedTo).to.deep.include({
      state: 'open',
      kind: 'amplitude-poll-deletions',
      scope: 'app/reopen',
      memberCount: 1,
    });
    expect(carriedTo!.id).to.not.equal(batchId);
    expect((await batches.get(batchId))!.memberCount, 'the ended batch counts the members it served').to.equal(3);
    expect((await join(duringLastRun, true))!.member, 'its membership moved to the new batch').to.deep.include({
      batchId: carriedTo!.id,
      state: 'waiting',
    });
    expect((await join(early, true))!.member).to.deep.include({ batchId, state: 'done', result: { ok: true } });

    await batches.reopen(batchId, { polls: 3 }, closesAt);
    expect(await batches.get(batchId), 'an ended batch stays ended').to.deep.include({
      state: 'done',
      evidence: { polls: 2 },
    });
    expect((await batches.complete(batchId, {}, new Map(), [])).completed, 'and is completed once').to.equal(false);
  });

  it('runs one batch of a scope at a time when asked (startAlone): the next stays open, takes every later member, and starts once the first has ended', async () => {
    const [first, second, later, third] = await Promise.all(
      ['first', 'second', 'later', 'third'].map((n) => newTask(`alone-${n}`, 'location/alone')),
    );
    const join = (t: { taskId: string; requestId: string }) =>
      batches.join({
        vendor: 's3',
        kind: 'scan-s3-prefix',
        scope: 'location/alone',
        ...t,
        windowMs: 1000,
        maxMembers: 100,
      });
    const a = (await join(first))!.batch.id;
    const running = await batches.startAlone(a, 1000);
    expect(running && 'batch' in running && running.batch.state, 'the first of its scope starts').to.equal('running');
    const b = (await join(second))!.batch.id;
    expect(b, 'a running batch takes no one else').to.not.equal(a);
    // Both runs of b's job at once, from two processes: neither starts while a runs.
    const now = new Date();
    const busy = await Promise.all([batches.startAlone(b, 5000, now), batches.startAlone(b, 5000, now)]);
    for (const answer of busy) expect(answer).to.deep.equal({ busyUntil: new Date(now.getTime() + 5000) });
    expect(await batches.get(b), 'still open, its close moved on').to.deep.include({
      state: 'open',
      closesAt: new Date(now.getTime() + 5000),
      attempts: 0,
    });
    expect((await join(later))!.batch.id, 'a member arriving meanwhile joins the waiting batch').to.equal(b);
    // Another scope is not held up.
    const other = await newTask('alone-other', 'location/other');
    const o = (await batches.join({
      vendor: 's3',
      kind: 'scan-s3-prefix',
      scope: 'location/other',
      ...other,
      windowMs: 1000,
      maxMembers: 100,
    }))!.batch.id;
    expect(await batches.startAlone(o, 1000)).to.have.property('batch');

    await batches.complete(a, {}, new Map([[first.taskId, { state: 'done' as const, result: {} }]]), [first.taskId]);
    const starts = await Promise.all([batches.startAlone(b, 1000), batches.startAlone(b, 1000)]);
    expect(
      starts.map((s) => s && 'batch' in s && s.batch.state),
      'it starts now (a second job run of it goes on with it)',
    ).to.deep.equal(['running', 'running']);
    expect((await batches.members(b)).map((m) => m.taskId)).to.deep.equal([second.taskId, later.taskId]);
    const c = (await join(third))!.batch.id;
    expect(await batches.startAlone(c, 1000), 'while b runs, the next waits in its turn').to.have.property('busyUntil');
    expect(await batches.startAlone(randomUUID(), 1000), 'an unknown or ended batch').to.equal(undefined);
  });

  async function newTask(userId: string, resource: string): Promise<{ taskId: string; requestId: string }> {
    const id = randomUUID();
    const request = pinpointTaskRequest({ id, userId, resource, action: 'find-endpoint', jobName: 'find-endpoint' });
    await ledger.requests.createRequest(request);
    const taskId = request.tasks[0].id;
    return { taskId, requestId: id };
  }
});
