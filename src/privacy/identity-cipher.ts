import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals identifiers for the ledger's vault (AES-256-GCM) and derives lookup hashes
 * (HMAC-SHA256) so requests can be found and de-duplicated without decrypting.
 * The sealed form is `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts), so a
 * key rotation can tell which key opens which entry.
 */
export interface IdentityCipher {
  readonly keyId: string;
  seal(plaintext: string): string;
  open(sealed: string): string;
  /** Keyed hash of a normalised identifier, hex. Stable across restarts for the same key. */
  lookupHash(kind: string, normalised: string): string;
}

const TAG_BYTES = 16;

export function createIdentityCipher(masterKey: Buffer): IdentityCipher {
  if (masterKey.length !== 32) throw new Error('the encryption key must be 32 bytes');
  const encryptionKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'erasure/vault/aes-256-gcm', 32));
  const hashKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'erasure/vault/lookup-hmac', 32));
  const keyId = createHmac('sha256', masterKey).update('erasure/key-id').digest('hex').slice(0, 8);

  return {
    keyId,
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      const tag = cipher.getAuthTag();
      return ['v1', keyId, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
    },
    open(sealed) {
      const [version, sealedKeyId, iv, tag, ciphertext] = sealed.split('.');
      if (version !== 'v1' || !iv || !tag || ciphertext === undefined) throw new Error('not a sealed identifier');
      // Key ids are not secret; a mismatch means the entry needs a key this process does not hold.
      if (sealedKeyId !== keyId) throw new Error(`sealed with key ${sealedKeyId ?? '?'}, which is not loaded`);
      // Without authTagLength, Node accepts a tag cut down to 4 bytes, and a cut-down prefix of the
      // real tag still verifies: insisting on the full 16 bytes keeps forgery infeasible.
      const decipher = createDecipheriv('aes-256-gcm', encryptionKey, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    },
    lookupHash(kind, normalised) {
      return createHmac('sha256', hashKey).update(`${kind}\u0000${normalised}`).digest('hex');
    },
  };
}
