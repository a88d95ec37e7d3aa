import { expect } from 'chai';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { SCHEMA_VERSION, migrate } from '../../src/ledger/migrations.js';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';

describe('Migrations on a Postgres server', () => {
  const opened: Database[] = [];
  after(async () => {
    await Promise.all(opened.map((db) => db.close()));
  });

  it('lets concurrent first migrations of an empty database all succeed, each version applied once (issue 23)', async function () {
    const url = await freshPostgresDatabase();
    if (!url) skipBecause(this, NO_POSTGRES);
    // Four processes booting at once on one empty database: each has its own pool.
    const dbs = await Promise.all([1, 2, 3, 4].map(() => openDatabase({ databaseUrl: url })));
    opened.push(...dbs);
    const applied = await Promise.all(dbs.map((db) => migrate(db)));
    const { rows } = await dbs[0].query<{ version: number; n: number }>(
      `SELECT version, count(*)::int AS n FROM schema_migrations GROUP BY version ORDER BY version`,
    );
    const latest = await migrate(dbs[0]);
    expect(latest, 'nothing left to apply').to.equal(0);
    expect(
      rows.every((r) => r.n === 1),
      'each version recorded once',
    ).to.equal(true);
    expect(
      applied.reduce((sum, n) => sum + n, 0),
      'all versions applied by one caller in total',
    ).to.equal(rows.length);
    expect(
      applied.filter((n) => n > 0),
      'one caller migrates, the others find it done',
    ).to.have.length(1);
    expect(rows.at(-1)?.version, 'the schema is at the latest version').to.equal(SCHEMA_VERSION);
  });
});
