import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The closing line of a run (test/support/summary-reporter.cjs) on a small spec file run by mocha in
 * its own process: skips counted with their reasons (test/support/skip.ts), and with CI=true counted
 * as failures, exit status included.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const SPEC = `
import { skipBecause } from ${JSON.stringify(path.join(ROOT, 'test/support/skip.ts'))};
describe('a suite part that needs a server this machine lacks', () => {
  before(function () { skipBecause(this, 'no Postgres server here'); });
  it('one', () => {});
  it('two', () => {});
  describe('nested', () => { it('three', () => {}); });
});
describe('the rest', () => {
  it('runs', () => {});
  it('runs too', () => {});
  it('needs a browser', function () { skipBecause(this, 'no Chromium here'); });
  it('skips without saying why', function () { this.skip(); });
});
`;

function run(spec: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'erasure-summary-'));
  try {
    const file = path.join(dir, 'fixture.test.ts');
    writeFileSync(file, spec);
    const result = spawnSync(
      process.execPath,
      [
        path.join(ROOT, 'node_modules/mocha/bin/mocha.js'),
        '--no-config',
        '--node-option',
        'import=tsx',
        '--reporter',
        path.join(ROOT, 'test/support/summary-reporter.cjs'),
        file,
      ],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, encoding: 'utf8' },
    );
    const lines = result.stdout.trim().split('\n');
    return { status: result.status, last: lines[lines.length - 1], output: result.stdout + result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('The closing line of a test run', function () {
  this.timeout(60_000);

  it('counts every skipped test, grouped by the reason it was skipped, and passes without CI', () => {
    const result = run(SPEC);
    expect(result.last, result.output).to.equal(
      '2 passed, 0 failed, 5 skipped (no Postgres server here: 3; no Chromium here: 1; no reason given: 1)',
    );
    expect(result.status, result.output).to.equal(0);
  });

  it('counts skips as failures with CI=true, and exits non-zero', () => {
    const result = run(SPEC, { CI: 'true' });
    expect(result.last, result.output).to.equal(
      '2 passed, 5 failed (5 of them skipped, which CI=true counts as failed: no Postgres server here: 3; no Chromium here: 1; no reason given: 1)',
    );
    expect(result.status, result.output).to.equal(5);
  });

  it('keeps the plain "N passed, N failed" form when nothing is skipped, with or without CI', () => {
    const spec = `describe('all', () => { it('passes', () => {}); it('fails', () => { throw new Error('boom'); }); });`;
    for (const env of [{}, { CI: 'true' }] as Array<Record<string, string>>) {
      const result = run(spec, env);
      expect(result.last, result.output).to.equal('1 passed, 1 failed');
      expect(result.status, result.output).to.equal(1);
    }
  });
});
