import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NO_POSTGRES, freshPostgresDatabase } from '../support/postgres.js';
import { sandboxVendorSettings, startCrashRig } from '../support/crash-rig.js';
import { skipBecause } from '../support/skip.js';
import { leftInChildTmpDir, makeChildTmpDir, makeTestTempDir } from '../support/temp-dirs.js';
import { startTestService, waitFor } from '../support/test-service.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface FixtureRun {
  code: number | null;
  output: string;
  /** What the run had made in its os.tmpdir(), and the pids of its Redis and Postgres servers. */
  seen: { made: string[]; pids: { redis?: number; postgres?: number } };
}

/** The servers of every fixture run, stopped here if the run left them behind (the failure looked for). */
const serversOfFixtures: Array<FixtureRun['seen']['pids']> = [];

/** test/support/temp-dir-run.fixture.ts in a mocha process of its own, whose os.tmpdir() is `tmp`. */
function runFixture(tmp: string, mode: 'normal' | 'sigint'): Promise<FixtureRun> {
  const mocha = path.join(ROOT, 'node_modules/mocha/bin/mocha.js');
  const child = spawn(process.execPath, [mocha, 'test/support/temp-dir-run.fixture.ts'], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: tmp, TEMP_DIR_RUN: mode },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let seen: FixtureRun['seen'] | undefined;
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    const line = /^TEMP-DIR-RUN (.*)\n/m.exec(output);
    if (line && !seen) {
      seen = JSON.parse(line[1]) as FixtureRun['seen'];
      serversOfFixtures.push(seen.pids);
      if (mode === 'sigint') child.kill('SIGINT');
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    // 'exit', not 'close': a server left running (the failure looked for) may hold the pipes open.
    child.once('exit', (code) => {
      if (!seen) reject(new Error(`the fixture run reported nothing (exit ${code}):\n${output.slice(-3000)}`));
      else resolve({ code, output, seen });
    });
  });
}

/** Whether `pid` is still a live process (a zombie, killed and not yet reaped by init, is not). */
function running(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = path.join('/proc', String(pid), 'stat');
  return !existsSync(stat) || !/\) Z /.test(readFileSync(stat, 'utf8'));
}

/** Resolves once neither server of a fixture run is alive; they were killed by another process, so this polls. */
async function serversGone(pids: FixtureRun['seen']['pids']): Promise<void> {
  await waitFor(async () => !running(pids.redis) && !running(pids.postgres), 5_000).catch(() => undefined);
  expect(running(pids.redis), 'redis-server still runs').to.equal(false);
  expect(running(pids.postgres), 'Postgres still runs').to.equal(false);
}

describe('Temp dirs of a test run (test/support/temp-dirs.ts)', function () {
  this.timeout(120_000);

  after(() => {
    for (const { redis, postgres } of serversOfFixtures.splice(0)) {
      if (running(redis)) process.kill(redis!, 'SIGKILL');
      // SIGQUIT: Postgres's immediate shutdown.
      if (running(postgres)) process.kill(postgres!, 'SIGQUIT');
    }
  });

  it("a test service's close removes the data dir made for it, and keeps one the test passed", async () => {
    const service = await startTestService();
    const made = service.config.dataDir;
    expect(existsSync(made)).to.equal(true);
    await service.close();
    expect(existsSync(made)).to.equal(false);

    const own = makeTestTempDir('erasure-own-data-');
    const second = await startTestService({ file: { dataDir: own } });
    await second.close();
    expect(existsSync(own), 'a dir the test passed is the test’s to remove').to.equal(true);
  });

  it("a crash rig's close removes its data dir once its worker processes are gone", async function () {
    if (!(await freshPostgresDatabase())) skipBecause(this, NO_POSTGRES);
    const rig = await startCrashRig({
      subjects: 2,
      vendors: (sandbox) => sandboxVendorSettings(sandbox),
      queues: ['pinpoint'],
    });
    if (!rig) throw new Error('no crash rig although Postgres runs');
    const dataDir = rig.service.config.dataDir;
    const worker = await rig.startWorker();
    expect(existsSync(dataDir)).to.equal(true);
    await rig.close();
    expect(worker.signalCode ?? worker.exitCode, 'the worker has exited').to.not.equal(null);
    expect(existsSync(dataDir)).to.equal(false);
  });

  it('a run leaves nothing in os.tmpdir() once it is over, after a failed test too', async () => {
    const tmp = makeChildTmpDir();
    const run = await runFixture(tmp, 'normal');
    expect(run.code, run.output.slice(-3000)).to.equal(1); // the fixture's deliberately failing test
    expect(run.seen.made.join(' '))
      .to.include('erasure-test-redis-')
      .and.include('erasure-test-data-')
      .and.include('erasure-board-views-');
    expect(leftInChildTmpDir(tmp), run.output.slice(-3000)).to.deep.equal([]);
    await serversGone(run.seen.pids);
  });

  it('a run stopped by SIGINT stops its Redis and Postgres servers first, then removes their dirs', async () => {
    const tmp = makeChildTmpDir();
    const run = await runFixture(tmp, 'sigint');
    // mocha's bin/mocha.js passes a SIGINT on to its child run and sends a SIGTERM right after it, so
    // the run ends by whichever its handlers (test/support/root-hooks.ts) see first: 130 or 143, through
    // the same exit path. Either way it must exit by itself, through its exit handlers, not be killed.
    expect(run.code, run.output.slice(-3000)).to.be.oneOf([130, 143]);
    expect(run.seen.pids.redis, 'the run had started its redis-server').to.be.a('number');
    expect(leftInChildTmpDir(tmp), run.output.slice(-3000)).to.deep.equal([]);
    await serversGone(run.seen.pids);
  });
});
