#!/usr/bin/env node
// Runs before `npm start` (`ensure-ready.mjs start`) and `npm test` (`ensure-ready.mjs test`), and
// from .ci/run, so the README's two commands are the whole set-up on a fresh machine:
//   1. the system packages the command needs and the machine lacks (redis-server for both; postgresql
//      and chromium for the tests, which run the ledger on a real Postgres server and the admin page
//      in a real browser) are installed with the system's package manager when it may: apt-get or
//      dnf as root or with passwordless sudo, brew on macOS. It says what and why, and shows the
//      package manager's own progress.
//   2. the locked npm dependencies are installed on a fresh clone (npm ci).
// Where it may not install (ERASURE_NO_INSTALL=1, no root and no passwordless sudo, no known package
// manager) it prints the one command to run and exits non-zero. It writes nothing of its own anywhere.
// Everything it and the installers print goes to stderr: it runs before `npm run bench`, whose
// `--json` output on stdout must stay one JSON object.
//
// Plain Node, no dependencies: it runs before npm ci. Tools are looked for on PATH and in the
// directories below, the same places test/support/postgres.ts and test/support/chromium.ts look.
// ERASURE_READY_KNOWN_DIRS (colon-separated) replaces those directories; test/deployment/ensure-ready.test.ts
// sets it empty so that only its fake PATH counts.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

const purpose = process.argv[2] ?? 'start';
if (purpose !== 'start' && purpose !== 'test') {
  console.error(`usage: ensure-ready.mjs start|test (got ${purpose})`);
  process.exit(2);
}
const env = process.env;
/** The command the user ran, as npm names the pre-script it runs this from (prestart, pretest, prebench…). */
const lifecycle = (env.npm_lifecycle_event ?? '').replace(/^pre/, '');
const userCommand = ['start', 'test'].includes(lifecycle)
  ? `npm ${lifecycle}`
  : lifecycle
    ? `npm run ${lifecycle}`
    : `npm ${purpose}`;

/** Directories outside PATH where packages put these tools: Debian's postgresql, Homebrew's keg-only postgresql@N, the Chromium app on macOS. */
function knownDirs() {
  if (env.ERASURE_READY_KNOWN_DIRS !== undefined) return env.ERASURE_READY_KNOWN_DIRS.split(':').filter(Boolean);
  const versioned = (parent, prefix, suffix) => {
    try {
      return readdirSync(parent)
        .filter((name) => name.startsWith(prefix))
        .sort()
        .reverse()
        .map((name) => path.join(parent, name, suffix));
    } catch {
      return [];
    }
  };
  return [
    ...versioned('/usr/lib/postgresql', '', 'bin'),
    ...versioned('/opt/homebrew/opt', 'postgresql@', 'bin'),
    ...versioned('/usr/local/opt', 'postgresql@', 'bin'),
    '/Applications/Chromium.app/Contents/MacOS',
  ];
}

function found(name) {
  const dirs = [...(env.PATH ?? '').split(path.delimiter).filter(Boolean), ...knownDirs()];
  return dirs.some((dir) => {
    try {
      const file = path.join(dir, name);
      return statSync(file).isFile() && (statSync(file).mode & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/** What each command may need, in install order, with each package manager's package names. */
const TOOLS = [
  {
    label: 'redis-server',
    why:
      purpose === 'start'
        ? 'erasure starts its own Redis for its job queues unless REDIS_URL is set'
        : 'the tests start their own Redis for the job queues',
    needed: purpose === 'test' || !env.REDIS_URL,
    present: () => found('redis-server'),
    packages: { apt: ['redis-server'], dnf: ['redis'], brew: ['redis'] },
  },
  {
    label: 'postgresql',
    why: 'the ledger and crash tests run on a throw-away Postgres server (initdb, pg_ctl), not only on the embedded PGlite',
    needed: purpose === 'test',
    present: () => found('initdb') && found('pg_ctl'),
    packages: { apt: ['postgresql'], dnf: ['postgresql-server'], brew: ['postgresql@17'] },
  },
  {
    label: 'chromium',
    why: 'the admin page tests drive a real headless browser',
    needed: purpose === 'test',
    present: () => found('chromium') || found('chromium-browser') || found('Chromium'),
    packages: { apt: ['chromium'], dnf: ['chromium'], brew: ['--cask chromium'] },
  },
];

/** The package manager's commands that install `packages` (names in its own terms), privileges aside. */
const MANAGERS = {
  apt: {
    program: 'apt-get',
    env: { DEBIAN_FRONTEND: 'noninteractive' },
    commands: (packages) => [
      ['apt-get', 'update'],
      ['apt-get', 'install', '-y', ...packages],
    ],
    privileged: true,
  },
  dnf: { program: 'dnf', env: {}, commands: (packages) => [['dnf', 'install', '-y', ...packages]], privileged: true },
  brew: {
    program: 'brew',
    env: {},
    // Formulae in one call, casks (`--cask name`) in another.
    commands: (packages) => {
      const formulae = packages.filter((p) => !p.startsWith('--cask '));
      const casks = packages.filter((p) => p.startsWith('--cask ')).map((p) => p.slice('--cask '.length));
      return [
        ...(formulae.length ? [['brew', 'install', ...formulae]] : []),
        ...(casks.length ? [['brew', 'install', '--cask', ...casks]] : []),
      ];
    },
    privileged: false,
  },
};

function packageManager() {
  if (process.platform === 'darwin' && found('brew')) return 'brew';
  if (process.platform === 'win32') return undefined;
  return found('apt-get') ? 'apt' : found('dnf') ? 'dnf' : undefined;
}

function isRoot() {
  const id = spawnSync('id', ['-u'], { encoding: 'utf8' });
  return id.status === 0 ? id.stdout.trim() === '0' : process.getuid?.() === 0;
}

/** Why this user cannot run the package manager as root, or undefined when it can (root, or sudo without a password). */
function whyNotRoot() {
  if (!found('sudo')) return 'this is not root and sudo is not installed';
  return spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0
    ? undefined
    : 'this is not root and sudo needs a password';
}

const missing = TOOLS.filter((tool) => tool.needed && !tool.present());
if (missing.length > 0) {
  const manager = packageManager();
  const root = isRoot();
  const what = `${userCommand} needs ${missing.map((t) => `${t.label} (${t.why})`).join('; ')}.`;
  const optedOut =
    env.ERASURE_NO_INSTALL !== undefined && env.ERASURE_NO_INSTALL !== '' && env.ERASURE_NO_INSTALL !== '0';

  if (!manager) {
    console.error(
      [
        `${what} This machine lacks ${missing.map((t) => t.label).join(', ')}, and no package manager erasure knows (apt-get, dnf, brew on macOS) was found. Install them with:`,
        `  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y ${missing.flatMap((t) => t.packages.apt).join(' ')}`,
        `  Fedora/RHEL:    sudo dnf install -y ${missing.flatMap((t) => t.packages.dnf).join(' ')}`,
        `  macOS:          ${MANAGERS.brew
          .commands(missing.flatMap((t) => t.packages.brew))
          .map((c) => c.join(' '))
          .join(' && ')}`,
        ...(purpose === 'start' ? ['or run everything in containers:  docker compose up'] : []),
      ].join('\n'),
    );
    process.exit(1);
  }

  const spec = MANAGERS[manager];
  const commands = spec.commands(missing.flatMap((t) => t.packages[manager]));
  const sudo = spec.privileged && !root;
  const oneCommand = commands.map((c) => (sudo ? ['sudo', ...c] : c).join(' ')).join(' && ');
  const cannot = optedOut ? 'ERASURE_NO_INSTALL is set' : sudo ? whyNotRoot() : undefined;
  if (cannot) {
    console.error(
      `${what}\nNot installing ${missing.length > 1 ? 'them' : 'it'} here (${cannot}). Install ${missing.length > 1 ? 'them' : 'it'} with:\n  ${oneCommand}\nthen run ${userCommand} again.`,
    );
    process.exit(1);
  }

  console.error(
    `${what}\nInstalling ${missing.map((t) => t.label).join(', ')} with ${spec.program} (set ERASURE_NO_INSTALL=1 to do it yourself): ${oneCommand}`,
  );
  for (const command of commands) {
    // sudo resets the environment, so the package manager's variables go through env(1).
    const envArgs = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
    const argv = sudo ? ['sudo', '-n', ...(envArgs.length ? ['env', ...envArgs] : []), ...command] : command;
    console.error(`> ${argv.join(' ')}`);
    const result = spawnSync(argv[0], argv.slice(1), { stdio: ['inherit', 2, 2], env: { ...env, ...spec.env } });
    if (result.status !== 0) {
      console.error(
        `${argv.join(' ')} failed (${result.error?.message ?? `exit ${result.status ?? result.signal}`}). Install it yourself with:\n  ${oneCommand}`,
      );
      process.exit(1);
    }
  }
  const still = missing.filter((tool) => !tool.present());
  if (still.length > 0) {
    console.error(
      `${spec.program} finished, but ${still.map((t) => t.label).join(', ')} still cannot be found on PATH or in ${knownDirs().join(', ') || 'no other directory'}.`,
    );
    process.exit(1);
  }
}

const installed = 'node_modules/.package-lock.json';
if (!existsSync(installed) || statSync('package-lock.json').mtimeMs > statSync(installed).mtimeMs + 1000) {
  console.error('Installing dependencies (npm ci)…');
  const result = spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { stdio: ['inherit', 2, 2] });
  if (result.status !== 0) process.exit(result.status ?? 1);
}
