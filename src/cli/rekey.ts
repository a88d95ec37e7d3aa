import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config-schema.js';
import { decodeKey } from '../config/load-config.js';
import { openDatabase } from '../ledger/database.js';
import { migrate } from '../ledger/migrations.js';
import { createLedger } from '../ledger/ledger.js';
import { createIdentityCipher } from '../privacy/identity-cipher.js';

/**
 * `erasure rekey`: after a key rotation (new ERASURE_ENCRYPTION_KEY, old keys in
 * ERASURE_PREVIOUS_ENCRYPTION_KEYS), re-seals every vault entry still sealed with an old key.
 * Safe to run while the service runs, and to run again.
 */
export async function rekey(config: Config): Promise<{ resealed: number; remaining: number }> {
  const keyFile = path.join(config.dataDir, 'encryption-key');
  const keyText = config.encryptionKey ?? (existsSync(keyFile) ? readFileSync(keyFile, 'utf8').trim() : undefined);
  if (!keyText) throw new Error('no encryption key: set ERASURE_ENCRYPTION_KEY');
  const db = await openDatabase({ databaseUrl: config.databaseUrl, pgliteDir: path.join(config.dataDir, 'pg') });
  try {
    await migrate(db);
    const ledger = createLedger(
      db,
      createIdentityCipher(decodeKey(keyText), config.previousEncryptionKeys.map(decodeKey)),
    );
    let total = 0;
    for (;;) {
      const { resealed, remaining } = await ledger.vault.resealIdentities(500);
      total += resealed;
      if (resealed === 0 || remaining === 0) return { resealed: total, remaining };
    }
  } finally {
    await db.close();
  }
}
