import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { verifyReceipt } from '../../src/receipts/receipt.js';

/**
 * Issue 17, item 7: with `sandbox.retiredVendors`, Pinpoint answers as past its end of support and
 * App Center as retired. Their tasks end `scope_gone` with the vendor's answer and the date (after
 * the app was looked up, never on a 404 alone), and the request still erases what S3 holds.
 */
describe('Vendors past their end of support (issue 17)', function () {
  this.timeout(180_000);
  let service: TestService;
  before(async () => {
    service = await startTestService({
      subjects: 30,
      file: {
        sandbox: {
          subjects: 30,
          clockSpeed: 1,
          retiredVendors: true,
          vendorOverrides: {
            pinpoint: { batchWindowMs: 200 },
            s3: { batchWindowMs: 200 },
            appcenter: { sweep: { windowMs: 200, maxMembers: 1000 } },
          },
        },
      },
    });
  });
  after(async () => service?.close());

  it('ends Pinpoint and App Center tasks scope_gone with the answer and the date, and still erases S3', async () => {
    const res = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-7', email: 'user7@example.com' }, vendors: ['pinpoint', 'appcenter', 's3'] },
    });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    await service.waitForRequest(res.body.id, 120_000);
    const view = (await service.api(`/v1/requests/${res.body.id}`)).body;
    expect(view.status).to.equal('completed');

    const of = (vendor: string) =>
      view.tasks.filter((t: { vendor: string; state: string }) => t.vendor === vendor && t.state !== 'skipped');
    expect(of('pinpoint')).to.have.length(2);
    for (const t of of('pinpoint')) {
      expect(t.state, t.action).to.equal('not_found');
      expect(t.evidence, t.action).to.include({ verification: 'scope_gone', appGone: true });
      expect(t.evidence.endOfSupportAt, t.action).to.match(/^2026-10-30/);
      expect(t.evidence.vendorAnswer, t.action).to.match(
        /GetApp 403 ForbiddenException \(past end of support\); GetApps 403/,
      );
    }
    expect(of('appcenter').length).to.be.greaterThan(0);
    for (const t of of('appcenter')) {
      expect(t.state, t.action).to.equal('not_found');
      expect(t.evidence, t.action).to.include({ verification: 'scope_gone', endOfSupportAt: '2025-03-31' });
      expect(t.evidence.vendorAnswer, t.action).to.match(/App Center answers as retired/);
    }
    const s3 = of('s3');
    expect(s3.length).to.be.greaterThan(0);
    expect(
      s3.some((t: { state: string }) => t.state === 'succeeded'),
      'S3 still erased the person’s rows',
    ).to.equal(true);
    for (const t of s3) expect(t.evidence.verification).to.be.oneOf(['verified_absent', 'unverifiable']);

    const signed = (await service.api(`/v1/requests/${res.body.id}/receipt`)).body;
    expect(verifyReceipt(signed)).to.deep.equal({ valid: true, problems: [] });
    const onReceipt = signed.receipt.tasks
      .filter((t: { vendor: string }) => t.vendor === 'pinpoint' || t.vendor === 'appcenter')
      .map((t: { verification: string | null }) => t.verification);
    expect(onReceipt.filter((v: string | null) => v !== null).every((v: string) => v === 'scope_gone')).to.equal(true);
    expect(onReceipt).to.not.include('verified_absent');
  });
});
