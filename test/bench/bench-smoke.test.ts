import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const SCENARIOS = ['scan', 'pipeline', 'vendor_limits', 'amortisation', 'intake'];

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bench.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench (smoke sizes)', function () {
  this.timeout(240_000);

  it('runs every scenario and prints one JSON object keyed by scenario, each with measured figures, a baseline and a ratio', async () => {
    const { code, stdout, stderr } = await runBench(['--json', '--size', 'smoke']);
    expect(code, stderr.slice(-2000)).to.equal(0);
    const results = JSON.parse(stdout) as Record<string, { measured: Record<string, unknown>; baseline: Record<string, unknown>; ratio: number; met: boolean; target: string }>;
    expect(Object.keys(results)).to.deep.equal(SCENARIOS);
    for (const name of SCENARIOS) {
      const r = results[name]!;
      expect(r.ratio, name).to.be.a('number').and.satisfy(Number.isFinite).and.be.above(0);
      expect(Object.keys(r.measured), name).to.not.be.empty;
      expect(Object.keys(r.baseline), name).to.not.be.empty;
      expect(r.target, name).to.be.a('string').and.not.be.empty;
    }
    // The figures are real: both scanners found the same endpoints, and no request was lost.
    expect((results.scan!.measured.subjects_100 as Record<string, unknown>).same_endpoints_as_grep).to.equal(true);
    expect(results.vendor_limits!.measured.lost).to.equal(0);
    expect(results.pipeline!.measured.completed).to.equal(results.pipeline!.measured.requests);
    expect(results.amortisation!.measured.pinpoint_exports).to.equal(1);
  });

  it('runs one scenario with --only and refuses an unknown one with a clear message', async () => {
    const one = await runBench(['--json', '--size', 'smoke', '--only', 'scan']);
    expect(one.code, one.stderr.slice(-2000)).to.equal(0);
    expect(Object.keys(JSON.parse(one.stdout))).to.deep.equal(['scan']);
    const bad = await runBench(['--only', 'scna']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.match(/unknown scenario scna/).and.match(/usage: npm run bench/);
  });

  it('with --profile, writes the pipeline run\'s CPU profile and reports each package\'s share of it', async () => {
    const profileFile = path.join('bench', '.cache', 'pipeline.cpuprofile');
    rmSync(profileFile, { force: true });
    const { code, stdout, stderr } = await runBench(['--json', '--size', 'smoke', '--only', 'pipeline', '--profile']);
    expect(code, stderr.slice(-2000)).to.equal(0);
    const measured = (JSON.parse(stdout) as Record<string, { measured: { profiled?: boolean; cpu_percent_by_package?: Record<string, number> } }>).pipeline!.measured;
    expect(measured.profiled).to.equal(true);
    const shares = measured.cpu_percent_by_package!;
    expect(shares).to.include.keys('aws-sdk', 'pg', 'erasure (src, jobs, queues)');
    const total = Object.values(shares).reduce((a, b) => a + b, 0);
    expect(total).to.be.closeTo(100, 1);
    const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as { nodes: unknown[]; samples: unknown[] };
    expect(profile.samples.length).to.be.above(0);
  });
});
