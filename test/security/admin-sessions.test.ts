import { expect } from 'chai';
import type { Request } from 'express';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { AdminSessions } from '../../src/dashboard/admin-sessions.js';
import type { Principal } from '../../src/api/auth.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

const HOUR = 3600_000;

/** Issue 25 §5: admin sessions live in the ledger, 8 h idle and 24 h in all, and end on logout. */
describe('Admin sessions', function () {
  this.timeout(60_000);
  let db: Database;
  let now: number;
  const principals = new Map<string, Principal>([
    ['on-call', { name: 'on-call', role: 'operator' }],
    ['auditor', { name: 'auditor', role: 'viewer' }],
  ]);
  let sessions: AdminSessions;

  before(async () => {
    db = await openDatabase({ pgliteDir: makeTestTempDir('erasure-sessions-') });
    await migrate(db);
  });
  beforeEach(() => {
    now = Date.parse('2026-12-07T09:00:00Z');
    sessions = new AdminSessions(db, principals, () => now);
  });
  after(async () => db?.close());

  it('keeps only a digest of the session id, never the id itself', async () => {
    const id = await sessions.create({ name: 'on-call', role: 'operator' });
    expect(id).to.match(/^[A-Za-z0-9_-]{43}$/);
    const { rows } = await db.query<{ id_hash: string }>(`SELECT id_hash FROM admin_sessions`);
    expect(rows.map((r) => r.id_hash)).to.not.include(id);
    expect(await sessions.principalOf(id)).to.deep.equal({ name: 'on-call', role: 'operator' });
  });

  it('ends a session idle for 8 hours, and keeps one in use', async () => {
    const idle = await sessions.create({ name: 'auditor', role: 'viewer' });
    const used = await sessions.create({ name: 'auditor', role: 'viewer' });
    now += 7 * HOUR;
    expect(await sessions.principalOf(used)).to.deep.equal({ name: 'auditor', role: 'viewer' });
    now += 1 * HOUR + 1;
    expect(await sessions.principalOf(idle), 'idle for 8 h').to.equal(undefined);
    expect(await sessions.principalOf(used), 'used an hour ago').to.deep.equal({ name: 'auditor', role: 'viewer' });
  });

  it('ends every session 24 hours after it began, however busy', async () => {
    const id = await sessions.create({ name: 'on-call', role: 'operator' });
    for (let h = 0; h < 23; h++) {
      now += HOUR;
      expect(await sessions.principalOf(id), `after ${h + 1} h`).to.not.equal(undefined);
    }
    now += HOUR;
    expect(await sessions.principalOf(id)).to.equal(undefined);
  });

  it('revokes on logout, and ends the sessions of a token removed from the configuration', async () => {
    const id = await sessions.create({ name: 'on-call', role: 'operator' });
    await sessions.revoke(id);
    expect(await sessions.principalOf(id)).to.equal(undefined);
    const other = await sessions.create({ name: 'auditor', role: 'viewer' });
    const without = new AdminSessions(db, new Map([['on-call', { name: 'on-call', role: 'operator' }]]), () => now);
    expect(await without.principalOf(other)).to.equal(undefined);
  });

  it('finds every session cookie a request carries, under either name, so two can be refused', () => {
    const req = {
      headers: { cookie: 'a=1; erasure_session=one; __Host-erasure_session=two; erasure_session=three' },
    } as unknown as Request;
    expect(sessions.idsIn(req)).to.deep.equal(['one', 'two', 'three']);
  });
});
