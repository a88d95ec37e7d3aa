import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { createLedger, type Ledger } from '../../src/ledger/ledger.js';
import { reopenRequestIn } from '../../src/ledger/requests-ledger.js';
import type { StatusChange } from '../../src/ledger/ledger-types.js';
import type { StatusChangeOutlet } from '../../src/ledger/status-changes.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';

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

for (const backend of backends) {
  describe(`Status changes are published after the commit, on ${backend.name}`, () => {
    let db: Database;
    let ledger: Ledger;
    /** What the outlet saw: rows recorded inside transactions, changes published after, and the status the store held at publication. */
    let recorded: string[];
    let published: Array<{ change: StatusChange; committedStatus: string | undefined }>;
    let failRecord: boolean;
    const toClose: Database[] = [];

    before(async function () {
      const opened = await backend.open();
      if (!opened) skipBecause(this, NO_POSTGRES);
      db = opened!;
      toClose.push(db);
      await migrate(db);
      await db.exec(`CREATE TABLE outlet_rows (request_id uuid, status text)`);
      const outlet: StatusChangeOutlet = {
        record: async (tx, changes) => {
          if (failRecord) throw new Error('outbox write failed');
          for (const change of changes) {
            await tx.query(`INSERT INTO outlet_rows (request_id, status) VALUES ($1, $2)`, [
              change.request.id,
              change.to,
            ]);
            recorded.push(`${change.from}->${change.to}`);
          }
        },
        publish: async (change) => {
          // Read through the store, outside the write's transaction: only a committed change is visible.
          const { rows } = await db.query<{ status: string }>(`SELECT status FROM requests WHERE id = $1`, [
            change.request.id,
          ]);
          published.push({ change, committedStatus: rows.at(0)?.status });
        },
      };
      ledger = createLedger(db, createIdentityCipher(randomBytes(32)), outlet);
    });
    beforeEach(() => {
      recorded = [];
      published = [];
      failRecord = false;
    });
    after(async () => {
      await Promise.all(toClose.map((d) => d.close()));
    });

    async function submit(): Promise<string> {
      const id = randomUUID();
      const task = {
        id: `${id}__pinpoint__t`,
        vendor: 'pinpoint' as const,
        resource: 'app/a',
        action: 'delete-user-endpoints',
        queue: 'pinpoint',
        jobName: 'delete-user-endpoints',
      };
      await ledger.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['pinpoint'],
        subject: { userId: `user-${id}` },
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 86_400_000),
        tasks: [task],
        actor: 'test',
      });
      return id;
    }

    const outletRows = async (id: string) =>
      (await db.query<{ status: string }>(`SELECT status FROM outlet_rows WHERE request_id = $1`, [id])).rows.map(
        (r) => r.status,
      );

    it('publishes exactly the changes of a committed write, once, after its commit, with their outbox rows committed', async () => {
      const id = await submit();
      expect(published, 'creating a request is not a status change').to.deep.equal([]);
      await ledger.requests.markEnqueued(id);
      expect(recorded).to.deep.equal(['received->in_progress']);
      expect(published.map((p) => [p.change.request.id, p.change.from, p.change.to])).to.deep.equal([
        [id, 'received', 'in_progress'],
      ]);
      expect(published[0].committedStatus, 'published after the commit').to.equal('in_progress');
      expect(await outletRows(id)).to.deep.equal(['in_progress']);

      await ledger.requests.markEnqueued(id);
      expect(published, 'a write that changes nothing publishes nothing').to.have.length(1);
    });

    it('publishes nothing, and keeps no outbox row, when the transaction rolls back', async () => {
      const id = await submit();
      await ledger.requests.markEnqueued(id);
      await ledger.tasks.beginTask(`${id}__pinpoint__t`);
      await ledger.tasks.finishTask(`${id}__pinpoint__t`, 'succeeded', {});
      expect(await ledger.requests.settleRequest(id)).to.equal('completed');
      published = [];
      recorded = [];

      const failure = await ledger.work
        .run(async (tx) => {
          const reopened = await reopenRequestIn(tx, id);
          expect(
            reopened.changes.map((c) => `${c.from}->${c.to}`),
            'the write returns the change it made',
          ).to.deep.equal(['completed->in_progress']);
          throw new Error('a later step of the same unit of work failed');
        })
        .catch((err: unknown) => err);
      expect((failure as Error).message).to.equal('a later step of the same unit of work failed');
      expect(published, 'nothing published').to.deep.equal([]);
      expect((await ledger.requests.getRequest(id))!.status, 'rolled back').to.equal('completed');
      expect(await outletRows(id)).to.deep.equal(['in_progress', 'completed']);
    });

    it('fails the write, and publishes nothing, when recording its changes fails', async () => {
      const id = await submit();
      failRecord = true;
      const failure = await ledger.requests.markEnqueued(id).catch((err: unknown) => err);
      expect((failure as Error).message).to.equal('outbox write failed');
      expect(published).to.deep.equal([]);
      expect((await ledger.requests.getRequest(id))!.status).to.equal('received');
    });

    it('commits the write even when publishing fails: publication is after the commit and never undoes it', async () => {
      const failing = createLedger(db, createIdentityCipher(randomBytes(32)), {
        publish: () => {
          throw new Error('listener failed');
        },
      });
      const id = randomUUID();
      await failing.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['pinpoint'],
        subject: { userId: 'user-x' },
        submittedAt: new Date(),
        dueAt: new Date(),
        tasks: [],
        actor: 'test',
      });
      await failing.requests.markEnqueued(id);
      expect((await failing.requests.getRequest(id))!.status).to.equal('in_progress');
    });
  });
}
