import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { ENV_VARS, loadConfig } from '../../src/config/load-config.js';

/**
 * The deployment files (Dockerfile, docker-compose.yml, config/erasure.example.yaml) checked
 * without Docker: what compose would wire up, read from the files themselves.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

const composeText = read('docker-compose.yml');
// Compose honours YAML merge keys (`<<: *anchor`); so must this parse.
const compose = YAML.parse(composeText, { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};
const dockerfile = read('Dockerfile');

interface Service {
  image?: string;
  build?: unknown;
  command?: string | string[];
  environment?: Record<string, string> | string[];
  ports?: Array<string | { target: number; published?: number | string }>;
  volumes?: Array<string | { type?: string; source?: string; target: string; read_only?: boolean }>;
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  container_name?: string;
  deploy?: { replicas?: number };
  profiles?: string[];
}

/** Secrets a user must export before compose will start; made-up values for the checks below. */
const SECRETS = {
  ERASURE_ADMIN_TOKEN: 'test-admin-token-0123456789',
  ERASURE_ENCRYPTION_KEY: 'ab'.repeat(32),
  ERASURE_RECEIPT_SIGNING_KEY: 'cd'.repeat(32),
};

/**
 * Compose's variable interpolation: `${NAME}`, `${NAME:-default}`, `${NAME-default}`,
 * `${NAME:?message}` / `${NAME?message}` (an error when unset) and `$$` for a literal `$`.
 */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g,
    (whole, name?: string, colon?: string, op?: string, arg?: string) => {
      if (whole === '$$') return '$';
      const current = env[name!];
      const missing = current === undefined || (colon === ':' && current === '');
      if (op === '-') return missing ? arg! : current;
      if (op === '?' && missing) throw new Error(`required variable ${name} is missing a value: ${arg}`);
      return current ?? '';
    },
  );
}

function environmentOf(service: Service, env: Record<string, string | undefined> = SECRETS): Record<string, string> {
  const raw = service.environment ?? {};
  const entries = Array.isArray(raw)
    ? raw.map((line) => line.split(/=(.*)/s, 2) as [string, string])
    : Object.entries(raw);
  return Object.fromEntries(entries.map(([k, v]) => [k, interpolate(v, env)]));
}

function commandOf(service: Service): string[] {
  const c = service.command ?? [];
  return Array.isArray(c) ? c : c.split(/\s+/).filter(Boolean);
}

function dependsOn(service: Service): Record<string, { condition?: string }> {
  const d = service.depends_on ?? {};
  return Array.isArray(d) ? Object.fromEntries(d.map((name) => [name, {}])) : d;
}

function healthTest(service: Service): string {
  const t = service.healthcheck?.test ?? [];
  return Array.isArray(t) ? t.join(' ') : t;
}

/** Bind mounts as { source, target, readOnly }, sources interpolated with compose's defaults. */
function bindMounts(service: Service, env: Record<string, string | undefined> = {}) {
  return (service.volumes ?? []).map((v) => {
    if (typeof v !== 'string') return { source: v.source ?? '', target: v.target, readOnly: v.read_only === true };
    const [source, target, mode = ''] = interpolate(v, env).split(':');
    return { source: source, target: target, readOnly: mode.split(',').includes('ro') };
  });
}

/** The Dockerfile's instructions with continuation lines joined and comments dropped. */
function dockerInstructions(): Array<{ op: string; args: string }> {
  return dockerfile
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const [op, ...rest] = line.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

/** Compose specification's top-level and service keys (extensions are `x-*`); compose rejects others. */
const COMPOSE_TOP_LEVEL = [
  'version',
  'name',
  'include',
  'services',
  'networks',
  'volumes',
  'secrets',
  'configs',
  'models',
];
const COMPOSE_SERVICE_KEYS = (
  'annotations attach blkio_config build cap_add cap_drop cgroup cgroup_parent command configs container_name cpu_count ' +
  'cpu_percent cpu_shares cpu_period cpu_quota cpu_rt_runtime cpu_rt_period cpus cpuset credential_spec depends_on deploy ' +
  'develop device_cgroup_rules devices dns dns_opt dns_search domainname entrypoint env_file environment expose extends ' +
  'external_links extra_hosts gpus group_add healthcheck hostname image init ipc isolation labels label_file links logging ' +
  'mac_address mem_limit mem_reservation mem_swappiness memswap_limit models network_mode networks oom_kill_disable ' +
  'oom_score_adj pid pids_limit platform ports post_start pre_stop privileged profiles provider pull_policy read_only ' +
  'restart runtime scale secrets security_opt shm_size stdin_open stop_grace_period stop_signal storage_opt sysctls tmpfs ' +
  'tty ulimits use_api_socket user userns_mode uts volumes volumes_from working_dir'
).split(' ');

/**
 * What `docker compose config` checks, done on the parsed file for machines without the compose
 * plugin: every value interpolates with `env` (a required variable that is unset throws, naming it),
 * only known keys, every service has an image or a build, depends_on names services, and every named
 * volume a service mounts is declared. Returns the problems found.
 */
function composeConfigProblems(document: Record<string, unknown>, env: Record<string, string | undefined>): string[] {
  const walk = (value: unknown): void => {
    if (typeof value === 'string') interpolate(value, env);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(document);
  const problems: string[] = [];
  const known = (key: string, allowed: string[]) => key.startsWith('x-') || allowed.includes(key);
  for (const key of Object.keys(document))
    if (!known(key, COMPOSE_TOP_LEVEL)) problems.push(`unknown top-level key ${key}`);
  const services = (document.services ?? {}) as Record<string, Service & Record<string, unknown>>;
  const volumes = Object.keys(document.volumes ?? {});
  for (const [name, service] of Object.entries(services)) {
    for (const key of Object.keys(service))
      if (!known(key, COMPOSE_SERVICE_KEYS)) problems.push(`${name}: unknown key ${key}`);
    if (!service.image && !service.build) problems.push(`${name}: neither image nor build`);
    for (const dependency of Object.keys(dependsOn(service)))
      if (!services[dependency]) problems.push(`${name}: depends on undefined service ${dependency}`);
    for (const { source } of bindMounts(service, env)) {
      const named = source !== '' && !/^[./~]/.test(source) && !source.includes('/');
      if (named && !volumes.includes(source)) problems.push(`${name}: volume ${source} is not declared`);
    }
  }
  return problems;
}

const APP_SERVICES = ['api', 'worker'] as const;

describe('docker-compose.yml', () => {
  const services = compose.services ?? {};

  it('defines the redis, postgres, api and worker services', () => {
    expect(services).to.include.all.keys('redis', 'postgres', 'api', 'worker');
  });

  it('runs Redis with an append-only file and the noeviction policy BullMQ needs', () => {
    const args = commandOf(services.redis).join(' ');
    expect(args).to.match(/^redis-server\b/);
    expect(args).to.match(/--appendonly yes\b/);
    expect(args).to.match(/--appendfsync everysec\b/);
    expect(args).to.match(/--maxmemory-policy noeviction\b/);
  });

  it('keeps the Redis and Postgres data in named volumes', () => {
    const named = Object.keys(compose.volumes ?? {});
    const volumeFor = (service: Service, target: string) =>
      bindMounts(service).find((m) => m.target === target)?.source;
    expect(named).to.include(volumeFor(services.redis, '/data'));
    expect(named).to.include(volumeFor(services.postgres, '/var/lib/postgresql/data'));
  });

  for (const name of APP_SERVICES) {
    it(`points the ${name} at the redis service and at the postgres service with its user, password and database`, () => {
      // Checked with the default password and with one set in the environment: both sides must follow.
      for (const extra of [{}, { POSTGRES_PASSWORD: 'another-secret' }]) {
        const env = { ...SECRETS, ...extra };
        const app = environmentOf(services[name], env);
        const pg = environmentOf(services.postgres, env);

        const redis = new URL(app.REDIS_URL);
        expect(redis.protocol).to.equal('redis:');
        expect(redis.hostname).to.equal('redis');
        expect(redis.port || '6379').to.equal('6379');

        const db = new URL(app.DATABASE_URL);
        expect(db.protocol).to.match(/^postgres(ql)?:$/);
        expect(db.hostname).to.equal('postgres');
        expect(db.port || '5432').to.equal('5432');
        expect(decodeURIComponent(db.username)).to.equal(pg.POSTGRES_USER);
        expect(decodeURIComponent(db.password)).to.equal(pg.POSTGRES_PASSWORD);
        expect(db.pathname).to.equal(`/${pg.POSTGRES_DB ?? pg.POSTGRES_USER}`);
      }
    });

    it(`refuses to render the ${name} unless ERASURE_ADMIN_TOKEN and ERASURE_ENCRYPTION_KEY are set`, () => {
      const raw = services[name].environment as Record<string, string>;
      for (const secret of Object.keys(SECRETS) as Array<keyof typeof SECRETS>) {
        expect(raw[secret], secret).to.match(new RegExp(`^\\$\\{${secret}:\\?.+\\}$`));
        const without: Record<string, string | undefined> = { ...SECRETS, [secret]: undefined };
        expect(() => environmentOf(services[name], without), `without ${secret}`).to.throw(secret);
        expect(() => environmentOf(services[name], { ...SECRETS, [secret]: '' }), `with an empty ${secret}`).to.throw(
          secret,
        );
      }
    });

    it(`gives the ${name} only environment variables that src/config/load-config.ts reads`, () => {
      const names = Object.keys(environmentOf(services[name]));
      expect(names).to.not.be.empty;
      for (const variable of names) expect(ENV_VARS, variable).to.include(variable);
    });

    it(`starts the ${name} only once redis and postgres report healthy`, () => {
      const deps = dependsOn(services[name]);
      expect(deps.redis?.condition).to.equal('service_healthy');
      expect(deps.postgres?.condition).to.equal('service_healthy');
    });

    it(`runs the ${name} from the image built from this repository's Dockerfile`, () => {
      const build = services[name].build;
      const context = typeof build === 'string' ? build : (build as { context?: string } | undefined)?.context;
      expect(context, 'build context').to.be.oneOf(['.', './']);
      expect(services[name].image ?? '').to.equal(services.api.image ?? '');
    });

    it(`mounts a vendor config into the ${name} read-only where ERASURE_CONFIG points`, () => {
      const env = environmentOf(services[name]);
      const mount = bindMounts(services[name]).find((m) => m.target === env.ERASURE_CONFIG);
      expect(mount, `a volume mounted at ERASURE_CONFIG (${env.ERASURE_CONFIG})`).to.exist;
      expect(mount!.readOnly).to.equal(true);
      expect(mount!.source).to.equal('./config/erasure.example.yaml');
      expect(services[name].volumes?.[0])
        .to.be.a('string')
        .and.match(/^\$\{ERASURE_CONFIG_FILE:-/);
    });
  }

  it('gives redis and postgres healthchecks that depends_on can wait for', () => {
    expect(healthTest(services.redis)).to.match(/\bredis-cli\b.*\bping\b/);
    expect(healthTest(services.postgres)).to.match(/\bpg_isready\b/);
    expect(services.redis.healthcheck?.disable).to.not.equal(true);
    expect(services.postgres.healthcheck?.disable).to.not.equal(true);
  });

  it('publishes the api on port 3000 and has it listen on every interface inside its container', () => {
    const env = environmentOf(services.api);
    expect(env.HOST).to.equal('0.0.0.0');
    expect(env.PORT).to.equal('3000');
    const ports = (services.api.ports ?? []).map((p) => (typeof p === 'string' ? p : `${p.published}:${p.target}`));
    expect(ports).to.include('3000:3000');
    expect(commandOf(services.api)).to.deep.equal(['api']);
  });

  it('lets the worker scale: no published ports, no container_name, two replicas', () => {
    const worker = services.worker;
    expect(commandOf(worker)[0]).to.equal('worker');
    expect(worker.ports ?? []).to.be.empty;
    expect(worker).to.not.have.property('container_name');
    expect(worker.deploy?.replicas).to.equal(2);
    const env = environmentOf(worker);
    expect(env).to.not.have.any.keys('PORT', 'HOST');
  });

  it("turns off the image's HTTP healthcheck for the worker, which serves no HTTP", () => {
    expect(services.worker.healthcheck?.disable).to.equal(true);
    expect(services.api.healthcheck?.disable).to.not.equal(true);
  });

  it('mounts by default an example vendor config that loadConfig accepts, outside sandbox mode', () => {
    const source = bindMounts(services.api).find(
      (m) => m.target === environmentOf(services.api).ERASURE_CONFIG,
    )!.source;
    const file = YAML.parse(readFileSync(path.resolve(root, source), 'utf8'));
    const alone = loadConfig({ env: {}, file });
    expect(alone.sandboxMode).to.equal(false);
    expect(alone.vendors.pinpoint?.appIds).to.not.be.empty;
    expect(alone.tokens).to.not.be.empty;

    // And together with the environment compose gives each role (its URLs, HOST, key format…).
    for (const name of APP_SERVICES) {
      const env = environmentOf(services[name]);
      delete env.ERASURE_CONFIG; // the container path; the parsed file is passed directly
      const config = loadConfig({ env, file });
      expect(config.redisUrl).to.equal(env.REDIS_URL);
      expect(config.databaseUrl).to.equal(env.DATABASE_URL);
    }
  });

  it('is accepted by `docker compose config`, or where Compose is not installed by the same checks on the parsed file', () => {
    // Docker Compose v2 renders and validates the file without a Docker daemon. Where its plugin is
    // absent (this project's machines have only the docker client) the same checks run on the parsed
    // file, so this test runs everywhere and CI=true (which fails on a skip) can pass.
    const version = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (version.status !== 0) {
      expect(composeConfigProblems(compose, SECRETS)).to.deep.equal([]);
      expect(() => composeConfigProblems(compose, {})).to.throw(/ERASURE_(ADMIN_TOKEN|ENCRYPTION_KEY)/);
      // The checks can fail: a typo, a dependency on no service and an undeclared volume are found.
      const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
      broken.services.api.depend_on = broken.services.api.depends_on;
      broken.services.worker.depends_on = {
        redis: { condition: 'service_healthy' },
        postgress: { condition: 'service_healthy' },
      };
      broken.services.redis.volumes = ['redis-cache:/data'];
      expect(composeConfigProblems(broken, SECRETS)).to.deep.equal([
        'redis: volume redis-cache is not declared',
        'api: unknown key depend_on',
        'worker: depends on undefined service postgress',
      ]);
      return;
    }
    const run = (env: Record<string, string | undefined>) =>
      spawnSync('docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q'], {
        cwd: root,
        encoding: 'utf8',
        env: {
          ...process.env,
          ERASURE_ADMIN_TOKEN: undefined,
          ERASURE_ENCRYPTION_KEY: undefined,
          ERASURE_RECEIPT_SIGNING_KEY: undefined,
          ERASURE_CONFIG_FILE: undefined,
          ...env,
        },
      });
    const ok = run(SECRETS);
    expect(ok.status, ok.stderr).to.equal(0);
    const missing = run({});
    expect(missing.status).to.not.equal(0);
    expect(missing.stderr).to.match(/ERASURE_(ADMIN_TOKEN|ENCRYPTION_KEY|RECEIPT_SIGNING_KEY)/);
  });
});

describe('docker-compose.yml, profile sandbox (split roles on the shared sandbox, no vendor account)', () => {
  const services = compose.services ?? {};
  const SANDBOX_SERVICES = ['sandbox', 'sandbox-api', 'sandbox-worker'] as const;

  it('adds the sandbox, sandbox-api and sandbox-worker services, in that profile only; the others run as before', () => {
    for (const name of SANDBOX_SERVICES) expect(services[name]?.profiles, name).to.deep.equal(['sandbox']);
    for (const name of ['redis', 'postgres', 'api', 'worker'])
      expect(services[name].profiles, name).to.equal(undefined);
  });

  it('runs `erasure sandbox` on every interface of its container, behind the admin token, with the healthcheck it serves', () => {
    const sandbox = services.sandbox;
    expect(commandOf(sandbox)).to.deep.equal(['sandbox']);
    const env = environmentOf(sandbox);
    expect(env.HOST).to.equal('0.0.0.0');
    expect(Number(env.PORT)).to.be.greaterThan(0);
    for (const variable of Object.keys(env)) expect(ENV_VARS, variable).to.include(variable);
    expect(() => environmentOf(sandbox, { ...SECRETS, ERASURE_ADMIN_TOKEN: undefined })).to.throw(
      'ERASURE_ADMIN_TOKEN',
    );
    // The image's HEALTHCHECK asks /healthz on PORT; src/sandbox/sandbox-server.ts serves it (test/integration/shared-sandbox.test.ts).
    expect(sandbox.healthcheck?.disable).to.not.equal(true);
    expect(sandbox.build).to.equal(services.api.build);
    expect(sandbox.image).to.equal(services.api.image);
  });

  for (const name of ['sandbox-api', 'sandbox-worker'] as const) {
    it(`points the ${name} at the sandbox service (ERASURE_SANDBOX_URL), with no vendor config, so it runs in sandbox mode on the shared simulators`, () => {
      const service = services[name];
      const env = environmentOf(service);
      const url = new URL(env.ERASURE_SANDBOX_URL);
      expect(url.hostname).to.equal('sandbox');
      expect(url.port).to.equal(environmentOf(services.sandbox).PORT);
      expect(env).to.not.have.property('ERASURE_CONFIG');
      expect(service.volumes ?? []).to.be.empty;
      for (const variable of Object.keys(env)) expect(ENV_VARS, variable).to.include(variable);
      const config = loadConfig({ env, file: {} });
      expect(config.sandboxMode).to.equal(true);
      expect(config.sandbox.url).to.equal(env.ERASURE_SANDBOX_URL);
      expect(config.redisUrl).to.equal(environmentOf(services.api).REDIS_URL);
      expect(config.databaseUrl).to.equal(environmentOf(services.api).DATABASE_URL);
      // The same token the sandbox checks, and the one encryption key every process seals and opens with.
      expect(env.ERASURE_ADMIN_TOKEN).to.equal(environmentOf(services.sandbox).ERASURE_ADMIN_TOKEN);
      for (const secret of Object.keys(SECRETS))
        expect(() => environmentOf(service, { ...SECRETS, [secret]: undefined }), secret).to.throw(secret);
    });

    it(`starts the ${name} once redis, postgres and the sandbox report healthy`, () => {
      const deps = dependsOn(services[name]);
      for (const dep of ['redis', 'postgres', 'sandbox']) expect(deps[dep]?.condition, dep).to.equal('service_healthy');
    });
  }

  it('publishes the sandbox-api on port 3000 and lets the sandbox-worker scale', () => {
    const api = services['sandbox-api'];
    expect(commandOf(api)).to.deep.equal(['api']);
    expect(environmentOf(api).HOST).to.equal('0.0.0.0');
    expect((api.ports ?? []).map(String)).to.include('3000:3000');
    const worker = services['sandbox-worker'];
    expect(commandOf(worker)).to.deep.equal(['worker']);
    expect(worker.ports ?? []).to.be.empty;
    expect(worker).to.not.have.property('container_name');
    expect(worker.healthcheck?.disable).to.equal(true);
    expect(environmentOf(worker)).to.not.have.any.keys('PORT', 'HOST');
  });

  it('documents its command in the file, naming the services so the real-vendor api and worker stay down', () => {
    expect(composeText).to.include(
      'docker compose --profile sandbox up --scale sandbox-worker=3 sandbox-api sandbox-worker',
    );
  });
});

describe('Dockerfile', () => {
  const instructions = dockerInstructions();
  const last = (op: string) => [...instructions].reverse().find((i) => i.op === op);
  const main = read('src/cli/main.ts');

  it('builds on node:22-bookworm-slim (the current LTS) and runs as a non-root user', () => {
    expect(instructions[0]).to.deep.equal({ op: 'FROM', args: 'node:22-bookworm-slim' });
    const user = last('USER')?.args;
    expect(user, 'USER').to.be.a('string');
    expect(user).to.not.match(/^(root|0)(:|$)/);
  });

  it('has an entrypoint that runs bin/erasure.mjs and starts the all-in-one service by default', () => {
    expect(JSON.parse(last('ENTRYPOINT')!.args)).to.deep.equal(['node', 'bin/erasure.mjs']);
    expect(JSON.parse(last('CMD')!.args)).to.deep.equal(['start']);
    expect(existsSync(path.join(root, 'bin/erasure.mjs'))).to.equal(true);
  });

  it('accepts every command the compose services give it', () => {
    const commands = new Set([
      'start',
      ...Object.values(compose.services).flatMap((s) => (s.build ? [commandOf(s)[0]] : [])),
    ]);
    expect(commands).to.include.keys('api', 'worker');
    for (const command of commands) {
      expect(main, `case '${command}' in src/cli/main.ts`).to.include(`case '${command}':`);
      expect(main, `${command} in USAGE`).to.match(new RegExp(`^  ${command}\\b`, 'm'));
    }
  });

  it('installs with npm ci from the lock file and copies every directory the runtime imports from', () => {
    expect(instructions.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args))).to.equal(true);
    const copied = new Set(
      instructions
        .filter((i) => i.op === 'COPY')
        .flatMap((i) =>
          i.args
            .split(/\s+/)
            .slice(0, -1)
            .map((p) => p.replace(/^\.\/|\/$/g, '')),
        ),
    );
    expect(copied).to.include.keys('package-lock.json', 'bin', 'src');
    // Every top-level directory reached by a relative import from src/ must be in the image.
    const needed = new Set<string>();
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir)) {
        const full = path.join(dir, entry);
        if (statSync(full).isDirectory()) walk(full);
        else if (full.endsWith('.ts')) {
          for (const [, spec] of readFileSync(full, 'utf8').matchAll(/from\s+'(\.{1,2}\/[^']+)'/g)) {
            needed.add(path.relative(root, path.resolve(path.dirname(full), spec)).split(path.sep)[0]);
          }
        }
      }
    };
    walk(path.join(root, 'src'));
    expect(needed).to.include.keys('src');
    for (const dir of needed) expect(copied, `COPY ${dir}`).to.include.keys(dir);
  });

  it('exposes port 3000 and checks health through /healthz with node, not curl', () => {
    expect(last('EXPOSE')?.args.split(/\s+/)).to.include('3000');
    const health = last('HEALTHCHECK')?.args ?? '';
    expect(health).to.include('/healthz');
    expect(health).to.match(/CMD \["node",/);
    expect(health).to.not.match(/\bcurl\b|\bwget\b/);
  });

  it('sets only environment variables that the service (or Node itself, NODE_ENV) reads', () => {
    const names = instructions
      .filter((i) => i.op === 'ENV')
      .flatMap((i) => [...i.args.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]));
    expect(names).to.not.be.empty;
    for (const name of names) expect([...ENV_VARS, 'NODE_ENV'], name).to.include(name);
  });

  it('keeps node_modules, .data, .git and the bench cache out of the build context', () => {
    const ignored = read('.dockerignore')
      .split(/\r?\n/)
      .map((l) => l.trim().replace(/^\/|\/$/g, ''))
      .filter((l) => l && !l.startsWith('#'));
    expect(ignored).to.include.members(['node_modules', '.data', '.git', 'bench/.cache']);
  });
});
