import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { receiptVerification, VERIFICATIONS, isVerification } from '../../src/receipts/verification.js';

describe('verification values (issue 17: one closed set)', () => {
  it('is exactly verified_absent, vendor_confirmed, scope_gone and unverifiable', () => {
    expect([...VERIFICATIONS]).to.deep.equal(['verified_absent', 'vendor_confirmed', 'scope_gone', 'unverifiable']);
    expect(isVerification('verified_empty')).to.equal(false);
  });

  it('shows a task’s value on the receipt as is, with the reason of an unverifiable one', () => {
    expect(receiptVerification({ verification: 'verified_absent' })).to.deep.equal({
      verification: 'verified_absent',
      verificationReason: null,
    });
    expect(receiptVerification({ verification: 'unverifiable', unverifiableReason: 'empty_prefix' })).to.deep.equal({
      verification: 'unverifiable',
      verificationReason: 'empty_prefix',
    });
    expect(receiptVerification({})).to.deep.equal({ verification: null, verificationReason: null });
  });

  it('never passes an old ad-hoc word through: it becomes unverifiable (legacy_value)', () => {
    for (const old of [
      'listed_in_done_job',
      'job_done',
      'vendor_acknowledged',
      'not_present',
      'app_gone_during_sweep',
      'verified_empty',
    ]) {
      expect(receiptVerification({ verification: old })).to.deep.equal({
        verification: 'unverifiable',
        verificationReason: 'legacy_value',
      });
    }
  });

  it('is the only vocabulary the job processors write', () => {
    const dir = path.resolve('jobs');
    const written = new Set<string>();
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      for (const match of readFileSync(path.join(dir, file), 'utf8').matchAll(/verification\??:\s*'([a-z_]+)'/g))
        written.add(match[1]);
    }
    expect(written.size, 'the processors write some verification literally').to.be.greaterThan(0);
    for (const value of written) expect(VERIFICATIONS, `jobs write "${value}"`).to.include(value);
  });
});
