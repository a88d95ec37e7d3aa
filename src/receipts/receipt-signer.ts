import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** PKCS#8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * Signs receipts (and native callbacks) with Ed25519, with a key of its own (issue 25 §6):
 * `ERASURE_RECEIPT_SIGNING_KEY`, generated into the data dir in sandbox mode. It is not derived from
 * the vault's master key, so the two rotate apart and a leaked receipt key opens no identity.
 */
export interface ReceiptSigner {
  /** First 16 hex characters of the SHA-256 of the public key (DER). */
  readonly keyId: string;
  readonly publicKeyPem: string;
  /** Public keys of retired signing keys (`receipts.previousPublicKeys`): published so old receipts still verify. */
  readonly previousKeys: Array<{ keyId: string; publicKey: string }>;
  sign(payload: string): string;
}

/** @param seed the 32-byte Ed25519 private key (RFC 8032 seed). @param previousPublicKeys PEM public keys of earlier signing keys. */
export function createReceiptSigner(seed: Buffer, previousPublicKeys: string[] = []): ReceiptSigner {
  if (seed.length !== 32) throw new Error('the receipt signing key must be 32 bytes');
  const privateKey = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  return {
    keyId: publicKeyId(publicKey),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    previousKeys: previousPublicKeys.map((pem) => ({
      keyId: publicKeyId(pem),
      publicKey: createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString(),
    })),
    sign: (payload) => sign(null, Buffer.from(payload), privateKey).toString('base64'),
  };
}

export function publicKeyId(key: KeyObject | string): string {
  const object = typeof key === 'string' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(object.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

export function verifySignature(publicKeyPem: string, payload: string, signature: string): boolean {
  try {
    return verify(null, Buffer.from(payload), createPublicKey(publicKeyPem), Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}
