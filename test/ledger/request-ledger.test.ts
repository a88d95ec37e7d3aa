import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { outcomeOf } from '../../src/ledger/requests-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import type { TaskSpec } from '../../src/ledger/ledger-types.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { verifyChain } from '../../src/receipts/audit-chain.js';

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

function task(requestId: string, n: number): TaskSpec {
  return {
    id: `${requestId}__pinpoint__t${n}`,
    vendor: 'pinpoint',
    resource: `app/a${n}`,
    action: 'delete-user-endpoints',
    queue: 'pinpoint',
    jobName: 'delete-user-endpoints',
  };
}

for (const backend of backends) {
  describe(`Ledger on ${backend.name}`, () => {
    let db: Database;
    let ledger: Ledger;

    before(async function () {
      const opened = await backend.open();
      // initdb/pg_ctl absent on this machine: counted as skipped, and as failed with CI=true.
      if (!opened) skipBecause(this, NO_POSTGRES);
      db = opened!;
      await migrate(db);
      ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
    });
    after(async () => db?.close());

    async function submit(overrides: Partial<Parameters<Ledger['requests']['createRequest']>[0]> = {}) {
      const id = randomUUID();
      return ledger.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['pinpoint'],
        subject: { userId: 'user-1', email: 'user1@example.com' },
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 30 * 86_400_000),
        tasks: [task(id, 1), task(id, 2)],
        actor: 'test',
        ...overrides,
      });
    }

    it('applies migrations once, so a second boot changes nothing', async () => {
      expect(await migrate(db)).to.equal(0);
    });

    it('commits a bulk of requests in one call with the same rows, tasks, sealed identities and audit chain as one at a time', async () => {
      const key = `bulk-${randomUUID()}`;
      // Same client as the bulk (keys are per client), and the repeats carry their key's payload (issue 22).
      const stored = await submit({ idempotencyKey: `stored-${key}`, actor: 'bulk-test' });
      const subjectOf = (n: number) =>
        n === 3
          ? { userId: 'user-1', email: 'user1@example.com' }
          : { userId: `bulk-person-${n % 2}`, email: `bulk-person-${n % 2}@example.org` };
      const inputs = [0, 1, 2, 3].map((n) => {
        const id = randomUUID();
        return {
          id,
          idempotencyKey: n === 3 ? `stored-${key}` : n === 2 ? `${key}-0` : `${key}-${n}`,
          regulation: 'gdpr' as const,
          vendors: ['pinpoint' as const],
          subject: subjectOf(n),
          submittedAt: new Date(),
          dueAt: new Date(Date.now() + 30 * 86_400_000),
          tasks: [task(id, 1), { ...task(id, 2), initialState: 'skipped' as const, waitingReason: 'not configured' }],
          actor: 'bulk-test',
        };
      });
      const results = await ledger.requests.createRequests(inputs);
      // A key repeated inside the bulk, or already stored, answers with the first request.
      expect(results.map((r) => r.created)).to.deep.equal([true, true, false, false]);
      expect(results[2].request.id).to.equal(inputs[0].id);
      expect(results[3].request.id).to.equal(stored.request.id);
      for (const [n, result] of results.slice(0, 2).entries()) {
        const { id } = inputs[n];
        expect(result.request).to.include({ id, status: 'received', regulation: 'gdpr' });
        expect(await ledger.vault.loadSubject(id)).to.deep.equal(inputs[n].subject);
        const tasks = await ledger.tasks.getTasks(id);
        expect(tasks.map((t) => t.state)).to.deep.equal(['queued', 'skipped']);
        const trail = await ledger.audit.auditTrail(id);
        expect(trail.map((e) => e.action)).to.deep.equal(['request.received']);
        expect(verifyChain(trail)).to.deep.equal([]);
      }
      await ledger.requests.markEnqueuedMany(results.map((r) => r.request.id));
      expect((await ledger.requests.getRequest(inputs[0].id))!.status).to.equal('in_progress');
      await ledger.requests.settleRequest(inputs[0].id);
      expect(verifyChain(await ledger.audit.auditTrail(inputs[0].id))).to.deep.equal([]);
    });

    it('stores identifiers sealed, never in clear, and opens them for a worker', async () => {
      const { request } = await submit();
      const { rows } = await db.query<{ sealed: string; lookup_hash: string }>(
        `SELECT sealed, lookup_hash FROM request_identities WHERE request_id = $1`,
        [request.id],
      );
      expect(rows).to.have.length(2);
      for (const row of rows) {
        expect(row.sealed).to.match(/^v1\./);
        expect(row.sealed).not.to.include('user');
        expect(row.lookup_hash).to.match(/^[0-9a-f]{64}$/);
      }
      expect(await ledger.vault.loadSubject(request.id)).to.deep.equal({
        userId: 'user-1',
        email: 'user1@example.com',
      });
    });

    it('returns the first request when the same idempotency key is submitted twice', async () => {
      const key = `key-${randomUUID()}`;
      const first = await submit({ idempotencyKey: key });
      const second = await submit({ idempotencyKey: key });
      expect(first.created).to.equal(true);
      expect(second.created).to.equal(false);
      expect(second.request.id).to.equal(first.request.id);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE request_id = $1`, [
        second.request.id,
      ]);
      expect(rows[0].n).to.equal(2);
    });

    it('settles a request only when every task has ended, with the outcome the tasks give', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      await ledger.tasks.finishTask(t1.id, 'succeeded', { endpointsDeleted: 2 });
      expect(await ledger.requests.settleRequest(request.id)).to.equal(undefined);
      await ledger.tasks.beginTask(t2.id);
      await ledger.tasks.failTask(t2.id, 'Pinpoint answered 400 BadRequestException');
      expect(await ledger.requests.settleRequest(request.id)).to.equal('completed_with_errors');
      expect((await ledger.requests.getRequest(request.id))!.finishedAt).to.be.instanceOf(Date);
    });

    it('says whether a finish ended its request’s last open task, and settles concurrent last finishes together, each with its own outcome and a chain that verifies', async () => {
      const { request: open } = await submit();
      const [o1] = await ledger.tasks.getTasks(open.id);
      await ledger.tasks.beginTask(o1.id);
      expect(await ledger.tasks.finishTask(o1.id, 'succeeded', {})).to.deep.equal({
        applied: true,
        state: 'succeeded',
        lastOpen: false,
      });
      const singles = await Promise.all(
        [0, 1, 2, 3].map(async () => {
          const id = randomUUID();
          return (await submit({ id, tasks: [task(id, 1)] })).request.id;
        }),
      );
      const ended: string[] = [];
      for (const [i, requestId] of singles.entries()) {
        const [t] = await ledger.tasks.getTasks(requestId);
        await ledger.tasks.beginTask(t.id);
        if (i === 3) {
          await ledger.tasks.failTask(t.id, 'Pinpoint answered 400 BadRequestException');
          continue;
        }
        const finished = await ledger.tasks.finishTask(t.id, i === 2 ? 'not_found' : 'succeeded', {
          endpointsDeleted: i,
        });
        expect(finished.lastOpen).to.equal(true);
        ended.push(requestId);
      }
      // All at once: the calls that arrive while the first settles go together in the next transaction.
      const settled = await Promise.all([...singles, open.id].map((id) => ledger.requests.settleEnded(id)));
      expect(settled).to.deep.equal(['completed', 'completed', 'completed', 'failed', undefined]);
      expect(await ledger.requests.settleEnded(singles[0]), 'settling again changes nothing').to.equal('completed');
      for (const id of singles) {
        const trail = await ledger.audit.auditTrail(id);
        expect(verifyChain(trail)).to.deep.equal([]);
        expect(trail.filter((e) => e.action === 'request.settled')).to.have.length(1);
        expect((await ledger.requests.getRequest(id))!.finishedAt).to.be.instanceOf(Date);
      }
      expect((await ledger.requests.getRequest(open.id))!.status).to.equal('in_progress');
    });

    it('begins concurrent job runs of in-progress requests together, each with its own person, and a task run twice at once counts two attempts', async () => {
      const made = await Promise.all(
        ['user-7', 'user-8', 'user-9'].map(async (userId) => {
          const id = randomUUID();
          await submit({ id, subject: { userId }, tasks: [task(id, 1)] });
          return { id, userId, taskId: task(id, 1).id };
        }),
      );
      await ledger.requests.markEnqueuedMany(made.map((m) => m.id));
      const begun = await Promise.all(
        [...made.map((m) => m.taskId), made[2].taskId].map((taskId) => ledger.tasks.beginTask(taskId)),
      );
      expect(begun.map((b) => b?.subject.userId)).to.deep.equal(['user-7', 'user-8', 'user-9', 'user-9']);
      expect(begun.map((b) => b?.task.state)).to.deep.equal(['running', 'running', 'running', 'running']);
      expect((await ledger.tasks.getTask(made[2].taskId))!.attempts).to.equal(2);
      expect((await ledger.tasks.getTask(made[0].taskId))!.attempts).to.equal(1);
    });

    it('checkpoints and finishes concurrent runs together, each on its own task, and refuses the second finish of one task', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      await Promise.all([t1, t2].map((t) => ledger.tasks.beginTask(t.id)));
      const saved = await Promise.all([
        ledger.tasks.checkpointTask(t1.id, { endpointsFound: 1 }),
        ledger.tasks.checkpointTask(t2.id, { endpointsFound: 2 }),
        ledger.tasks.checkpointTask(t1.id, { endpointIds: ['e1'] }),
      ]);
      expect(saved.map((w) => w.applied)).to.deep.equal([true, true, true]);
      const finished = await Promise.all([
        ledger.tasks.finishTask(t1.id, 'succeeded', { endpointsDeleted: 1 }),
        ledger.tasks.finishTask(t2.id, 'not_found', {}),
        ledger.tasks.finishTask(t1.id, 'not_found', {}),
      ]);
      expect(finished.map((w) => [w.applied, w.state])).to.deep.equal([
        [true, 'succeeded'],
        [true, 'not_found'],
        [false, 'succeeded'],
      ]);
      const after = await ledger.tasks.getTasks(request.id);
      expect(after.find((t) => t.id === t1.id)!.evidence).to.deep.include({
        endpointsFound: 1,
        endpointIds: ['e1'],
        endpointsDeleted: 1,
      });
      expect(after.find((t) => t.id === t2.id)!.evidence).to.deep.include({ endpointsFound: 2 });
      // Whichever finish saw its sibling still open, the request settles once both have ended.
      expect(await ledger.requests.settleRequest(request.id)).to.equal('completed');
    });

    it('does not restart a settled task when its job is delivered again', async () => {
      const { request } = await submit();
      const [t1] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      await ledger.tasks.finishTask(t1.id, 'not_found', {});
      expect(await ledger.tasks.beginTask(t1.id)).to.equal(undefined);
      expect((await ledger.tasks.getTask(t1.id))!.state).to.equal('not_found');
    });

    it('reopens failed tasks for a retry and records the reason in the audit trail', async () => {
      const { request } = await submit();
      const tasks = await ledger.tasks.getTasks(request.id);
      for (const t of tasks) {
        await ledger.tasks.beginTask(t.id);
        await ledger.tasks.failTask(t.id, 'boom');
      }
      expect(await ledger.requests.settleRequest(request.id)).to.equal('failed');
      const reopened = await ledger.tasks.reopenFailedTasks(request.id, 'operator:alice', 'vendor outage over');
      expect(reopened.map((t) => t.state)).to.deep.equal(['queued', 'queued']);
      expect((await ledger.requests.getRequest(request.id))!.status).to.equal('in_progress');
      const trail = await ledger.audit.auditTrail(request.id);
      expect(trail.map((e) => e.action)).to.include('request.retried');
      expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('vendor outage over');
    });

    it('refuses, and says so, every late write to a task a cancel withdrew (src/ledger/task-transitions.ts)', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      const cancel = await ledger.requests.cancelRequest(request.id, 'operator:alice', 'withdrawn');
      expect(cancel!.started.map((t) => t.id)).to.deep.equal([t1.id]);
      expect(await ledger.tasks.cancelStartedTask(t1.id, { withdrawn: true })).to.deep.equal({
        applied: true,
        state: 'cancelled',
      });
      const lost = { applied: false, state: 'cancelled' };
      expect(
        await ledger.tasks.deferTask(t1.id, { state: 'waiting_vendor', reason: 'polling', evidence: { late: true } }),
      ).to.deep.equal(lost);
      expect(await ledger.tasks.finishTask(t1.id, 'succeeded', { late: true })).to.deep.equal(lost);
      expect(await ledger.tasks.failTask(t1.id, 'late')).to.deep.equal(lost);
      expect(await ledger.tasks.checkpointTask(t1.id, { late: true })).to.deep.equal(lost);
      expect(await ledger.tasks.beginTask(t1.id)).to.equal(undefined);
      expect(await ledger.tasks.cancelStartedTask(t2.id, {})).to.deep.equal(lost); // cancelled before it started
      expect(await ledger.tasks.failTask('no-such-task', 'x')).to.deep.equal({ applied: false, state: undefined });
      const task = (await ledger.tasks.getTask(t1.id))!;
      expect(task.state).to.equal('cancelled');
      expect(task.evidence).to.deep.equal({ withdrawn: true });
      expect(task.error).to.equal(null);
    });

    it('closes a failed task by an operator’s decision through the transition table: reopens and settles the request with errors, refuses a task not failed', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      await ledger.tasks.finishTask(t1.id, 'succeeded', { verification: 'read_back_absent' });
      await ledger.tasks.beginTask(t2.id);
      await ledger.tasks.failTask(t2.id, 'Pinpoint answered 400 BadRequestException');
      expect(await ledger.requests.settleRequest(request.id)).to.equal('completed_with_errors');
      expect(
        await ledger.tasks.decideFailedTask(request.id, t1.id, 'skipped', 'token:oncall', 'not failed'),
      ).to.deep.equal({ applied: false, state: 'succeeded' });
      const decided = await ledger.tasks.decideFailedTask(
        request.id,
        t2.id,
        'resolved',
        'token:oncall',
        'deleted by vendor support, case 12',
      );
      expect(decided).to.deep.include({ applied: true, state: 'succeeded' });
      expect(decided.task!.error).to.equal(null);
      expect(decided.task!.evidence).to.deep.include({
        verification: 'unverifiable',
        unverifiableReason: 'operator_decision',
      });
      expect(decided.task!.evidence.operatorDecision).to.deep.include({
        decision: 'resolved',
        by: 'token:oncall',
        reason: 'deleted by vendor support, case 12',
        failedWith: 'Pinpoint answered 400 BadRequestException',
      });
      expect(
        (await ledger.requests.getRequest(request.id))!.status,
        'reopened so that settling counts the decision',
      ).to.equal('in_progress');
      expect(
        await ledger.requests.settleRequest(request.id),
        'every task succeeded, one only by a decision: not a clean completed',
      ).to.equal('completed_with_errors');
      expect(await ledger.tasks.decideFailedTask(request.id, t2.id, 'skipped', 'token:oncall', 'again')).to.deep.equal({
        applied: false,
        state: 'succeeded',
      });
      const trail = await ledger.audit.auditTrail(request.id);
      // The reason's digest is chained; the readable trail shows the text beside it (DESIGN.md Invariant 13).
      const resolved = trail.filter((e) => e.action === 'task.resolved');
      expect(resolved.map((e) => e.detail)).to.deep.equal([
        {
          taskId: t2.id,
          vendor: 'pinpoint',
          decision: 'resolved',
          reason: 'deleted by vendor support, case 12',
          reasonSha256: resolved[0].detail.reasonSha256,
        },
      ]);
      expect(resolved[0].detail.reasonSha256).to.be.a('string');
      expect(verifyChain(trail)).to.deep.equal([]);
    });

    it('cancels a manual step not yet sent, and leaves one already sent open, saying so (TASK_TRANSITIONS keepSentOnCancel)', async () => {
      const id = randomUUID();
      const manual = (n: number): TaskSpec => ({
        ...task(id, n),
        vendor: 'segment',
        queue: 'segment',
        jobName: 'manual',
        action: 'request-space-deletion',
        initialState: 'waiting_manual',
        waitingReason: 'e-mail Segment',
      });
      const { request } = await submit({ id, vendors: ['segment'], tasks: [manual(1), manual(2)] });
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      const sent = await ledger.tasks.markManualTaskSent(request.id, t1.id, 'token:oncall', {
        at: new Date('2026-11-01T10:00:00Z'),
        reference: 'CS-1',
      });
      expect(sent!.evidence.sent).to.deep.equal({
        at: '2026-11-01T10:00:00.000Z',
        by: 'token:oncall',
        reference: 'CS-1',
      });
      expect(
        await ledger.tasks.markManualTaskSent(request.id, t1.id, 'token:oncall', { at: new Date(), reference: 'CS-2' }),
        'sent once',
      ).to.equal(undefined);
      const cancel = await ledger.requests.cancelRequest(request.id, 'operator:alice', 'withdrawn');
      expect(cancel!.cancelled.map((t) => t.id)).to.deep.equal([t2.id]);
      expect(cancel!.sent.map((t) => t.id)).to.deep.equal([t1.id]);
      const kept = (await ledger.tasks.getTask(t1.id))!;
      expect(kept.state).to.equal('waiting_manual');
      expect(kept.waitingReason).to.include('cannot be cancelled');
      expect(kept.evidence.cancelAfterSent).to.deep.include({ withdrawn: false });
      expect(await ledger.requests.settleRequest(request.id)).to.equal(undefined);
      expect(await ledger.tasks.completeManualTask(request.id, t1.id, 'token:oncall', 'vendor confirmed')).to.include({
        state: 'succeeded',
      });
      expect(await ledger.requests.settleRequest(request.id)).to.equal('cancelled');
      expect(verifyChain(await ledger.audit.auditTrail(request.id))).to.deep.equal([]);
    });

    it('does not revive a cancelled request by retrying its failed tasks', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      await ledger.tasks.beginTask(t2.id);
      await ledger.requests.cancelRequest(request.id, 'operator:alice', 'withdrawn');
      // Neither could be withdrawn: both run to their end, one fails.
      await ledger.tasks.finishTask(t1.id, 'succeeded', {});
      await ledger.tasks.failTask(t2.id, 'Pinpoint answered 400 BadRequestException');
      expect(await ledger.requests.settleRequest(request.id)).to.equal('cancelled');
      expect(await ledger.tasks.reopenFailedTasks(request.id, 'operator:alice', 'try again')).to.deep.equal([]);
      expect((await ledger.tasks.getTask(t2.id))!.state).to.equal('failed');
      expect((await ledger.requests.getRequest(request.id))!.status).to.equal('cancelled');
    });

    it('ends a cancelled request (finished_at) when nothing had started, or once its last started task ends, so it is shredded on schedule', async () => {
      const { request: idle } = await submit();
      await ledger.requests.cancelRequest(idle.id, 'operator:alice', 'withdrawn');
      expect((await ledger.requests.getRequest(idle.id))!.finishedAt).to.be.an.instanceOf(Date);

      const { request } = await submit();
      const [t1] = await ledger.tasks.getTasks(request.id);
      await ledger.tasks.beginTask(t1.id);
      await ledger.requests.cancelRequest(request.id, 'operator:alice', 'withdrawn');
      expect((await ledger.requests.getRequest(request.id))!.finishedAt).to.equal(null);
      await ledger.tasks.finishTask(t1.id, 'succeeded', {});
      expect(await ledger.queries.unsettledRequests(1000)).to.include(request.id);
      expect(await ledger.requests.settleRequest(request.id)).to.equal('cancelled');
      expect((await ledger.requests.getRequest(request.id))!.finishedAt).to.be.an.instanceOf(Date);
      expect(await ledger.queries.unsettledRequests(1000)).to.not.include(request.id);
      expect(await ledger.vault.shredIdentities(new Date(Date.now() + 60_000))).to.be.at.least(2);
      expect(await ledger.vault.loadSubject(request.id)).to.deep.equal({});
    });

    it('pages requests newest first with an opaque cursor', async () => {
      for (let i = 0; i < 3; i++) await submit();
      const first = await ledger.requests.listRequests({ limit: 2 });
      expect(first.requests).to.have.length(2);
      const second = await ledger.requests.listRequests({ limit: 2, cursor: first.nextCursor });
      expect(second.requests[0].createdAt.getTime()).to.be.at.most(first.requests[1].createdAt.getTime());
      expect(second.requests.map((r) => r.id)).not.to.include.members(first.requests.map((r) => r.id));
    });
  });
}

describe('outcomeOf', () => {
  it('says completed when nothing failed, failed when everything failed, and completed_with_errors in between', () => {
    expect(outcomeOf(['succeeded', 'not_found', 'skipped'])).to.equal('completed');
    expect(outcomeOf(['failed', 'failed'])).to.equal('failed');
    expect(outcomeOf(['failed', 'succeeded'])).to.equal('completed_with_errors');
    expect(outcomeOf([])).to.equal('completed');
  });

  it('says completed_with_errors when a task succeeded only in part', () => {
    expect(outcomeOf(['succeeded', 'succeeded'], 1)).to.equal('completed_with_errors');
    expect(outcomeOf(['succeeded'], 0)).to.equal('completed');
  });
});
