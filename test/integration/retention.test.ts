import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { pumpClock } from '../support/aws-sandbox.js';
import { reconcile } from '../../src/workers/reconciler.js';
import { createRequestEnqueuer } from '../../src/planner/request-enqueuer.js';

const DAY = 86_400_000;

describe('Identity retention (crypto-shredding)', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  it('destroys a finished request’s identifiers once the retention window has passed, keeping only hashes', async () => {
    const res = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-24', email: 'user24@example.com' }, vendors: ['pinpoint'] },
    });
    // By e-mail, Pinpoint is a shared export (30 s of sandbox time): move the sandbox clock meanwhile.
    const stopClock = pumpClock(service.sandbox!);
    await service.waitForRequest(res.body.id).finally(stopClock);
    const finishedAt = (await service.ledger.requests.getRequest(res.body.id))!.finishedAt!;
    const sweep = (now: Date) =>
      reconcile(
        {
          ledger: service.ledger,
          queues: service.queues,
          enqueue: createRequestEnqueuer({ ledger: service.ledger, queues: service.queues }),
          logger: service.logger,
        },
        { enqueueGraceMs: 10_000, staleAfterMs: 60_000, identityRetentionDays: service.config.retention.identityDays },
        now,
      );

    await sweep(new Date(finishedAt.getTime() + 29 * DAY));
    expect(await service.ledger.vault.loadSubject(res.body.id), 'still inside the window').to.deep.equal({
      userId: 'user-24',
      email: 'user24@example.com',
    });

    const report = await sweep(new Date(finishedAt.getTime() + 31 * DAY));
    expect(report.shredded).to.be.at.least(1);
    expect(await service.ledger.vault.loadSubject(res.body.id)).to.deep.equal({});
    const status = await service.api(`/v1/requests/${res.body.id}`);
    expect(status.body.status, 'the record of what was done stays').to.equal('completed');
    expect(status.body.subjectHash).to.equal(res.body.subjectHash);
    const trail = await service.ledger.audit.auditTrail(res.body.id);
    expect(trail.at(-1)!.action).to.equal('identities.shredded');
  });

  it('never shreds a request that has not ended', async () => {
    const res = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-25' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 },
    });
    expect(await service.ledger.vault.shredIdentities(new Date(Date.now() + 365 * DAY))).to.be.a('number');
    expect(await service.ledger.vault.loadSubject(res.body.id)).to.deep.equal({ userId: 'user-25' });
  });
});
