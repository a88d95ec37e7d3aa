import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';

/** PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** Signs receipts with Ed25519. The key derives from the service's master key: no extra secret to keep. */
export interface ReceiptSigner {
  /** First 16 hex characters of the SHA-256 of the public key (DER). */
  readonly keyId: string;
  readonly publicKeyPem: string;
  sign(payload: string): string;
}

export function createReceiptSigner(masterKey: Buffer): ReceiptSigner {
  const seed = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'erasure/receipts/ed25519', 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: publicKeyId(publicKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (payload) => sign(null, Buffer.from(payload), privateKey).toString('base64'),
  };
}

export function publicKeyId(key: KeyObject | string): string {
  const object = typeof key === 'string' ? createPublicKey(key) : key;
  return createHash('sha256').update(object.export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16);
}

export function verifySignature(publicKeyPem: string, payload: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(payload), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
