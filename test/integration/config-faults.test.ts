import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { verifyReceipt } from '../../src/receipts/receipt.js';
import type { BreakerState } from '../../src/infrastructure/vendor-breaker.js';
import type { VendorName } from '../../src/vendors/vendor-name.js';

/**
 * Issue 17, acceptance 1: a configuration mistake (a mistyped scope, rejected credentials) ends in
 * a paused vendor whose breaker names the config key, never in an outcome. No task of the vendor
 * ends verified_absent, and no receipt claims it.
 */

const WAIT_MS = 60_000;

/** Short batch windows and polls for every vendor, so each mistake is met within a second or two. */
function quick(overrides: Record<string, Record<string, unknown>> = {}): Record<string, Record<string, unknown>> {
  return {
    pinpoint: { batchWindowMs: 200, ...overrides.pinpoint },
    s3: { batchWindowMs: 200, ...overrides.s3 },
    appcenter: { sweep: { windowMs: 200, maxMembers: 1000 }, ...overrides.appcenter },
    segment: { batchWindowMs: 200, pollIntervalMs: 200, pollJitter: 0, ...overrides.segment },
    amplitude: { batchWindowMs: 200, pollIntervalMs: 200, pollJitter: 0, ...overrides.amplitude },
  };
}

function startFaultyService(vendorOverrides: Record<string, Record<string, unknown>>): Promise<TestService> {
  return startTestService({ subjects: 30, file: { sandbox: { subjects: 30, clockSpeed: 1, vendorOverrides } } });
}

async function openBreaker(service: TestService, vendor: VendorName): Promise<BreakerState> {
  return waitFor(async () => {
    const state = await service.breaker.state(vendor);
    return state.state === 'open' ? state : undefined;
  }, WAIT_MS);
}

/** The vendor's paused state, as on-call sees it: breaker, tasks waiting with the reason, /readyz, /metrics, receipt. */
async function expectPaused(
  service: TestService,
  requestId: string,
  vendor: VendorName,
  fault: string,
  configKey: string,
  message?: RegExp,
): Promise<void> {
  const breaker = await openBreaker(service, vendor);
  expect(breaker, vendor).to.include({ fault, configKey });
  expect(breaker.reason).to.include(configKey);
  if (message) expect(breaker.reason).to.match(message);
  expect(await service.queues.queue(vendor).isPaused(), `${vendor} queue paused`).to.equal(true);

  const tasks = await waitFor(async () => {
    const view = (await service.api(`/v1/requests/${requestId}`)).body;
    // Tasks planned as skipped (e.g. App Center devices with no install id) never reach the vendor.
    const mine = (view.tasks as Array<Record<string, any>>).filter((t) => t.vendor === vendor && t.state !== 'skipped');
    return mine.every((t) => t.state === 'waiting_vendor' && String(t.waitingReason).includes(configKey))
      ? mine
      : undefined;
  }, WAIT_MS);
  expect(tasks.length, `${vendor} tasks`).to.be.greaterThan(0);
  for (const t of tasks) {
    expect(t.evidence?.verification, 'no verification claimed').to.not.equal('verified_absent');
    expect(t.error ?? null, 'no attempt failed').to.equal(null);
  }

  const ready = await service.api('/readyz');
  expect(ready.status, 'readiness stays up').to.equal(200);
  expect(ready.body.vendors.paused.map((p: BreakerState) => p.vendor)).to.include(vendor);
  const metrics = (await service.api('/metrics')).body as string;
  expect(metrics).to.include(`erasure_vendor_breaker_open{vendor="${vendor}",fault="${fault}"} 1`);

  const receipt = (await service.api(`/v1/requests/${requestId}/receipt`)).body;
  expect(verifyReceipt(receipt).valid).to.equal(true);
  for (const t of receipt.receipt.tasks.filter((x: { vendor: string }) => x.vendor === vendor))
    expect(t.verification, `${vendor} on the receipt`).to.equal(null);
}

async function submit(service: TestService, body: Record<string, unknown>): Promise<string> {
  const res = await service.api('/v1/requests', { body });
  expect(res.status, JSON.stringify(res.body)).to.equal(202);
  return res.body.id as string;
}

describe('Configuration mistakes pause the vendor, naming the config key (issue 17)', function () {
  this.timeout(180_000);

  describe('a mistyped scope at every vendor', () => {
    let service: TestService;
    let requestId: string;
    before(async () => {
      service = await startFaultyService(
        quick({
          pinpoint: { appIds: ['mistyped-app-id'] },
          appcenter: { apps: ['mistyped-app'] },
          s3: { locations: [{ bucket: 'mistyped-bucket', prefix: 'segments/' }] },
          segment: { scope: { sourceIds: ['mistypedSource'] } },
          amplitude: { apiKey: 'mistyped-project-key', secretKey: 'mistyped-secret-key' },
        }),
      );
      requestId = await submit(service, { subject: { userId: 'user-7', email: 'user7@example.com' } });
    });
    after(async () => service?.close());

    it('Pinpoint: an unknown app id is not "no endpoints": vendors.pinpoint.appIds[0] does not exist in us-east-1', async () => {
      await expectPaused(
        service,
        requestId,
        'pinpoint',
        'scope_missing',
        'vendors.pinpoint.appIds[0]',
        /^vendors\.pinpoint\.appIds\[0\] does not exist in us-east-1/,
      );
    });

    it('App Center: an unknown app is not "retired or deleted": vendors.appcenter.apps[0]', async () => {
      await expectPaused(
        service,
        requestId,
        'appcenter',
        'scope_missing',
        'vendors.appcenter.apps[0]',
        /"[^"]+\/mistyped-app" does not exist/,
      );
    });

    it('S3: a missing bucket: vendors.s3.locations[0].bucket', async () => {
      await expectPaused(
        service,
        requestId,
        's3',
        'scope_missing',
        'vendors.s3.locations[0].bucket',
        /"mistyped-bucket" does not exist/,
      );
    });

    it('Segment: an unknown source: vendors.segment.scope.sourceIds[0]', async () => {
      await expectPaused(
        service,
        requestId,
        'segment',
        'scope_missing',
        'vendors.segment.scope.sourceIds[0]',
        /"mistypedSource" is not a source/,
      );
    });

    it('Amplitude: a wrong project key: the key is refused, vendors.amplitude.apiKey/secretKey', async () => {
      await expectPaused(service, requestId, 'amplitude', 'credentials', 'vendors.amplitude.apiKey/secretKey');
    });

    it('leaves the request open: nothing is failed, nothing certified', async () => {
      const view = (await service.api(`/v1/requests/${requestId}`)).body;
      expect(view.status).to.equal('in_progress');
      expect(view.tasks.filter((t: { state: string }) => t.state === 'failed')).to.deep.equal([]);
    });
  });

  describe('a mistyped App Center owner and a mistyped S3 prefix', () => {
    let service: TestService;
    before(async () => {
      service = await startFaultyService(
        quick({
          appcenter: { owner: 'mistyped-owner' },
          s3: {
            locations: [
              { bucket: S3_SANDBOX_BUCKETS.imports, prefix: 'segments/' },
              { bucket: S3_SANDBOX_BUCKETS.imports, prefix: 'mistyped-prefix/' },
            ],
          },
        }),
      );
    });
    after(async () => service?.close());

    it('App Center: vendors.appcenter.owner', async () => {
      const id = await submit(service, { subject: { userId: 'user-7' }, vendors: ['appcenter'] });
      await expectPaused(
        service,
        id,
        'appcenter',
        'scope_missing',
        'vendors.appcenter.owner',
        /^vendors\.appcenter\.owner "mistyped-owner" owns no app/,
      );
    });

    it('S3: a prefix that holds nothing is unverifiable (empty_prefix) naming vendors.s3.locations[1].prefix, never verified_absent', async () => {
      const id = await submit(service, { subject: { userId: 'user-7' }, vendors: ['s3'] });
      await service.waitForRequest(id, WAIT_MS);
      const view = (await service.api(`/v1/requests/${id}`)).body;
      const [real, mistyped] = [
        'location/' + S3_SANDBOX_BUCKETS.imports + '/segments/',
        'location/' + S3_SANDBOX_BUCKETS.imports + '/mistyped-prefix/',
      ].map((resource) => view.tasks.find((t: { resource: string }) => t.resource === resource));
      expect(real.evidence.verification).to.equal('verified_absent');
      expect(mistyped.state).to.equal('not_found');
      expect(mistyped.evidence).to.include({
        verification: 'unverifiable',
        unverifiableReason: 'empty_prefix',
        configKey: 'vendors.s3.locations[1].prefix',
      });
      const receipt = (await service.api(`/v1/requests/${id}/receipt`)).body;
      expect(verifyReceipt(receipt).valid).to.equal(true);
      const onReceipt = receipt.receipt.tasks.find((t: { resource: string }) => t.resource === mistyped.resource);
      expect(onReceipt).to.include({ verification: 'unverifiable', verificationReason: 'empty_prefix' });
    });
  });

  describe('credentials the vendor rejects', () => {
    let service: TestService;
    let requestId: string;
    const vendors = ['pinpoint', 's3', 'appcenter', 'segment', 'amplitude'] as const satisfies readonly VendorName[];
    before(async () => {
      service = await startFaultyService(quick());
      for (const vendor of vendors) service.sandbox!.faults.set(vendor, { credentialsRevoked: true });
      requestId = await submit(service, { subject: { userId: 'user-7', email: 'user7@example.com' } });
    });
    after(async () => service?.close());

    const keys: Record<(typeof vendors)[number], string> = {
      pinpoint: 'vendors.pinpoint.credentials',
      s3: 'vendors.s3.credentials',
      appcenter: 'vendors.appcenter.apiToken',
      segment: 'vendors.segment.token',
      amplitude: 'vendors.amplitude.apiKey/secretKey',
    };
    for (const vendor of vendors) {
      it(`${vendor}: ${keys[vendor]}`, async () => {
        await expectPaused(
          service,
          requestId,
          vendor,
          'credentials',
          keys[vendor],
          /credentials rejected or permission refused/,
        );
      });
    }
  });
});
