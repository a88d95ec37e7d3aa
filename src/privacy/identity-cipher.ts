import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals identifiers for the ledger's vault (AES-256-GCM) and derives lookup hashes
 * (HMAC-SHA256) so requests can be found and de-duplicated without decrypting.
 * The sealed form is `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts), so a
 * key rotation can tell which key opens which entry.
 */
export interface IdentityCipher {
  /** The key new entries are sealed with. */
  readonly keyId: string;
  /** Id of the key an entry was sealed with. */
  keyIdOf(sealed: string): string | undefined;
  seal(plaintext: string): string;
  open(sealed: string): string;
  /** Keyed hash of a normalised identifier, hex. Stable across restarts for the same key. */
  lookupHash(kind: string, normalised: string): string;
}

const TAG_BYTES = 16;

/**
 * An entry sealed with a key this process does not hold (a rolling key rotation: some processes
 * have the new key, others not yet). Not a fault of the entry: the work waits for a process, or a
 * restart, that holds the key (`key_not_loaded`, src/workers/task-runner.ts). Key ids are not secret.
 */
export class KeyNotLoadedError extends Error {
  override readonly name = 'KeyNotLoadedError';
  constructor(readonly keyId: string) {
    super(`sealed with key ${keyId}, which is not loaded`);
  }
}

/**
 * @param masterKey the current key: new entries are sealed with it.
 * @param previousKeys earlier keys, oldest first, still able to open what they sealed (key
 * rotation). Lookup hashes must not change when keys rotate (idempotency keys and shredded
 * entries are only ever known by hash), so the hash key derives from the oldest key given.
 */
export function createIdentityCipher(masterKey: Buffer, previousKeys: Buffer[] = []): IdentityCipher {
  for (const key of [masterKey, ...previousKeys])
    if (key.length !== 32) throw new Error('the encryption key must be 32 bytes');
  const derive = (key: Buffer) => ({
    id: createHmac('sha256', key).update('erasure/key-id').digest('hex').slice(0, 8),
    encryptionKey: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'erasure/vault/aes-256-gcm', 32)),
  });
  const current = derive(masterKey);
  const keys = new Map([...previousKeys.map(derive), current].map((k) => [k.id, k.encryptionKey]));
  const encryptionKey = current.encryptionKey;
  const keyId = current.id;
  const hashKey = Buffer.from(
    hkdfSync('sha256', previousKeys[0] ?? masterKey, Buffer.alloc(0), 'erasure/vault/lookup-hmac', 32),
  );

  return {
    keyId,
    keyIdOf: (sealed) => sealed.split('.')[1],
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return ['v1', keyId, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join(
        '.',
      );
    },
    open(sealed) {
      const parts: Array<string | undefined> = sealed.split('.');
      const [version, sealedKeyId, iv, tag, ciphertext] = parts;
      if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a sealed identifier');
      // Key ids are not secret; an unknown one means the entry needs a key this process does not hold.
      const key = sealedKeyId ? keys.get(sealedKeyId) : undefined;
      if (!key) throw new KeyNotLoadedError(sealedKeyId ?? '?');
      // Without authTagLength, Node accepts a tag cut down to 4 bytes, and a cut-down prefix of the
      // real tag still verifies: insisting on the full 16 bytes keeps forgery infeasible.
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
    lookupHash(kind, normalised) {
      return createHmac('sha256', hashKey).update(`${kind}\u0000${normalised}`).digest('hex');
    },
  };
}
