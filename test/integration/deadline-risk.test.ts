import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';
import { DeadlineRiskLedger } from '../../src/ledger/deadline-risk-ledger.js';
import { percentileCont } from '../../src/deadlines/at-risk.js';

const DAY_S = 86_400;

/**
 * `at_risk` end to end: a one-day GDPR deadline, Pinpoint tasks observed to take one and two days
 * (their start times moved back in the ledger: real tasks finish in milliseconds), and a request
 * whose Pinpoint task cannot start because the queue is paused.
 */
describe('Requests at risk of missing their deadline', function () {
  this.timeout(60_000);
  let service: TestService;
  afterEach(async () => service?.close());

  async function submit(userId: string): Promise<string> {
    const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['pinpoint'] } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.id as string;
  }

  async function metric(name: string): Promise<number | undefined> {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    // The gauge carries a client label (issue 22): the figure is the sum of its series.
    const lines = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return lines.length ? lines.reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0) : undefined;
  }

  it('flags an open request when a vendor’s observed p95 says it will finish after the due date, in the API, the list, the admin page, the CLI and /metrics', async () => {
    service = await startTestService({
      file: { deadlines: { gdprDays: 1, atRisk: { minSamples: 2, defaultHours: 1, cacheMs: 0 } } },
    });
    const finished = [await submit('user-1'), await submit('user-2')];
    await Promise.all(finished.map((id) => service.waitForRequest(id)));
    expect((await service.api('/v1/queues/pinpoint/pause', { body: {} })).status).to.equal(200);
    const waiting = await submit('user-3');

    // Observed Pinpoint tasks took milliseconds: a one-day deadline is safe.
    let view = (await service.api(`/v1/requests/${waiting}`)).body;
    expect(view).to.deep.include({ atRisk: false, atRiskVendors: [], overdue: false });
    expect(await metric('erasure_requests_at_risk')).to.equal(0);

    // Now the ledger says Pinpoint tasks take one and two days.
    await service.db.query(`UPDATE tasks SET started_at = finished_at - interval '1 day' WHERE request_id = $1`, [
      finished[0],
    ]);
    await service.db.query(`UPDATE tasks SET started_at = finished_at - interval '2 days' WHERE request_id = $1`, [
      finished[1],
    ]);
    const observed = await new DeadlineRiskLedger(service.db, service.config.deadlines.atRisk).observedDurations();
    const p95 = observed.find((o) => o.vendor === 'pinpoint')!;
    expect(p95.samples).to.equal(2);
    expect(p95.p95Seconds, 'Postgres percentile_cont agrees with the definition').to.be.closeTo(
      percentileCont([DAY_S, 2 * DAY_S], 0.95)!,
      1e-3,
    );

    const before = Date.now();
    view = (await service.api(`/v1/requests/${waiting}`)).body;
    expect(view.atRisk).to.equal(true);
    expect(view.overdue).to.equal(false);
    expect(view.atRiskVendors).to.have.length(1);
    const [vendor] = view.atRiskVendors;
    expect(vendor).to.deep.include({
      vendor: 'pinpoint',
      basis: 'observed_p95',
      expectedDurationSeconds: Math.round(p95.p95Seconds),
    });
    const expected = Date.parse(vendor.expectedFinishAt);
    expect(expected).to.be.within(before + p95.p95Seconds * 1000 - 1000, Date.now() + p95.p95Seconds * 1000 + 1000);
    expect(expected).to.be.greaterThan(Date.parse(view.dueAt));
    expect(view.expectedFinishAt).to.equal(vendor.expectedFinishAt);

    const atRisk = (await service.api('/v1/requests?atRisk=true')).body.requests;
    expect(atRisk.map((r: { id: string }) => r.id)).to.deep.equal([waiting]);
    expect(atRisk[0].atRisk).to.equal(true);
    const notAtRisk = (await service.api('/v1/requests?atRisk=false')).body.requests.map((r: { id: string }) => r.id);
    expect(notAtRisk).to.have.members(finished);
    expect((await service.api('/v1/requests?atRisk=maybe')).status).to.equal(400);
    expect(await metric('erasure_requests_at_risk')).to.equal(1);

    const page = await service.api('/admin?filter=at_risk');
    expect(page.status).to.equal(200);
    expect(page.body).to.include('Requests at risk of missing their deadline');
    expect(page.body).to.include(waiting.slice(0, 8));
    expect(page.body).to.include('at risk: pinpoint');
    for (const id of finished) expect(page.body).not.to.include(id.slice(0, 8));
    const detail = await service.api(`/admin/requests/${waiting}`);
    expect(detail.body).to.include('at risk: pinpoint').and.to.include('observed p95');

    const cli = await runCli(['list', '--at-risk', ...serviceFlags(service)]);
    expect(cli.code, cli.stderr).to.equal(0);
    const rows = cli.stdout.split('\n').filter((l) => /^[0-9a-f]{8}-/.test(l));
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include(waiting).and.to.include('AT RISK (pinpoint)');

    // An extension past the expected finish takes the request out of risk.
    const extended = await service.api(`/v1/requests/${waiting}/extend`, {
      body: { days: 3, reason: 'Art. 12(3) extension: complex request' },
    });
    expect(extended.status).to.equal(200);
    expect(extended.body.atRisk).to.equal(false);
    expect(await metric('erasure_requests_at_risk')).to.equal(0);
  });

  it('uses the configured default for a vendor with too few finished tasks', async () => {
    service = await startTestService({
      file: {
        deadlines: {
          gdprDays: 1,
          atRisk: { minSamples: 50, defaultHours: 12, vendorDefaultHours: { pinpoint: 30 }, cacheMs: 0 },
        },
      },
    });
    expect((await service.api('/v1/queues/pinpoint/pause', { body: {} })).status).to.equal(200);
    const id = await submit('user-6');
    const view = (await service.api(`/v1/requests/${id}`)).body;
    expect(view.atRisk).to.equal(true);
    expect(view.atRiskVendors[0]).to.deep.include({
      vendor: 'pinpoint',
      basis: 'configured_default',
      expectedDurationSeconds: 30 * 3600,
    });
  });
});
