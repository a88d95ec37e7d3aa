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
    const members = await Promise.all(
      Array.from({ length: 40 }, async (_, n) => {
        const id = randomUUID();
        const taskId = `${id}__pinpoint__find-endpoint`;
        await ledger.createRequest({
          id,
          regulation: 'gdpr',
          vendors: ['pinpoint'],
          subject: { userId: `burst-${n}` },
          submittedAt: new Date(),
          dueAt: new Date(Date.now() + 86_400_000),
          tasks: [{ id: taskId, vendor: 'pinpoint', resource: 'app/burst', action: 'find-endpoint', queue: 'pinpoint', jobName: 'find-endpoint' }],
          actor: 'test',
        });
        return { taskId, requestId: id };
      }),
    );
    const joined = await Promise.all(
      members.map((m) => batches.join({ vendor: 'pinpoint', kind: 'export-segment', scope: 'app/burst', taskId: m.taskId, requestId: m.requestId, windowMs: 60_000, maxMembers: 100 })),
    );
    expect(new Set(joined.map((j) => j.batch.id)).size).to.equal(1);
    expect(joined.filter((j) => j.opened)).to.have.length(1);
    expect((await batches.get(joined[0]!.batch.id))!.memberCount).to.equal(40);
  });
});
