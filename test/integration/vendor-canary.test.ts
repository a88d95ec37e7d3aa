import { sandboxPluginFor } from '../../src/sandbox/sandbox-plugins.js';
import { expect } from 'chai';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';
import { CONNECTORS } from '../../src/connectors/registry.js';
import { type VendorSettingsMap } from '../../src/vendors/vendor-settings.js';
import type { VendorClients } from '../../src/connectors/processor-contract.js';
import type { VendorName } from '../../src/vendors/vendor-name.js';
import { runCanaries, type CanaryCarry } from '../../src/preflight/canary.js';
import type { PreflightReport } from '../../src/preflight/vendor-preflight.js';
import { startTestService, type TestService } from '../support/test-service.js';

const ALL: VendorName[] = ['pinpoint', 's3', 'appcenter', 'segment', 'amplitude'];

/** Every vendor's real client and sandbox settings, as the service builds them. */
function sandboxClients(sandbox: Sandbox): {
  vendors: Partial<VendorSettingsMap>;
  clients: VendorClients;
  close(): void;
} {
  const vendors: Record<string, unknown> = {};
  const clients: Record<string, { close(): void }> = {};
  for (const connector of CONNECTORS) {
    const settings = {
      ...sandboxPluginFor(connector.vendor)!.sandboxSettings(sandbox, connector.queueDefaults),
      ...(connector.vendor === 'amplitude' ? { requestsPerSecond: Infinity } : {}),
    };
    vendors[connector.vendor] = settings;
    clients[connector.vendor] = connector.createClient(settings, undefined, () => sandbox.clock.now());
  }
  return {
    vendors: vendors,
    clients: clients,
    close: () => {
      Object.values(clients).forEach((c) => {
        c.close();
      });
    },
  };
}

describe('Canaries: synthetic people erased through the normal jobs', function () {
  this.timeout(60_000);
  let sandbox: Sandbox;
  let wired: ReturnType<typeof sandboxClients>;
  const start = async (options: SandboxOptions = {}) => {
    sandbox = await startSandbox({ subjects: 20, amplitude: { requestsPerSecond: Infinity }, ...options });
    wired = sandboxClients(sandbox);
  };
  const run = () =>
    runCanaries({
      vendors: wired.vendors,
      clients: wired.clients,
      enabled: ALL,
      waitForVendor: async (ms) => {
        sandbox.clock.advance(Math.max(ms, 60_000));
      },
    });
  afterEach(async () => {
    wired?.close();
    await sandbox?.close();
  });

  it('runs for each vendor on the sandbox: Pinpoint, S3, App Center, Segment and Amplitude pass', async () => {
    await start();
    const endpointsBefore = sandbox.pinpoint.store.app(sandbox.pinpoint.appId).endpoints.size;
    const checks = await run();
    const byVendor = Object.fromEntries(checks.map((c) => [c.vendor, c]));
    expect(Object.keys(byVendor)).to.have.members(ALL);
    for (const vendor of ALL) expect(byVendor[vendor].status, `${vendor}: ${byVendor[vendor].detail}`).to.equal('ok');
    expect(byVendor.segment.detail).to.match(
      /SUPPRESS_WITH_DELETE regulation for a synthetic user id went through poll-regulation and ended [A-Z_]+ with [1-9]\d* destination statuses/,
    );
    expect(byVendor.pinpoint.detail).to.include('erased through delete-user-endpoints');
    expect(byVendor.s3.detail).to.include('neighbour kept');
    expect(
      sandbox.pinpoint.store.app(sandbox.pinpoint.appId).endpoints.size,
      'the canary leaves nothing behind',
    ).to.equal(endpointsBefore);
  });

  it('catches a drifted App Center export format (rows without the id fields) as a failed canary', async () => {
    await start({ appcenter: { exportRowLayout: 'drifted' } });
    const checks = await run();
    const appcenter = checks.find((c) => c.vendor === 'appcenter')!;
    expect(appcenter.status).to.equal('fail');
    expect(appcenter.detail).to.match(
      /^canary unexpected export format: \d+ of \d+ export rows have none of the expected id fields/,
    );
  });

  it('catches a drifted Segment regulation answer (status fields renamed) as "unexpected regulation format"', async () => {
    await start({ segment: { regulationFormat: 'drifted' } });
    const segment = (await run()).find((c) => c.vendor === 'segment')!;
    expect(segment).to.include({
      status: 'fail',
      detail: 'canary unexpected regulation format: no documented overall status',
    });
  });

  it('on a workspace without a vendor clock, starts the Segment regulation, reports it pending, and reads its end on a later run', async () => {
    await start();
    const carry: CanaryCarry = {};
    const once = () => runCanaries({ vendors: wired.vendors, clients: wired.clients, enabled: ['segment'], carry });
    const created = () => sandbox.segment.store.listRegulations({ scope: 'workspace' }).length;
    const before = created();
    const [first] = await once();
    expect(first).to.include({ vendor: 'segment', check: 'canary', status: 'warn' });
    expect(first.detail).to.match(/^pending: the canary regulation started \S+ is INITIALIZED at Segment/);
    expect(carry.segment?.evidence.regulateId).to.be.a('string');
    sandbox.clock.advance(60 * 60_000);
    const [second] = await once();
    expect(second.detail).to.match(/^pending: .* is RUNNING at Segment/);
    sandbox.clock.advance(24 * 60 * 60_000);
    const [third] = await once();
    expect(third, third.detail).to.include({ status: 'ok' });
    expect(carry.segment, 'the finished regulation is no longer carried').to.equal(undefined);
    expect(created() - before, 'one regulation served all three runs').to.equal(1);
  });

  it('catches an App Center export blob that is not where expected as a failed canary', async () => {
    await start({ appcenter: { exportBlobPlacement: 'container-root' } });
    const appcenter = (await run()).find((c) => c.vendor === 'appcenter')!;
    expect(appcenter).to.include({
      status: 'fail',
      detail: 'canary unexpected export format: the completed export wrote no blob under <export id>/',
    });
  });
});

describe('Canaries in the service: reported, alerted, and never requests', function () {
  this.timeout(90_000);
  let service: TestService | undefined;
  afterEach(async () => service?.close());

  it('reports a drifted canary as a failed check in /v1/vendors/health and /metrics, calls onCanaryFailed, and creates no request', async () => {
    const alerts: Array<[VendorName, string]> = [];
    service = await startTestService({
      file: {
        sandbox: { subjects: 20, clockSpeed: 20_000 },
        preflight: { canaries: ['appcenter', 's3'], canaryEveryMs: 0 },
      },
      sandbox: { appcenter: { exportRowLayout: 'drifted' } },
      onCanaryFailed: (vendor, reason) => alerts.push([vendor, reason]),
    });
    const health = await service.api('/v1/vendors/health?canaries=1');
    expect(health.status).to.equal(200);
    const report = health.body as PreflightReport;
    const canaries = report.checks.filter((c) => c.check === 'canary');
    expect(canaries.map((c) => [c.vendor, c.status])).to.have.deep.members([
      ['appcenter', 'fail'],
      ['s3', 'ok'],
    ]);
    expect(report.healthy).to.equal(false);
    expect(alerts.map(([vendor]) => vendor)).to.deep.equal(['appcenter']);
    expect(alerts[0][1]).to.include('unexpected export format');
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).to.match(/^erasure_vendor_check\{vendor="appcenter",check="canary"\} 0$/m);
    expect(metrics).to.match(/^erasure_vendor_check\{vendor="s3",check="canary"\} 1$/m);
    // The failed canary opened App Center's breaker (src/service.ts): its queue waits for an operator.
    expect(metrics).to.match(/^erasure_vendor_breaker_open\{vendor="appcenter",fault="canary"\} 1$/m);
    expect(metrics).to.not.match(/^erasure_vendor_breaker_open\{vendor="s3",[^}]*\} 1$/m);
    const requests = await service.api('/v1/requests');
    expect(requests.body.requests, 'canaries are not requests').to.deep.equal([]);
  });

  it('fails a drifted Segment canary in /v1/vendors/health, calls onCanaryFailed and opens the breaker', async () => {
    const alerts: Array<[VendorName, string]> = [];
    service = await startTestService({
      file: { sandbox: { subjects: 20, clockSpeed: 20_000 }, preflight: { canaries: ['segment'], canaryEveryMs: 0 } },
      sandbox: { segment: { regulationFormat: 'drifted' } },
      onCanaryFailed: (vendor, reason) => alerts.push([vendor, reason]),
    });
    const report = (await service.api('/v1/vendors/health?canaries=1')).body as PreflightReport;
    expect(report.checks.filter((c) => c.check === 'canary')).to.deep.equal([
      {
        vendor: 'segment',
        check: 'canary',
        status: 'fail',
        detail: 'canary unexpected regulation format: no documented overall status',
      },
    ]);
    expect(report.healthy).to.equal(false);
    expect(alerts).to.deep.equal([['segment', 'canary unexpected regulation format: no documented overall status']]);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metrics).to.match(/^erasure_vendor_breaker_open\{vendor="segment",fault="canary"\} 1$/m);
  });
});
