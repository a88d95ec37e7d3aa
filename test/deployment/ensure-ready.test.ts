import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * scripts/ensure-ready.mjs (what `npm start` and `npm test` run first) on a fake machine: a PATH
 * holding only fake `id`, `sudo`, package managers and `npm` that log what they are asked to do, and
 * whose installs drop fake tools onto that same PATH. ERASURE_READY_KNOWN_DIRS is empty, so tools the
 * real machine has elsewhere do not count.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCRIPT = path.join(ROOT, 'scripts/ensure-ready.mjs');

/** The tools each fake package installs. */
const PROVIDES: Record<string, string[]> = {
  'redis-server': ['redis-server'],
  redis: ['redis-server'],
  postgresql: ['initdb', 'pg_ctl'],
  'postgresql-server': ['initdb', 'pg_ctl'],
  chromium: ['chromium'],
};

interface FakeMachine {
  uid: number;
  sudo: 'passwordless' | 'password' | 'none';
  manager: 'apt-get' | 'dnf' | 'none';
  /** Tools already installed. */
  tools?: string[];
  /** Whether npm ci already ran in the clone. */
  installed?: boolean;
}

/** A real system tool's absolute path, for the fake scripts (their PATH holds only fakes). */
const real = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();

function script(file: string, body: string): void {
  writeFileSync(file, `#!/bin/sh\n${body}\n`);
  chmodSync(file, 0o755);
}

function fakeMachine(machine: FakeMachine) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'erasure-ensure-ready-'));
  const bin = path.join(dir, 'bin');
  const clone = path.join(dir, 'clone');
  const home = path.join(dir, 'home');
  const log = path.join(dir, 'calls.log');
  for (const d of [bin, clone, home]) mkdirSync(d);
  writeFileSync(log, '');
  writeFileSync(path.join(clone, 'package-lock.json'), '{}');
  if (machine.installed ?? true) {
    mkdirSync(path.join(clone, 'node_modules'));
    writeFileSync(path.join(clone, 'node_modules/.package-lock.json'), '{}');
  }
  const tool = (name: string) => {
    script(path.join(bin, name), 'exit 0');
  };
  for (const name of machine.tools ?? []) for (const t of PROVIDES[name] ?? [name]) tool(t);
  symlinkSync(real('env'), path.join(bin, 'env'));

  script(path.join(bin, 'id'), `[ "$1" = -u ] && echo ${machine.uid}`);
  if (machine.sudo !== 'none') {
    script(
      path.join(bin, 'sudo'),
      [
        `if [ "$1" = -n ] && [ "$2" = true ]; then exit ${machine.sudo === 'passwordless' ? 0 : 1}; fi`,
        `echo "sudo $*" >> ${log}`,
        machine.sudo === 'passwordless'
          ? '[ "$1" = -n ] && shift; exec "$@"'
          : 'echo "sudo: a password is required" >&2; exit 1',
      ].join('\n'),
    );
  }
  if (machine.manager !== 'none') {
    const installs = Object.entries(PROVIDES)
      .map(
        ([pkg, tools]) =>
          `      ${pkg}) ${tools.map((t) => `printf '#!/bin/sh\\nexit 0\\n' > ${bin}/${t}; ${real('chmod')} 755 ${bin}/${t};`).join(' ')} ;;`,
      )
      .join('\n');
    script(
      path.join(bin, machine.manager),
      [
        `echo "${machine.manager} $* [uid=$(id -u) DEBIAN_FRONTEND=$DEBIAN_FRONTEND]" >> ${log}`,
        'echo "Reading package lists... (fake progress)"',
        'if [ "$1" = install ]; then',
        '  for p in "$@"; do',
        '    case "$p" in',
        installs,
        '    esac',
        '    case "$p" in -*|install) ;; *) echo "Setting up $p (fake progress)";; esac',
        '  done',
        'fi',
      ].join('\n'),
    );
  }
  script(
    path.join(bin, 'npm'),
    `echo "npm $*" >> ${log}\n${real('mkdir')} -p node_modules && echo '{}' > node_modules/.package-lock.json`,
  );

  const run = (purpose: string, env: Record<string, string> = {}) => {
    const result = spawnSync(process.execPath, [SCRIPT, purpose], {
      cwd: clone,
      env: { PATH: bin, HOME: home, ERASURE_READY_KNOWN_DIRS: '', ...env },
      encoding: 'utf8',
    });
    const calls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, calls };
  };
  /** Every file under the clone and HOME: what the run left behind. */
  const files = () =>
    [clone, home].flatMap((d) =>
      (readdirSync(d, { recursive: true }) as string[]).map((f) => path.join(path.basename(d), f)).sort(),
    );
  return {
    run,
    files,
    bin,
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('scripts/ensure-ready.mjs on a machine that lacks what npm start and npm test need', () => {
  const machines: Array<{ cleanup: () => void }> = [];
  const machine = (m: FakeMachine) => {
    const made = fakeMachine(m);
    machines.push(made);
    return made;
  };
  after(() => {
    machines.forEach((m) => {
      m.cleanup();
    });
  });

  describe('allowed to install', () => {
    it('as root with apt-get: updates the package lists, then installs redis-server, postgresql and chromium for npm test, showing apt-get’s progress', () => {
      const m = machine({ uid: 0, sudo: 'none', manager: 'apt-get' });
      const result = m.run('test');
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal([
        'apt-get update [uid=0 DEBIAN_FRONTEND=noninteractive]',
        'apt-get install -y redis-server postgresql chromium [uid=0 DEBIAN_FRONTEND=noninteractive]',
      ]);
      // What and why, before the package manager's own output, which is passed through.
      expect(result.stderr).to.match(/redis-server \(the tests start their own Redis/);
      expect(result.stderr).to.match(/postgresql \(the ledger and crash tests run on a throw-away Postgres server/);
      expect(result.stderr).to.match(/chromium \(the admin page tests drive a real headless browser\)/);
      expect(result.stderr).to.include('ERASURE_NO_INSTALL=1');
      expect(result.stderr.indexOf('Installing redis-server, postgresql, chromium')).to.be.lessThan(
        result.stderr.indexOf('Reading package lists... (fake progress)'),
      );
      expect(result.stderr).to.include('Setting up chromium (fake progress)');
      for (const tool of ['redis-server', 'initdb', 'pg_ctl', 'chromium'])
        expect(existsSync(path.join(m.bin, tool)), tool).to.equal(true);
      // Nothing of its own written anywhere: the clone and HOME hold what they held.
      expect(m.files()).to.deep.equal([
        'clone/node_modules',
        'clone/node_modules/.package-lock.json',
        'clone/package-lock.json',
      ]);
    });

    it('as a user with passwordless sudo: runs apt-get through sudo, passing DEBIAN_FRONTEND through env, and installs only what is missing', () => {
      const m = machine({ uid: 1000, sudo: 'passwordless', manager: 'apt-get', tools: ['redis-server'] });
      const result = m.run('test');
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal([
        'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get update',
        'apt-get update [uid=1000 DEBIAN_FRONTEND=noninteractive]',
        'sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql chromium',
        'apt-get install -y postgresql chromium [uid=1000 DEBIAN_FRONTEND=noninteractive]',
      ]);
    });

    it('for npm start: installs redis-server alone, and then the npm dependencies of a fresh clone', () => {
      const m = machine({ uid: 0, sudo: 'none', manager: 'apt-get', installed: false });
      const result = m.run('start');
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal([
        'apt-get update [uid=0 DEBIAN_FRONTEND=noninteractive]',
        'apt-get install -y redis-server [uid=0 DEBIAN_FRONTEND=noninteractive]',
        'npm ci --no-audit --no-fund',
      ]);
      expect(result.stderr).to.match(
        /redis-server \(erasure starts its own Redis for its job queues unless REDIS_URL is set\)/,
      );
      // `npm run bench -- --json` runs this first: stdout stays the bench's JSON alone.
      expect(result.stdout).to.equal('');
    });

    it('with dnf: installs the Fedora package names in one call', () => {
      const m = machine({ uid: 0, sudo: 'none', manager: 'dnf' });
      const result = m.run('test');
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal(['dnf install -y redis postgresql-server chromium [uid=0 DEBIAN_FRONTEND=]']);
    });

    it('installs nothing and says nothing when everything is there', () => {
      const m = machine({
        uid: 0,
        sudo: 'none',
        manager: 'apt-get',
        tools: ['redis-server', 'postgresql', 'chromium'],
      });
      const result = m.run('test');
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal([]);
      expect(result.stdout + result.stderr).to.equal('');
    });

    it('does not need redis-server for npm start when REDIS_URL points at a server', () => {
      const m = machine({ uid: 1000, sudo: 'none', manager: 'apt-get' });
      const result = m.run('start', { REDIS_URL: 'redis://127.0.0.1:6379' });
      expect(result.status, result.stderr).to.equal(0);
      expect(result.calls).to.deep.equal([]);
    });
  });

  describe('not allowed to install', () => {
    for (const sudo of ['password', 'none'] as const) {
      it(`as a user ${sudo === 'none' ? 'without sudo' : 'whose sudo needs a password'}: prints the one command, installs nothing, exits non-zero`, () => {
        const m = machine({ uid: 1000, sudo, manager: 'apt-get' });
        const result = m.run('test');
        expect(result.status).to.not.equal(0);
        expect(result.calls).to.deep.equal([]);
        expect(result.stderr).to.include(
          '\n  sudo apt-get update && sudo apt-get install -y redis-server postgresql chromium\n',
        );
        expect(result.stderr).to.include(
          sudo === 'none' ? 'this is not root and sudo is not installed' : 'this is not root and sudo needs a password',
        );
        expect(result.stderr).to.match(/chromium \(the admin page tests drive a real headless browser\)/);
      });
    }

    it('on a system without a package manager it knows: names the packages for each, installs nothing, exits non-zero', () => {
      const m = machine({ uid: 0, sudo: 'none', manager: 'none' });
      const result = m.run('start');
      expect(result.status).to.not.equal(0);
      expect(result.calls).to.deep.equal([]);
      expect(result.stderr).to.include('sudo apt-get update && sudo apt-get install -y redis-server\n');
      expect(result.stderr).to.include('sudo dnf install -y redis\n');
      expect(result.stderr).to.include('brew install redis\n');
      expect(result.stderr).to.include('docker compose up');
    });
  });

  describe('opted out with ERASURE_NO_INSTALL=1', () => {
    it('as root with apt-get: prints the one command, installs nothing (not even npm dependencies), exits non-zero', () => {
      const m = machine({ uid: 0, sudo: 'none', manager: 'apt-get', installed: false });
      const result = m.run('test', { ERASURE_NO_INSTALL: '1' });
      expect(result.status).to.not.equal(0);
      expect(result.calls).to.deep.equal([]);
      expect(result.stderr).to.include('ERASURE_NO_INSTALL is set');
      expect(result.stderr).to.include('\n  apt-get update && apt-get install -y redis-server postgresql chromium\n');
      expect(m.files()).to.deep.equal(['clone/package-lock.json']);
    });

    it('with passwordless sudo: still installs nothing', () => {
      const m = machine({ uid: 1000, sudo: 'passwordless', manager: 'apt-get', tools: ['redis-server', 'chromium'] });
      const result = m.run('test', { ERASURE_NO_INSTALL: '1' });
      expect(result.status).to.not.equal(0);
      expect(result.calls).to.deep.equal([]);
      expect(result.stderr).to.include('\n  sudo apt-get update && sudo apt-get install -y postgresql\n');
    });
  });
});
