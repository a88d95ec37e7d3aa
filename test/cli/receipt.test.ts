import { expect } from 'chai';
import { generateKeyPairSync, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from './run-cli.js';
import { publicKeyId } from '../../src/receipts/receipt-signer.js';
import { canonicalJson } from '../../src/privacy/canonical-json.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

describe('erasure receipt', function () {
  // Each command is a child process (about 0.3 s of CPU): generous on a busy machine.
  this.timeout(120_000);
  let service: TestService;
  let dir: string;
  let id: string;
  let saved: string;
  let receipt: any;

  before(async function () {
    service = await startTestService();
    dir = makeTestTempDir('erasure-cli-receipt-');
    // A request with some history: it fails (Pinpoint answers 400), is retried with a reason, and completes.
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const submitted = await runCli([
      'submit',
      '--user-id',
      'user-8',
      '--vendor',
      'pinpoint',
      '--json',
      ...serviceFlags(service),
    ]);
    id = JSON.parse(submitted.stdout).id;
    await service.waitForRequest(id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    await runCli(['retry', id, '--reason', 'vendor fixed', ...serviceFlags(service)]);
    await waitFor(async () => (await service.ledger.requests.getRequest(id))!.status === 'completed');
    // As an operator would: erasure receipt ID --json > receipt.json
    const res = await runCli(['receipt', id, '--json', ...serviceFlags(service)]);
    expect(res.code, res.stderr).to.equal(0);
    saved = path.join(dir, 'receipt.json');
    writeFileSync(saved, res.stdout);
    receipt = JSON.parse(res.stdout);
  });
  after(async () => service?.close());

  /** The service's public key in a file, for offline checks with --key. */
  function serviceKeyFile(): string {
    const keyFile = path.join(dir, 'service.pem');
    writeFileSync(keyFile, receipt.publicKey);
    return keyFile;
  }

  /** Writes an edited copy of the saved receipt and verifies it offline against the service's key (--key, no --url). */
  async function verifyEdited(name: string, edit: (r: any) => void, extra: string[] = []) {
    const copy = structuredClone(receipt);
    edit(copy);
    const file = path.join(dir, name);
    writeFileSync(file, JSON.stringify(copy, null, 2));
    return runCli(['receipt', '--verify', file, '--key', serviceKeyFile(), ...extra]);
  }

  it('shows a readable table of the per-vendor tasks: vendor, resource, action, state, counts, verification', async () => {
    const res = await runCli(['receipt', id, ...serviceFlags(service)]);
    expect(res.code, res.stderr).to.equal(0);
    expect(res.stdout).to.include(`receipt for request ${id}  (gdpr, completed)`);
    const header = res.stdout.split('\n').find((l) => l.startsWith('VENDOR'))!;
    expect(header.split(/\s{2,}/)).to.deep.equal([
      'VENDOR',
      'RESOURCE',
      'ACTION',
      'STATE',
      'COUNTS',
      'VERIFICATION',
      'FINISHED',
      'CONNECTOR',
    ]);
    const row = res.stdout.split('\n').find((l) => l.startsWith('pinpoint'))!;
    expect(row)
      .to.include('delete-user-endpoints')
      .and.to.include('succeeded')
      .and.to.include('endpointsDeleted=2')
      .and.to.include('verified_absent');
    expect(res.stdout).not.to.include('user-8');
  });

  it('accepts the untouched receipt against the key the service publishes at --url, naming that key', async () => {
    const res = await runCli(['receipt', '--verify', saved, ...serviceFlags(service)]);
    expect(res.code, res.stdout + res.stderr).to.equal(0);
    expect(res.stdout).to.match(
      new RegExp(
        `^valid: receipt for request ${id}, signed by key ${receipt.signature.keyId} \\(the trusted key, from ${service.url}/v1/receipt-key\\)`,
      ),
    );
    const keyed = await runCli(['receipt', '--verify', saved, '--key', serviceKeyFile(), '--json']);
    expect(keyed.code).to.equal(0);
    expect(JSON.parse(keyed.stdout)).to.deep.include({
      valid: true,
      problems: [],
      requestId: id,
      keyChecked: true,
      trustedKeyId: receipt.signature.keyId,
    });
  });

  it('exits 2 with "no trusted key" without --key and --url, and never trusts the key inside the receipt', async () => {
    const res = await runCli(['receipt', '--verify', saved]);
    expect(res.code).to.equal(2);
    expect(res.stderr).to.include('no trusted key');
    // An attacker edits the receipt and re-signs it with their own key, carried in the receipt itself.
    const attacker = generateKeyPairSync('ed25519');
    const forged = structuredClone(receipt);
    forged.receipt.status = 'completed';
    forged.receipt.tasks[0].evidence.endpointsDeleted = 99;
    forged.publicKey = attacker.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    forged.signature.keyId = publicKeyId(forged.publicKey);
    forged.signature.value = sign(null, Buffer.from(canonicalJson(forged.receipt)), attacker.privateKey).toString(
      'base64',
    );
    const file = path.join(dir, 'forged.json');
    writeFileSync(file, JSON.stringify(forged));
    const fetched = await runCli(['receipt', '--verify', file, ...serviceFlags(service)]);
    expect(fetched.code, fetched.stdout + fetched.stderr).to.equal(1);
    expect(fetched.stdout).to.include('signed by a key other than the trusted one');
    // Even claiming the service's key id, the signature is checked with the service's key, not the carried one.
    forged.signature.keyId = receipt.signature.keyId;
    writeFileSync(file, JSON.stringify(forged));
    const claimed = await runCli(['receipt', '--verify', file, ...serviceFlags(service)]);
    expect(claimed.code).to.equal(1);
    expect(claimed.stdout).to.include('the signature does not match the receipt');
  });

  it('rejects a receipt with a changed field (exit 1, naming the problem)', async () => {
    const res = await verifyEdited('changed.json', (r) => (r.receipt.tasks[0].evidence.endpointsDeleted = 3));
    expect(res.code).to.equal(1);
    expect(res.stdout)
      .to.include('INVALID receipt')
      .and.to.include('the signature does not match the receipt: it was changed after signing');
    const status = await verifyEdited('status.json', (r) => (r.receipt.status = 'completed_with_errors'));
    expect(status.code).to.equal(1);
  });

  it('rejects a receipt with a removed audit chain entry, in the middle or at the end', async () => {
    expect(receipt.receipt.auditChain.map((e: { action: string }) => e.action))
      .to.include('request.retried')
      .and.to.have.length.greaterThan(2);
    const middle = await verifyEdited('middle.json', (r) => r.receipt.auditChain.splice(1, 1));
    expect(middle.code).to.equal(1);
    expect(middle.stdout).to.include('does not follow the entry before it: an entry is missing or out of order');
    const end = await verifyEdited('end.json', (r) => r.receipt.auditChain.pop());
    expect(end.code).to.equal(1);
    expect(end.stdout).to.include('the chain head is not the last entry');
    const json = await verifyEdited('middle2.json', (r) => r.receipt.auditChain.splice(1, 1), ['--json']);
    const doc = JSON.parse(json.stdout);
    expect(doc.valid).to.equal(false);
    expect(doc.problems.length).to.be.greaterThan(0);
  });

  it('rejects a receipt re-signed with another key when --key names the service key', async () => {
    const other = generateKeyPairSync('ed25519');
    const keyFile = path.join(dir, 'other.pem');
    writeFileSync(keyFile, other.publicKey.export({ type: 'spki', format: 'pem' }));
    const res = await runCli(['receipt', '--verify', saved, '--key', keyFile]);
    expect(res.code).to.equal(1);
    expect(res.stdout).to.include('signed by a key other than the trusted one');
  });

  it('treats an unreadable receipt file as a usage error and a non-JSON one as invalid', async () => {
    const missing = await runCli(['receipt', '--verify', path.join(dir, 'nope.json')]);
    expect(missing.code).to.equal(2);
    const garbage = path.join(dir, 'garbage.json');
    writeFileSync(garbage, 'not json at all');
    const res = await runCli(['receipt', '--verify', garbage, '--key', serviceKeyFile()]);
    expect(res.code).to.equal(1);
    expect(res.stdout).to.include('the file is not JSON');
    const unknownRequest = await runCli(['receipt', '11111111-1111-4111-8111-111111111111', ...serviceFlags(service)]);
    expect(unknownRequest.code).to.equal(1);
    expect(unknownRequest.stderr).to.include('no request with that id (HTTP 404 not_found)');
  });
});
