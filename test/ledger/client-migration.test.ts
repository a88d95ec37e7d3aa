import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { createLedger } from '../../src/ledger/ledger.js';
import { createIdentityCipher, type IdentityCipher } from '../../src/privacy/identity-cipher.js';
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

/** Migration 7 (issue 22): what requests made before clients existed become, and how their keys are then compared. */
for (const backend of backends) {
  describe(`Migration 7 (requests get a client) on ${backend.name}`, () => {
    let db: Database;
    let cipher: IdentityCipher;
    const ids = { portal: randomUUID(), controller: randomUUID(), orphan: randomUUID() };

    before(async function () {
      const opened = await backend.open();
      if (!opened) skipBecause(this, NO_POSTGRES);
      db = opened!;
      cipher = createIdentityCipher(randomBytes(32));
      expect(await migrate(db, 6)).to.equal(6);
      // Rows as the code before migration 7 wrote them: a global key, no client, no fingerprint.
      const old = async (id: string, key: string | null, actor: string | null, subrequest?: string) => {
        await db.query(
          `INSERT INTO requests (id, idempotency_hash, regulation, status, vendors, subject_hash, submitted_at, due_at, origin)
           VALUES ($1, $2, 'gdpr', 'completed', ARRAY['pinpoint'], $3, now(), now() + interval '30 days', $4)`,
          [
            id,
            key ? cipher.lookupHash('idempotency-key', key) : null,
            cipher.lookupHash('userId', 'user-1'),
            subrequest ? 'opendsr' : 'native',
          ],
        );
        await db.query(
          `INSERT INTO request_identities (request_id, kind, lookup_hash, sealed) VALUES ($1, 'userId', $2, $3)`,
          [id, cipher.lookupHash('userId', 'user-1'), cipher.seal('user-1')],
        );
        if (actor)
          await db.query(
            `INSERT INTO audit_events (request_id, actor, action, detail) VALUES ($1, $2, 'request.received', '{}')`,
            [id, actor],
          );
        if (subrequest) {
          await db.query(
            `INSERT INTO opendsr_requests (subject_request_id, request_id, controller_id, body_hash, status_callback_urls, api_version, received_at) VALUES ($1, $2, 'controller-x', 'h', ARRAY[]::text[], '2.0', now())`,
            [subrequest, id],
          );
        }
      };
      await old(ids.portal, 'old-key', 'token:portal');
      await old(ids.controller, null, 'opendsr:controller-x', randomUUID());
      await old(ids.orphan, 'orphan-key', null);
      expect(await migrate(db)).to.be.at.least(1);
    });
    after(async () => db?.close());

    it('gives each older request the client its request.received entry names, else "(before clients)"', async () => {
      const { rows } = await db.query<{ id: string; client: string }>(`SELECT id, client FROM requests`);
      const clientOf = new Map(rows.map((r) => [r.id, r.client]));
      expect(clientOf.get(ids.portal)).to.equal('portal');
      expect(clientOf.get(ids.controller)).to.equal('controller-x');
      expect(clientOf.get(ids.orphan)).to.equal('(before clients)');
    });

    it('compares a repeat of an older key by its identities, vendors and regulation (no fingerprint was stored), per client', async () => {
      const ledger = createLedger(db, cipher);
      const input = (overrides: Record<string, unknown> = {}) => ({
        id: randomUUID(),
        client: 'portal',
        idempotencyKey: 'old-key',
        regulation: 'gdpr' as const,
        vendors: ['pinpoint' as const],
        subject: { userId: 'user-1' },
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 86_400_000),
        tasks: [],
        actor: 'token:portal',
        ...overrides,
      });
      const same = await ledger.requests.createRequest(input());
      expect(same).to.deep.include({ created: false });
      expect(same.reusedKey).to.equal(undefined);
      expect(same.request.id).to.equal(ids.portal);
      expect((await ledger.requests.createRequest(input({ subject: { userId: 'user-2' } }))).reusedKey).to.equal(true);
      expect(
        (await ledger.requests.createRequest(input({ subject: { userId: 'user-1', email: 'user1@example.com' } })))
          .reusedKey,
      ).to.equal(true);
      expect((await ledger.requests.createRequest(input({ regulation: 'ccpa' }))).reusedKey).to.equal(true);
      expect((await ledger.requests.createRequest(input({ vendors: ['pinpoint', 's3'] }))).reusedKey).to.equal(true);
      const otherClient = await ledger.requests.createRequest(
        input({ client: 'another-portal', subject: { userId: 'user-2' } }),
      );
      expect(otherClient.created).to.equal(true);
      expect(otherClient.request.client).to.equal('another-portal');
    });

    it('lets two controllers use the same subject_request_id', async () => {
      const subrequest = randomUUID();
      for (const controller of ['controller-x', 'controller-y']) {
        const id = randomUUID();
        await db.query(
          `INSERT INTO requests (id, regulation, status, vendors, subject_hash, submitted_at, due_at, client) VALUES ($1, 'gdpr', 'received', ARRAY['pinpoint'], 'h', now(), now(), $2)`,
          [id, controller],
        );
        await db.query(
          `INSERT INTO opendsr_requests (subject_request_id, request_id, controller_id, body_hash, status_callback_urls, api_version, received_at) VALUES ($1, $2, $3, 'h', ARRAY[]::text[], '2.0', now())`,
          [subrequest, id, controller],
        );
      }
      const { rows } = await db.query(`SELECT 1 FROM opendsr_requests WHERE subject_request_id = $1`, [subrequest]);
      expect(rows).to.have.length(2);
    });
  });
}
