import { expect } from 'chai';
import { KeyNotLoadedError, createIdentityCipher } from '../../src/privacy/identity-cipher.js';

const KEY_A = Buffer.alloc(32, 0xa1);
const KEY_B = Buffer.alloc(32, 0xb2);

/** Replaces one dot-separated part of a sealed value. */
function withPart(sealed: string, index: number, change: (part: Buffer) => Buffer): string {
  const parts = sealed.split('.');
  parts[index] = change(Buffer.from(parts[index], 'base64url')).toString('base64url');
  return parts.join('.');
}

const flipFirstByte = (b: Buffer) => {
  const copy = Buffer.from(b);
  copy[0] = copy[0] ^ 0x01;
  return copy;
};

describe('identity cipher', () => {
  const cipher = createIdentityCipher(KEY_A);

  describe('sealing and opening', () => {
    for (const value of ['ann@x.com', '+15550000001', 'Zoë 😀 用户 ñ', '', 'x'.repeat(5000)]) {
      it(`opens what it sealed (${JSON.stringify(value.slice(0, 20))}, ${value.length} chars)`, () => {
        expect(cipher.open(cipher.seal(value))).to.equal(value);
      });
    }

    it('opens what another instance with the same key sealed (stable across restarts)', () => {
      const sealed = cipher.seal('ann@x.com');
      expect(createIdentityCipher(Buffer.from(KEY_A)).open(sealed)).to.equal('ann@x.com');
    });

    it('produces a sealed form of version, key id, iv, tag and ciphertext', () => {
      const [version, keyId, iv, tag, ciphertext, extra] = cipher.seal('ann@x.com').split('.');
      expect(version).to.equal('v1');
      expect(keyId).to.equal(cipher.keyId);
      expect(Buffer.from(iv, 'base64url')).to.have.length(12);
      expect(Buffer.from(tag, 'base64url')).to.have.length(16);
      expect(Buffer.from(ciphertext, 'base64url')).to.have.length('ann@x.com'.length);
      expect(extra).to.equal(undefined);
    });

    it('does not contain the plaintext, in any common encoding', () => {
      const value = 'ann.lee@example.com';
      const sealed = cipher.seal(value);
      expect(sealed).to.not.include(value);
      expect(sealed).to.not.include('ann.lee');
      expect(sealed).to.not.include(Buffer.from(value).toString('base64url'));
      expect(sealed).to.not.include(Buffer.from(value).toString('base64'));
      expect(sealed).to.not.include(Buffer.from(value).toString('hex'));
    });

    it('seals the same value differently each time (random IV)', () => {
      const seals = new Set(Array.from({ length: 20 }, () => cipher.seal('ann@x.com')));
      expect(seals.size).to.equal(20);
      const ivs = new Set([...seals].map((s) => s.split('.')[2]));
      expect(ivs.size).to.equal(20);
    });
  });

  describe('lookup hashes', () => {
    it('are stable for the same kind and value, across instances with the same key', () => {
      const h = cipher.lookupHash('email', 'ann@x.com');
      expect(h).to.match(/^[0-9a-f]{64}$/);
      expect(cipher.lookupHash('email', 'ann@x.com')).to.equal(h);
      expect(createIdentityCipher(Buffer.from(KEY_A)).lookupHash('email', 'ann@x.com')).to.equal(h);
    });

    it('differ between kinds for the same value', () => {
      expect(cipher.lookupHash('userId', '12345')).to.not.equal(cipher.lookupHash('amplitudeId', '12345'));
    });

    it('do not collide when the kind/value boundary moves', () => {
      expect(cipher.lookupHash('email', 'xann@x.com')).to.not.equal(cipher.lookupHash('emailx', 'ann@x.com'));
    });

    it('differ between neighbouring values', () => {
      expect(cipher.lookupHash('email', 'ann@x.com')).to.not.equal(cipher.lookupHash('email', 'joann@x.com'));
    });

    it('differ between keys, and are not a plain SHA-256 of the value', async () => {
      const other = createIdentityCipher(KEY_B);
      expect(other.lookupHash('email', 'ann@x.com')).to.not.equal(cipher.lookupHash('email', 'ann@x.com'));
      const { createHash } = await import('node:crypto');
      const plain = createHash('sha256').update('ann@x.com').digest('hex');
      expect(cipher.lookupHash('email', 'ann@x.com')).to.not.equal(plain);
    });
  });

  describe('tampering', () => {
    const value = 'ann@x.com';

    it('refuses a ciphertext with a flipped bit', () => {
      const tampered = withPart(cipher.seal(value), 4, flipFirstByte);
      expect(() => cipher.open(tampered)).to.throw();
    });

    it('refuses a tag with a flipped bit', () => {
      const tampered = withPart(cipher.seal(value), 3, flipFirstByte);
      expect(() => cipher.open(tampered)).to.throw();
    });

    it('refuses an IV with a flipped bit', () => {
      const tampered = withPart(cipher.seal(value), 2, flipFirstByte);
      expect(() => cipher.open(tampered)).to.throw();
    });

    for (const length of [12, 8, 4]) {
      it(`refuses a tag cut down to ${length} bytes (GCM would accept the prefix of the real tag)`, () => {
        const tampered = withPart(cipher.seal(value), 3, (tag) => tag.subarray(0, length));
        expect(() => cipher.open(tampered)).to.throw(/tag/i);
      });
    }

    it('refuses a ciphertext with a byte removed', () => {
      const tampered = withPart(cipher.seal(value), 4, (c) => c.subarray(1));
      expect(() => cipher.open(tampered)).to.throw();
    });

    it('refuses ciphertext swapped in from another seal under the same key', () => {
      const a = cipher.seal('ann@x.com').split('.');
      const b = cipher.seal('bob@x.com').split('.');
      a[4] = b[4]!;
      expect(() => cipher.open(a.join('.'))).to.throw();
    });

    for (const [what, sealed] of [
      ['an empty string', ''],
      ['a plaintext', 'ann@x.com'],
      ['another version', 'v2.abcd.aaaa.bbbb.cccc'],
      ['a value with parts missing', 'v1.abcd.aaaa'],
    ] as const) {
      it(`refuses ${what} as not sealed, without repeating it`, () => {
        try {
          cipher.open(sealed);
        } catch (err) {
          if (sealed.length > 0) expect((err as Error).message).to.not.include(sealed);
          return;
        }
        expect.fail('expected open to throw');
      });
    }

    it('never puts the plaintext into the error of a failed open', () => {
      const tampered = withPart(cipher.seal('ann@x.com'), 3, flipFirstByte);
      try {
        cipher.open(tampered);
      } catch (err) {
        expect((err as Error).message).to.not.include('ann');
        return;
      }
      expect.fail('expected open to throw');
    });
  });

  describe('keys', () => {
    it('gives different keys different key ids', () => {
      expect(createIdentityCipher(KEY_B).keyId).to.not.equal(cipher.keyId);
      expect(cipher.keyId).to.match(/^[0-9a-f]{8}$/);
    });

    it('cannot open with a different key, and the error names the key id, not the value', () => {
      const sealed = cipher.seal('ann@x.com');
      const other = createIdentityCipher(KEY_B);
      let message = '';
      try {
        other.open(sealed);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.include(cipher.keyId);
      expect(message).to.not.include('ann@x.com');
      expect(message).to.not.include('ann');
    });

    it('cannot open with a different key even when the key id is rewritten to match', () => {
      const other = createIdentityCipher(KEY_B);
      const parts = cipher.seal('ann@x.com').split('.');
      parts[1] = other.keyId;
      expect(() => other.open(parts.join('.'))).to.throw();
    });

    it('throws a KeyNotLoadedError carrying the key id when the key is not held (the task then waits: key_not_loaded)', () => {
      const err = (() => {
        try {
          createIdentityCipher(KEY_B).open(cipher.seal('ann@x.com'));
        } catch (e) {
          return e;
        }
      })();
      expect(err).to.be.instanceOf(KeyNotLoadedError);
      expect((err as KeyNotLoadedError).keyId).to.equal(cipher.keyId);
    });

    it('keeps lookup hashes through the rotation steps of README (new key as previous, then as current)', () => {
      const before = createIdentityCipher(KEY_A);
      const step1 = createIdentityCipher(KEY_A, [KEY_A, KEY_B]);
      const step2 = createIdentityCipher(KEY_B, [KEY_A]);
      const hash = before.lookupHash('email', 'ann@x.com');
      expect(step1.lookupHash('email', 'ann@x.com')).to.equal(hash);
      expect(step2.lookupHash('email', 'ann@x.com')).to.equal(hash);
      expect(step1.keyId, 'step 1 still seals with the old key').to.equal(before.keyId);
      expect(step1.open(step2.seal('ann@x.com')), 'step 1 reads what step 2 seals').to.equal('ann@x.com');
      expect(step2.open(step1.seal('bob@x.com'))).to.equal('bob@x.com');
    });

    for (const length of [0, 16, 31, 33, 64]) {
      it(`refuses a ${length}-byte key`, () => {
        expect(() => createIdentityCipher(Buffer.alloc(length, 7))).to.throw(/32 bytes/);
      });
    }
  });
});
