import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { scrubFreeText } from '../../src/privacy/free-text.js';
import { verifyReceipt, type SignedReceipt } from '../../src/receipts/receipt.js';
import { verifyChain } from '../../src/receipts/audit-chain.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

/** The person of this test: every kind of identifier, and the shapes people type them in. */
const PERSON = {
  email: 'user27@example.com',
  phone: '+15550000027',
  userId: 'user-27',
  installId: '00000000-0000-4000-8000-000000000027',
  amplitudeId: '100000027',
};
const TRACES = [
  PERSON.email,
  PERSON.userId,
  PERSON.installId,
  PERSON.amplitudeId,
  '5550000027',
  '(555) 000-0027',
  '555-000-0027',
  'nobody.else@example.org',
];
const TEXT = `done for ${PERSON.userId} (${PERSON.email}), install ${PERSON.installId}, amp ${PERSON.amplitudeId}, phone (555) 000-0027 or 555-000-0027, cc nobody.else@example.org`;

/** Every file under `dir`, as bytes (latin1 keeps every byte, so ASCII identifiers are found in binary files). */
function filesContaining(dir: string, needles: string[]): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && statSync(full).size > 0) {
        const bytes = readFileSync(full).toString('latin1');
        for (const needle of needles) if (bytes.includes(needle)) found.push(`${path.relative(dir, full)}: ${needle}`);
      }
    }
  };
  walk(dir);
  return found;
}

describe('Free text never carries the person (issue 25 §3, Invariant 13)', function () {
  this.timeout(120_000);

  it('scrubs the subject’s own identifiers to [subject], other e-mails and national or international phones, and leaves neighbours alone', () => {
    const out = scrubFreeText(`${TEXT}; not user-270, ticket 8812 on 2026-12-07, +44 (0) 20 7946 0958`, [
      PERSON.userId,
      PERSON.email,
      PERSON.installId,
      PERSON.amplitudeId,
      PERSON.phone,
    ]);
    expect(out).to.equal(
      'done for [subject] ([subject]), install [subject], amp [subject], phone [redacted-phone] or [redacted-phone], cc [redacted-email]; not user-270, ticket 8812 on 2026-12-07, [redacted-phone]',
    );
  });

  describe('through the service', () => {
    let service: TestService;
    let dataDir: string;
    let logFile: string;
    let id: string;
    let saved: SignedReceipt;

    before(async () => {
      dataDir = makeTestTempDir('erasure-free-text-');
      logFile = path.join(dataDir, 'erasure.log');
      service = await startTestService({ file: { dataDir, logFile } });
      id = randomUUID();
      const manual = (n: number) => ({
        id: `${id}__segment__manual${n}`,
        vendor: 'segment' as const,
        resource: `workspace-${n}`,
        action: 'request-source-deletion',
        queue: 'segment',
        jobName: 'manual',
        initialState: 'waiting_manual' as const,
        waitingReason: 'Ask Segment support',
      });
      await service.ledger.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['segment'],
        subject: PERSON,
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 30 * 86_400_000),
        tasks: [manual(1), manual(2)],
        actor: 'test',
      });
      await service.ledger.requests.markEnqueued(id);

      // A reason and a note, each with the person's e-mail, phone, user id, install id and Amplitude id.
      expect((await service.api(`/v1/requests/${id}/extend`, { body: { days: 10, reason: TEXT } })).status).to.equal(
        200,
      );
      expect(
        (
          await service.api(`/v1/requests/${id}/tasks/${encodeURIComponent(`${id}__segment__manual1`)}/complete`, {
            body: { note: TEXT },
          })
        ).status,
      ).to.equal(200);
      expect((await service.api(`/v1/requests/${id}/cancel`, { body: { reason: TEXT } })).status).to.equal(200);
      const receipt = await service.api(`/v1/requests/${id}/receipt`);
      expect(receipt.status).to.equal(200);
      saved = receipt.body;
    });
    after(async () => service?.close());

    it('keeps them out of the receipt, the audit trail, the evidence, the logs and the ledger’s files, scrubbed and readable', async () => {
      const trail = await service.ledger.audit.auditTrail(id);
      const reasons = trail
        .filter((e) => e.detail.reason !== undefined || e.detail.note !== undefined)
        .map((e) => String(e.detail.reason ?? e.detail.note));
      expect(reasons).to.have.length(3);
      for (const text of reasons)
        expect(text).to.match(
          /^done for \[subject\] \(\[subject\]\), install \[subject\], amp \[subject\], phone \[redacted-phone\] or \[redacted-phone\], cc \[redacted-email\]$/,
        );
      const evidence = (await service.ledger.tasks.getTask(`${id}__segment__manual1`))!.evidence;
      expect(evidence.note).to.equal(reasons[1]);

      const texts = [
        JSON.stringify(saved),
        JSON.stringify(trail),
        JSON.stringify((await service.api(`/v1/requests/${id}`)).body),
        readFileSync(logFile, 'utf8'),
      ];
      for (const [i, text] of texts.entries())
        for (const trace of TRACES)
          expect(text.includes(trace), `${['receipt', 'trail', 'request', 'log'][i]} holds ${trace}`).to.equal(false);
      await service.db.query('CHECKPOINT');
      expect(filesContaining(path.join(dataDir, 'pg'), TRACES)).to.deep.equal([]);

      // The chain holds digests; the text is beside it, and both verify.
      const chained = saved.receipt.auditChain.find((e) => e.action === 'request.cancelled')!;
      expect(chained.detail)
        .to.have.property('reasonSha256')
        .that.matches(/^[0-9a-f]{64}$/);
      expect(chained.detail).not.to.have.property('reason');
      expect(chained.text!.reason).to.equal(reasons[2]);
      const key = (await service.api('/v1/receipt-key')).body.publicKey as string;
      expect(verifyReceipt(saved, key)).to.deep.equal({ valid: true, problems: [] });
    });

    it('deletes them when the identities are shredded, and receipts from before and after still verify', async () => {
      // Retention shreds requests that ended; a cancelled request's end time is set here as its settling would.
      await service.db.query(`UPDATE requests SET finished_at = COALESCE(finished_at, now()) WHERE id = $1`, [id]);
      expect(await service.ledger.vault.shredIdentities(new Date(Date.now() + 60_000))).to.equal(1);
      const trail = await service.ledger.audit.auditTrail(id);
      const texts = trail
        .filter((e) => e.detail.reasonSha256 || e.detail.noteSha256)
        .map((e) => e.detail.reason ?? e.detail.note);
      expect(texts).to.deep.equal([
        '[removed with the identities]',
        '[removed with the identities]',
        '[removed with the identities]',
      ]);
      expect(verifyChain(trail)).to.deep.equal([]);
      const evidence = (await service.ledger.tasks.getTask(`${id}__segment__manual1`))!.evidence;
      expect(evidence).not.to.have.property('note');
      expect(evidence.noteShredded).to.equal(true);
      expect(
        (await service.db.query(`SELECT count(*)::int AS n FROM audit_free_text WHERE chain_id = $1`, [id])).rows[0],
      ).to.deep.equal({ n: 0 });

      const key = (await service.api('/v1/receipt-key')).body.publicKey as string;
      const after = (await service.api(`/v1/requests/${id}/receipt`)).body as SignedReceipt;
      expect(verifyReceipt(after, key)).to.deep.equal({ valid: true, problems: [] });
      expect(after.receipt.chainHead, 'the shred is one more entry on the same chain').to.not.equal(
        saved.receipt.chainHead,
      );
      expect(after.receipt.auditChain.slice(0, saved.receipt.auditChain.length).map((e) => e.hash)).to.deep.equal(
        saved.receipt.auditChain.map((e) => e.hash),
      );
      expect(JSON.stringify(after)).not.to.contain('done for');
      expect(verifyReceipt(saved, key), 'a receipt saved before the shred').to.deep.equal({
        valid: true,
        problems: [],
      });
      for (const trace of TRACES)
        expect(readFileSync(logFile, 'utf8').includes(trace), `log holds ${trace}`).to.equal(false);
      await service.db.query('CHECKPOINT');
      expect(filesContaining(path.join(dataDir, 'pg'), TRACES)).to.deep.equal([]);
    });

    it('refuses a chain whose shown text is not the text its digest names', () => {
      const edited = structuredClone(saved);
      const entry = edited.receipt.auditChain.find((e) => e.action === 'request.cancelled')!;
      entry.text!.reason = 'an edited reason';
      expect(verifyChain(edited.receipt.auditChain).join(' ')).to.contain(
        'its reason is not the text the chain holds a digest of',
      );
    });
  });
});
