import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { RequestLedger, outcomeOf } from '../../src/ledger/request-ledger.js';
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
  return { id: `${requestId}__pinpoint__t${n}`, vendor: 'pinpoint', resource: `app/a${n}`, action: 'delete-user-endpoints', queue: 'pinpoint', jobName: 'delete-user-endpoints' };
}

for (const backend of backends) {
  describe(`RequestLedger on ${backend.name}`, () => {
    let db: Database;
    let ledger: RequestLedger;

    before(async function () {
      const opened = await backend.open();
      // initdb/pg_ctl absent on this machine: counted as skipped, and as failed with CI=true.
      if (!opened) skipBecause(this, NO_POSTGRES);
      db = opened!;
      await migrate(db);
      ledger = new RequestLedger(db, createIdentityCipher(randomBytes(32)));
    });
    after(async () => db?.close());

    async function submit(overrides: Partial<Parameters<RequestLedger['createRequest']>[0]> = {}) {
      const id = randomUUID();
      return ledger.createRequest({
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
      const stored = await submit({ idempotencyKey: `stored-${key}` });
      const inputs = [0, 1, 2, 3].map((n) => {
        const id = randomUUID();
        return {
          id,
          idempotencyKey: n === 3 ? `stored-${key}` : n === 2 ? `${key}-0` : `${key}-${n}`,
          regulation: 'gdpr' as const,
          vendors: ['pinpoint' as const],
          subject: { userId: `bulk-person-${n}`, email: `bulk-person-${n}@example.org` },
          submittedAt: new Date(),
          dueAt: new Date(Date.now() + 30 * 86_400_000),
          tasks: [task(id, 1), { ...task(id, 2), initialState: 'skipped' as const, waitingReason: 'not configured' }],
          actor: 'bulk-test',
        };
      });
      const results = await ledger.createRequests(inputs);
      // A key repeated inside the bulk, or already stored, answers with the first request.
      expect(results.map((r) => r.created)).to.deep.equal([true, true, false, false]);
      expect(results[2]!.request.id).to.equal(inputs[0]!.id);
      expect(results[3]!.request.id).to.equal(stored.request.id);
      for (const [n, result] of results.slice(0, 2).entries()) {
        const { id } = inputs[n]!;
        expect(result.request).to.include({ id, status: 'received', regulation: 'gdpr' });
        expect(await ledger.loadSubject(id)).to.deep.equal(inputs[n]!.subject);
        const tasks = await ledger.getTasks(id);
        expect(tasks.map((t) => t.state)).to.deep.equal(['queued', 'skipped']);
        const trail = await ledger.auditTrail(id);
        expect(trail.map((e) => e.action)).to.deep.equal(['request.received']);
        expect(verifyChain(trail)).to.deep.equal([]);
      }
      await ledger.markEnqueuedMany(results.map((r) => r.request.id));
      expect((await ledger.getRequest(inputs[0]!.id))!.status).to.equal('in_progress');
      await ledger.settleRequest(inputs[0]!.id);
      expect(verifyChain(await ledger.auditTrail(inputs[0]!.id))).to.deep.equal([]);
    });

    it('stores identifiers sealed, never in clear, and opens them for a worker', async () => {
      const { request } = await submit();
      const { rows } = await db.query<{ sealed: string; lookup_hash: string }>(`SELECT sealed, lookup_hash FROM request_identities WHERE request_id = $1`, [request.id]);
      expect(rows).to.have.length(2);
      for (const row of rows) {
        expect(row.sealed).to.match(/^v1\./);
        expect(row.sealed).not.to.include('user');
        expect(row.lookup_hash).to.match(/^[0-9a-f]{64}$/);
      }
      expect(await ledger.loadSubject(request.id)).to.deep.equal({ userId: 'user-1', email: 'user1@example.com' });
    });

    it('returns the first request when the same idempotency key is submitted twice', async () => {
      const key = `key-${randomUUID()}`;
      const first = await submit({ idempotencyKey: key });
      const second = await submit({ idempotencyKey: key });
      expect(first.created).to.equal(true);
      expect(second.created).to.equal(false);
      expect(second.request.id).to.equal(first.request.id);
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE request_id = $1`, [second.request.id]);
      expect(rows[0]!.n).to.equal(2);
    });

    it('settles a request only when every task has ended, with the outcome the tasks give', async () => {
      const { request } = await submit();
      const [t1, t2] = await ledger.getTasks(request.id);
      await ledger.beginTask(t1!.id);
      await ledger.finishTask(t1!.id, 'succeeded', { endpointsDeleted: 2 });
      expect(await ledger.settleRequest(request.id)).to.equal(undefined);
      await ledger.beginTask(t2!.id);
      await ledger.failTask(t2!.id, 'Pinpoint answered 400 BadRequestException');
      expect(await ledger.settleRequest(request.id)).to.equal('completed_with_errors');
      expect((await ledger.getRequest(request.id))!.finishedAt).to.be.instanceOf(Date);
    });

    it('does not restart a settled task when its job is delivered again', async () => {
      const { request } = await submit();
      const [t1] = await ledger.getTasks(request.id);
      await ledger.beginTask(t1!.id);
      await ledger.finishTask(t1!.id, 'not_found', {});
      expect(await ledger.beginTask(t1!.id)).to.equal(undefined);
      expect((await ledger.getTask(t1!.id))!.state).to.equal('not_found');
    });

    it('reopens failed tasks for a retry and records the reason in the audit trail', async () => {
      const { request } = await submit();
      const tasks = await ledger.getTasks(request.id);
      for (const t of tasks) {
        await ledger.beginTask(t.id);
        await ledger.failTask(t.id, 'boom');
      }
      expect(await ledger.settleRequest(request.id)).to.equal('failed');
      const reopened = await ledger.reopenFailedTasks(request.id, 'operator:alice', 'vendor outage over');
      expect(reopened.map((t) => t.state)).to.deep.equal(['queued', 'queued']);
      expect((await ledger.getRequest(request.id))!.status).to.equal('in_progress');
      const trail = await ledger.auditTrail(request.id);
      expect(trail.map((e) => e.action)).to.include('request.retried');
      expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('vendor outage over');
    });

    it('pages requests newest first with an opaque cursor', async () => {
      for (let i = 0; i < 3; i++) await submit();
      const first = await ledger.listRequests({ limit: 2 });
      expect(first.requests).to.have.length(2);
      const second = await ledger.listRequests({ limit: 2, cursor: first.nextCursor });
      expect(second.requests[0]!.createdAt.getTime()).to.be.at.most(first.requests[1]!.createdAt.getTime());
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
