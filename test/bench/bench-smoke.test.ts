import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { leftInChildTmpDir, makeChildTmpDir } from '../support/temp-dirs.js';

const SCENARIOS = ['scan', 'pipeline', 'vendor_limits', 'amortisation', 'intake', 'latency', 'scale_out'];

/** `left`: what the bench left in its os.tmpdir() (an empty dir of its own). */
function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; left: string[] }> {
  const tmp = makeChildTmpDir();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bench.ts', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmp },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      resolve({ code, stdout, stderr, left: leftInChildTmpDir(tmp) });
    });
  });
}

describe('npm run bench (smoke sizes)', function () {
  // scale_out starts 1 + 2 + 3 + 5 service processes (tsx) one run after another.
  this.timeout(600_000);

  it('runs every scenario and prints one JSON object keyed by scenario, each with measured figures, a baseline and a ratio', async () => {
    const { code, stdout, stderr, left } = await runBench(['--json', '--size', 'smoke']);
    expect(code, stderr.slice(-2000)).to.equal(0);
    expect(left, 'what the bench left in os.tmpdir()').to.deep.equal([]);
    const results = JSON.parse(stdout) as Record<
      string,
      {
        measured: Record<string, unknown>;
        baseline: Record<string, unknown>;
        ratio: number;
        met: boolean;
        target: string;
      }
    >;
    expect(Object.keys(results)).to.deep.equal(SCENARIOS);
    for (const name of SCENARIOS) {
      const r = results[name];
      expect(r.ratio, name).to.be.a('number').and.satisfy(Number.isFinite).and.be.above(0);
      expect(r.met, name).to.be.a('boolean');
      expect(Object.keys(r.measured), name).to.not.be.empty;
      expect(Object.keys(r.baseline), name).to.not.be.empty;
      expect(r.target, name).to.be.a('string').and.not.be.empty;
    }
    // The figures are real: both scanners found the same endpoints, and no request was lost.
    expect((results.scan.measured.subjects_100 as Record<string, unknown>).same_endpoints_as_grep).to.equal(true);
    expect(results.vendor_limits.measured.lost).to.equal(0);
    expect(results.pipeline.measured.completed).to.equal(results.pipeline.measured.requests);
    expect(results.amortisation.measured.pinpoint_exports).to.equal(1);
    // pipeline's ratio is against `direct`: the same calls made by a script, every person erased;
    // the no-op BullMQ flow is kept as a reference line only.
    const pipeline = results.pipeline;
    const direct = pipeline.baseline.direct as {
      requests: number;
      completed: number;
      with_endpoints: number;
      requests_per_s: number;
    };
    expect(direct.completed).to.equal(direct.requests);
    expect(direct.with_endpoints, 'every seeded person had endpoints for direct to delete').to.equal(direct.requests);
    expect(pipeline.ratio).to.be.closeTo((pipeline.measured.requests_per_s as number) / direct.requests_per_s, 0.01);
    expect(pipeline.baseline.noop_bullmq_reference).to.include.keys('flows_per_s');
    // latency: every request completed, p50 <= p99, and the direct calls at the same pace as its baseline.
    const latency = results.latency;
    expect(latency.measured.completed).to.equal(latency.measured.requests);
    expect(latency.measured.p50_ms)
      .to.be.above(0)
      .and.at.most(latency.measured.p99_ms as number);
    expect(latency.ratio).to.be.closeTo((latency.measured.p99_ms as number) / 500, 0.01);
    expect((latency.baseline.direct as { failed: number; p99_ms: number }).failed).to.equal(0);
    expect((latency.baseline.direct as { p99_ms: number }).p99_ms).to.be.above(0);
    // vendor_limits reports each vendor's ratio next to the total.
    expect(results.vendor_limits.measured.ratio_by_vendor).to.have.all.keys('pinpoint', 'amplitude', 'segment');
    // scale_out: every run (one process, 1 api + N workers) completed every request through the shared
    // sandbox, whose counts give the calls per request; the ratio is N = 2's rate over one process's.
    const scale = results.scale_out;
    const one = scale.baseline.all_in_one as {
      requests: number;
      completed: number;
      requests_per_s: number;
      calls_per_request: number;
      pinpoint_calls_per_request: number;
    };
    expect(one.completed).to.equal(one.requests);
    expect(one.pinpoint_calls_per_request, 'GetUserEndpoints, DeleteUserEndpoints, read-back').to.equal(3);
    for (const n of [1, 2, 4]) {
      const run = scale.measured[`workers_${n}`] as {
        processes: number;
        requests: number;
        completed: number;
        lost: number;
        calls_per_request: number;
      };
      expect(run.processes, `N=${n}`).to.equal(n + 1);
      expect(run.completed, `N=${n}`).to.equal(run.requests);
      expect(run.lost, `N=${n}`).to.equal(0);
      const within = Math.abs(run.calls_per_request - one.calls_per_request) <= 0.1 * one.calls_per_request;
      expect((scale.measured.calls_within_10pct as Record<string, boolean>)[String(n)], `N=${n}`).to.equal(within);
    }
    expect(scale.ratio).to.be.closeTo(
      (scale.measured.workers_2 as { requests_per_s: number }).requests_per_s / one.requests_per_s,
      0.01,
    );
  });

  it('runs one scenario with --only and refuses an unknown one with a clear message', async () => {
    const one = await runBench(['--json', '--size', 'smoke', '--only', 'scan']);
    expect(one.code, one.stderr.slice(-2000)).to.equal(0);
    expect(Object.keys(JSON.parse(one.stdout))).to.deep.equal(['scan']);
    expect(one.left, 'what the bench left in os.tmpdir()').to.deep.equal([]);
    const bad = await runBench(['--only', 'scna']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr)
      .to.match(/unknown scenario scna/)
      .and.match(/usage: npm run bench/);
  });

  it("with --profile, writes the CPU profiles of the pipeline run and of direct and reports each package's share of them", async () => {
    const profileFile = path.join('bench', '.cache', 'pipeline.cpuprofile');
    const directProfileFile = path.join('bench', '.cache', 'pipeline-direct.cpuprofile');
    rmSync(profileFile, { force: true });
    rmSync(directProfileFile, { force: true });
    const { code, stdout, stderr } = await runBench(['--json', '--size', 'smoke', '--only', 'pipeline', '--profile']);
    expect(code, stderr.slice(-2000)).to.equal(0);
    const pipeline = (
      JSON.parse(stdout) as Record<
        string,
        {
          measured: { profiled?: boolean; cpu_percent_by_package?: Record<string, number> };
          baseline: { direct_cpu_percent_by_package?: Record<string, number> };
        }
      >
    ).pipeline;
    const measured = pipeline.measured;
    expect(measured.profiled).to.equal(true);
    const shares = measured.cpu_percent_by_package!;
    expect(shares).to.include.keys('aws-sdk', 'pg', 'erasure (src, jobs, queues)');
    const total = Object.values(shares).reduce((a, b) => a + b, 0);
    expect(total).to.be.closeTo(100, 1);
    const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    expect(profile.samples.length).to.be.above(0);
    // The direct baseline is profiled too: the same client, and no ledger work (a stray pg timer of the closed service at most).
    const directShares = pipeline.baseline.direct_cpu_percent_by_package!;
    expect(directShares).to.include.keys('aws-sdk');
    expect(directShares.pg ?? 0).to.be.below(1);
    const directProfile = JSON.parse(readFileSync(directProfileFile, 'utf8')) as { samples: unknown[] };
    expect(directProfile.samples.length).to.be.above(0);
  });
});
