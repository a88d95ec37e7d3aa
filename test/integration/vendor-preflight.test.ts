import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';
import { sha256Hex } from '../../src/api/auth.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { SANDBOX_SEGMENT_SOURCES } from '../../src/sandbox/segment/segment-seed.js';
import type { PreflightReport } from '../../src/preflight/vendor-preflight.js';

const VIEWER_TOKEN = 'viewer-token-for-preflight-tests';

/** A sandbox service whose vendor settings carry one mistake (sandbox.vendorOverrides). */
function startWith(vendorOverrides: Record<string, unknown> = {}): Promise<TestService> {
  return startTestService({
    file: {
      sandbox: { subjects: 30, clockSpeed: 1, vendorOverrides },
      tokens: [{ name: 'viewer', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' }],
    },
  });
}

/** `erasure_vendor_check` gauges from `/metrics`, keyed `vendor check`. */
async function gauges(service: TestService): Promise<Map<string, number>> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^erasure_vendor_check\{vendor="([^"]+)",check="([^"]+)"\} (\S+)$/gm))
    out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return out;
}

const GAUGE = { ok: 1, warn: 0.5, fail: 0 } as const;

/** The health answer, and /metrics saying the same of every check. */
async function healthAgreeingWithMetrics(service: TestService): Promise<PreflightReport> {
  const health = await service.api('/v1/vendors/health');
  expect(health.status).to.equal(200);
  const report = health.body as PreflightReport;
  const metrics = await gauges(service);
  expect(metrics.size, 'one gauge per check').to.equal(report.checks.length);
  for (const c of report.checks)
    expect(
      metrics.get(`${c.vendor} ${c.key ? `${c.check}:${c.key}` : c.check}`),
      `${c.vendor} ${c.check} ${c.key ?? ''}`,
    ).to.equal(GAUGE[c.status]);
  return report;
}

describe('Vendor preflight: erasure doctor, GET /v1/vendors/health and /metrics', function () {
  this.timeout(90_000);
  let service: TestService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  it('is healthy on the default sandbox: doctor exits 0 with one line per check, and health and /metrics agree', async () => {
    service = await startWith();
    const doctor = await runCli(['doctor', ...serviceFlags(service)]);
    expect(doctor.code, doctor.stdout + doctor.stderr).to.equal(0);
    const lines = doctor.stdout.trim().split('\n');
    expect(lines.at(-1)).to.match(/^healthy: \d+ checks passed$/);
    const report = await healthAgreeingWithMetrics(service);
    expect(report.healthy).to.equal(true);
    expect(lines.length - 1, 'one line per check').to.equal(report.checks.length);
    const vendors = new Set(report.checks.map((c) => c.vendor));
    expect([...vendors]).to.have.members(['pinpoint', 's3', 'appcenter', 'segment', 'amplitude']);
    for (const vendor of vendors)
      expect(
        report.checks.some((c) => c.vendor === vendor && c.check === 'credentials' && c.status === 'ok'),
        vendor,
      ).to.equal(true);
    expect(report.checks.filter((c) => c.check === 'permissions').every((c) => c.status === 'ok')).to.equal(true);
    expect(report.checks.some((c) => c.vendor === 'pinpoint' && c.check === 'end_of_support')).to.equal(true);
    const json = await runCli(['doctor', '--json', ...serviceFlags(service)]);
    expect(json.code).to.equal(0);
    expect(JSON.parse(json.stdout).healthy).to.equal(true);
    expect((await service.api('/v1/vendors/health', { token: VIEWER_TOKEN })).status, 'operators only').to.equal(403);
  });

  const mistakes: Array<{ name: string; overrides: Record<string, unknown>; vendor: string; detail: RegExp }> = [
    {
      name: 'a mistyped Pinpoint app id',
      overrides: { pinpoint: { appIds: ['0000mistyped0000app0000id000000'] } },
      vendor: 'pinpoint',
      detail: /^vendors\.pinpoint\.appIds\[0\] does not exist in us-east-1/,
    },
    {
      name: 'rejected Pinpoint credentials',
      overrides: { pinpoint: { credentials: { accessKeyId: 'AKIAWRONGWRONGWRONG0', secretAccessKey: 'wrong' } } },
      vendor: 'pinpoint',
      detail: /^vendors\.pinpoint\.credentials were rejected \(403 UnrecognizedClientException/,
    },
    {
      name: 'a mistyped App Center owner',
      overrides: { appcenter: { owner: 'no-such-owner' } },
      vendor: 'appcenter',
      detail: /^vendors\.appcenter\.owner\/vendors\.appcenter\.apps\[0\] no-such-owner\/\S+ does not exist/,
    },
    {
      name: 'a mistyped App Center app',
      overrides: { appcenter: { apps: ['no-such-app'] } },
      vendor: 'appcenter',
      detail: /^vendors\.appcenter\.owner\/vendors\.appcenter\.apps\[0\] \S+\/no-such-app does not exist/,
    },
    {
      name: 'a rejected App Center token',
      overrides: { appcenter: { apiToken: 'not-the-token' } },
      vendor: 'appcenter',
      detail: /^vendors\.appcenter\.apiToken was rejected \(401/,
    },
    {
      name: 'a missing S3 bucket',
      overrides: { s3: { locations: [{ bucket: 'no-such-bucket', prefix: 'x/' }] } },
      vendor: 's3',
      detail: /^vendors\.s3\.locations\[0\]\.bucket no-such-bucket does not exist/,
    },
    {
      name: 'rejected S3 credentials',
      overrides: { s3: { credentials: { accessKeyId: 'AKIAWRONGWRONGWRONG0', secretAccessKey: 'wrong' } } },
      vendor: 's3',
      detail: /^vendors\.s3\.credentials were rejected \(403 InvalidAccessKeyId/,
    },
    {
      name: 'a mistyped Segment source',
      overrides: { segment: { scope: { sourceIds: [SANDBOX_SEGMENT_SOURCES.web, 'qQ9mistypedSource'] } } },
      vendor: 'segment',
      detail: /^vendors\.segment\.scope\.sourceIds\[1\] qQ9mistypedSource does not exist in the workspace/,
    },
    {
      name: 'a rejected Segment token (another workspace)',
      overrides: { segment: { token: 'not-the-workspace-token' } },
      vendor: 'segment',
      detail: /^vendors\.segment\.token was rejected by the workspace \(401/,
    },
    {
      name: 'a mistyped Amplitude project key',
      overrides: { amplitude: { apiKey: 'mistyped-project-key' } },
      vendor: 'amplitude',
      detail: /^vendors\.amplitude\.apiKey\/secretKey were rejected: no project \S+ with that key \(401/,
    },
  ];

  for (const mistake of mistakes) {
    it(`doctor exits 1 for ${mistake.name}, naming the failed check; health and /metrics agree`, async () => {
      service = await startWith(mistake.overrides);
      const doctor = await runCli(['doctor', ...serviceFlags(service)]);
      expect(doctor.code, doctor.stdout + doctor.stderr).to.equal(1);
      const failedLines = doctor.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
      expect(failedLines.length, doctor.stdout).to.be.at.least(1);
      expect(
        failedLines.every((l) => l.includes(mistake.vendor)),
        doctor.stdout,
      ).to.equal(true);
      const report = await healthAgreeingWithMetrics(service);
      expect(report.healthy).to.equal(false);
      const failed = report.checks.filter((c) => c.status === 'fail');
      expect(
        failed.every((c) => c.vendor === mistake.vendor),
        JSON.stringify(failed),
      ).to.equal(true);
      expect(
        failed.some((c) => mistake.detail.test(c.detail)),
        JSON.stringify(failed),
      ).to.equal(true);
      expect(doctor.stdout).to.include(failed.find((c) => mistake.detail.test(c.detail))!.detail);
    });
  }

  it('warns, without failing, about an S3 prefix that holds nothing (mistyped?), naming the key', async () => {
    service = await startWith({ s3: { locations: [{ bucket: S3_SANDBOX_BUCKETS.imports, prefix: 'segmnets/csv/' }] } });
    const doctor = await runCli(['doctor', ...serviceFlags(service)]);
    expect(doctor.code, doctor.stdout).to.equal(0);
    expect(doctor.stdout).to.match(
      /^WARN\s+s3\s+scope vendors\.s3\.locations\[0\]\.prefix\s+vendors\.s3\.locations\[0\]\.prefix holds nothing in sandbox-pinpoint-imports/m,
    );
    const report = await healthAgreeingWithMetrics(service);
    expect(report.checks.find((c) => c.key === 'vendors.s3.locations[0].prefix')!.status).to.equal('warn');
  });
});
