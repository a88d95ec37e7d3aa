import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { verifyReceipt, type SignedReceipt } from '../../src/receipts/receipt.js';
import { createReceiptSigner } from '../../src/receipts/receipt-signer.js';
import { canonicalJson } from '../../src/privacy/canonical-json.js';
import { startTestService, type TestService } from '../support/test-service.js';

describe('Signed receipts with a hash-chained audit trail', () => {
  let service: TestService;
  let signed: SignedReceipt;

  before(async () => {
    service = await startTestService();
    const submitted = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-16' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(submitted.body.id);
    const res = await service.api(`/v1/requests/${submitted.body.id}/receipt`);
    expect(res.status).to.equal(200);
    signed = res.body;
  });
  after(async () => service?.close());

  const copy = (): SignedReceipt => JSON.parse(JSON.stringify(signed));

  it('says per vendor and resource what was done and checked, naming the person only by keyed hash', () => {
    const [task] = signed.receipt.tasks;
    expect(signed.receipt.status).to.equal('completed');
    expect(task).to.include({
      vendor: 'pinpoint',
      action: 'delete-user-endpoints',
      state: 'succeeded',
      verification: 'verified_absent',
    });
    expect(task.evidence.endpointsDeleted).to.equal(2);
    expect(task.connectorVersion).to.match(/^pinpoint@\d+\.\d+\.\d+$/);
    expect(signed.receipt.subjectHash).to.match(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(signed)).not.to.match(/user-16|user16@/);
    expect(signed.receipt.auditChain.map((e) => e.action)).to.include.members(['request.received', 'request.settled']);
  });

  it('verifies offline when untouched, also against the service’s published key', async () => {
    expect(verifyReceipt(signed)).to.deep.equal({ valid: true, problems: [] });
    const key = await service.api('/v1/receipt-key');
    expect(verifyReceipt(signed, key.body.publicKey).valid).to.equal(true);
    expect(key.body.keyId).to.equal(signed.signature.keyId);
  });

  it('signs with a key of its own, not one derived from the vault key, and keeps receipts of a retired key verifiable', async () => {
    const { createPublicKey } = await import('node:crypto');
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    // Sandbox mode generated the receipt key into the data dir, beside (and apart from) the encryption key.
    const seed = readFileSync(path.join(service.config.dataDir, 'receipt-signing-key'), 'utf8').trim();
    expect(seed).to.not.equal(readFileSync(path.join(service.config.dataDir, 'encryption-key'), 'utf8').trim());
    expect(createReceiptSigner(Buffer.from(seed, 'base64')).keyId).to.equal(signed.signature.keyId);
    // Rotation: a new key signs from now on; the old public key, listed in receipts.previousPublicKeys, is published beside it.
    const rotated = await startTestService({ file: { receipts: { previousPublicKeys: [signed.publicKey] } } });
    try {
      const key = await rotated.api('/v1/receipt-key');
      expect(key.body.keyId).to.not.equal(signed.signature.keyId);
      expect(key.body.previous).to.deep.equal([
        {
          keyId: signed.signature.keyId,
          publicKey: createPublicKey(signed.publicKey).export({ type: 'spki', format: 'pem' }).toString(),
        },
      ]);
      const trusted = [key.body.publicKey, ...key.body.previous.map((k: { publicKey: string }) => k.publicKey)];
      expect(verifyReceipt(signed, trusted)).to.deep.equal({ valid: true, problems: [] });
      expect(verifyReceipt(signed, [key.body.publicKey]).problems).to.include(
        'signed by a key other than the trusted one',
      );
    } finally {
      await rotated.close();
    }
  });

  it('fails when a field was changed', () => {
    const tampered = copy();
    tampered.receipt.tasks[0].evidence.endpointsDeleted = 3;
    const result = verifyReceipt(tampered);
    expect(result.valid).to.equal(false);
    expect(result.problems.join(' ')).to.include('changed after signing');
  });

  it('fails when a chain entry was removed, even if the attacker re-signs with their own key', () => {
    const cut = copy();
    cut.receipt.auditChain.splice(0, 1);
    const other = createReceiptSigner(randomBytes(32));
    const resigned: SignedReceipt = {
      ...cut,
      signature: { alg: 'Ed25519', keyId: other.keyId, value: other.sign(canonicalJson(cut.receipt)) },
      publicKey: other.publicKeyPem,
    };
    expect(verifyReceipt(cut).problems.join(' ')).to.include('missing or out of order');
    expect(verifyReceipt(resigned, signed.publicKey).problems.join(' ')).to.include(
      'signed by a key other than the trusted one',
    );
  });

  it('fails when entries were removed from the end of the chain', () => {
    const cut = copy();
    cut.receipt.auditChain.pop();
    expect(verifyReceipt(cut).problems.join(' ')).to.include('entries were removed from the end');
  });

  it('answers 404 for a request that does not exist', async () => {
    expect((await service.api('/v1/requests/11111111-1111-4111-8111-111111111111/receipt')).status).to.equal(404);
  });
});
