import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';

describe('Encryption key rotation', () => {
  let db: Database;
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  before(async () => {
    db = await openDatabase({ pgliteDir: 'memory://' });
    await migrate(db);
  });
  after(async () => db.close());

  const submit = (ledger: Ledger, userId: string, idempotencyKey?: string) =>
    ledger.requests.createRequest({
      id: randomUUID(),
      idempotencyKey,
      regulation: 'gdpr',
      vendors: ['pinpoint'],
      subject: { userId },
      submittedAt: new Date(),
      dueAt: new Date(),
      tasks: [],
      actor: 'test',
    });

  it('keeps old entries readable, seals new ones with the new key, and re-seals the old ones on command', async () => {
    const before = createLedger(db, createIdentityCipher(oldKey));
    const old = await submit(before, 'user-30', 'ticket-1');

    const rotated = createLedger(db, createIdentityCipher(newKey, [oldKey]));
    expect(await rotated.vault.loadSubject(old.request.id), 'old entry still opens').to.deep.equal({
      userId: 'user-30',
    });
    const fresh = await submit(rotated, 'user-31');
    const sealedWith = async (id: string) =>
      (
        await db.query<{ sealed: string }>(`SELECT sealed FROM request_identities WHERE request_id = $1`, [id])
      ).rows[0].sealed.split('.')[1];
    expect(await sealedWith(fresh.request.id)).to.equal(createIdentityCipher(newKey).keyId);
    expect(await sealedWith(old.request.id)).to.equal(createIdentityCipher(oldKey).keyId);

    const again = await submit(rotated, 'user-30', 'ticket-1');
    expect(again.created, 'lookup hashes survive the rotation: the idempotency key still matches').to.equal(false);
    expect(fresh.request.subjectHash).to.equal(createIdentityCipher(oldKey).lookupHash('userId', 'user-31'));

    expect(await rotated.vault.resealIdentities()).to.deep.equal({ resealed: 1, remaining: 0 });
    expect(await sealedWith(old.request.id)).to.equal(createIdentityCipher(newKey).keyId);
    expect(await rotated.vault.loadSubject(old.request.id)).to.deep.equal({ userId: 'user-30' });

    const withoutOldKey = createLedger(db, createIdentityCipher(newKey));
    expect(
      await withoutOldKey.vault.loadSubject(old.request.id),
      'after re-sealing, the old key is no longer needed to read',
    ).to.deep.equal({ userId: 'user-30' });
  });

  it('refuses to open an entry whose key is not loaded, naming the key id only', async () => {
    const ledger = createLedger(db, createIdentityCipher(randomBytes(32)));
    const { request } = await submit(ledger, 'user-32');
    const stranger = createLedger(db, createIdentityCipher(randomBytes(32)));
    const err = (await stranger.vault.loadSubject(request.id).catch((e: unknown) => e)) as Error;
    expect(err.message).to.match(/^sealed with key [0-9a-f]{8}, which is not loaded$/);
  });
});

describe('`erasure rekey`', () => {
  it('re-seals every entry under the current key and reports what it did', async function () {
    this.timeout(60_000);
    const { makeTestTempDir } = await import('../support/temp-dirs.js');
    const path = await import('node:path');
    const { spawnSync } = await import('node:child_process');
    const dataDir = makeTestTempDir('erasure-rekey-');
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const db = await openDatabase({ pgliteDir: path.join(dataDir, 'pg') });
    await migrate(db);
    const ledger = createLedger(db, createIdentityCipher(oldKey));
    for (const userId of ['user-40', 'user-41']) {
      await ledger.requests.createRequest({
        id: randomUUID(),
        regulation: 'gdpr',
        vendors: ['pinpoint'],
        subject: { userId },
        submittedAt: new Date(),
        dueAt: new Date(),
        tasks: [],
        actor: 'test',
      });
    }
    await db.close();
    const run = spawnSync(process.execPath, ['bin/erasure.mjs', 'rekey'], {
      env: {
        PATH: process.env.PATH,
        ERASURE_DATA_DIR: dataDir,
        ERASURE_ENCRYPTION_KEY: newKey.toString('hex'),
        ERASURE_PREVIOUS_ENCRYPTION_KEYS: oldKey.toString('hex'),
      },
      encoding: 'utf8',
    });
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.include('re-sealed 2 identifier(s) with the current key; 0 still sealed with an old key');
    const after = await openDatabase({ pgliteDir: path.join(dataDir, 'pg') });
    const { rows } = await after.query<{ sealed: string }>(`SELECT sealed FROM request_identities`);
    expect(rows.map((r) => r.sealed.split('.')[1])).to.deep.equal([
      createIdentityCipher(newKey).keyId,
      createIdentityCipher(newKey).keyId,
    ]);
    await after.close();
  });
});
