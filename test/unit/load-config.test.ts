import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, decodeKey, loadConfig, type LoadConfigOptions } from '../../src/config/load-config.js';
import { VENDOR_QUEUE_DEFAULTS as VENDOR_DEFAULTS } from '../../src/connectors/registry.js';

const HEX_KEY = 'ab'.repeat(32);
const KEY_BYTES = Buffer.from(HEX_KEY, 'hex');

/** Runs loadConfig and returns the ConfigError it throws. */
function configError(options: LoadConfigOptions): ConfigError {
  try {
    loadConfig(options);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail('expected loadConfig to throw a ConfigError');
}

describe('loadConfig', () => {
  let dir: string;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'erasure-config-test-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('defaults', () => {
    it('runs in sandbox mode on port 3000 with nothing configured', () => {
      const config = loadConfig({ env: {}, cwd: dir });
      expect(config.sandboxMode).to.equal(true);
      expect(config.vendors).to.deep.equal({});
      expect(config.port).to.equal(3000);
      expect(config.host).to.equal('127.0.0.1');
      expect(config.queuePrefix).to.equal('erasure');
      expect(config.logLevel).to.equal('info');
      expect(config.redisUrl).to.equal(undefined);
      expect(config.databaseUrl).to.equal(undefined);
      expect(config.encryptionKey).to.equal(undefined);
      expect(config.sandbox).to.deep.equal({
        subjects: 1000,
        clockSpeed: 20_000,
        faults: {},
        vendorOverrides: {},
        retiredVendors: false,
      });
      expect(config.breaker).to.deep.equal({ consecutiveFailures: 10, probeAfterMs: 60_000 });
      expect(config.deadlines).to.deep.equal({
        gdprDays: 30,
        ccpaDays: 45,
        atRisk: { windowDays: 30, minSamples: 20, defaultHours: 24, vendorDefaultHours: {}, cacheMs: 60_000 },
      });
    });

    it('resolves the data directory to an absolute .data under the working directory', () => {
      const config = loadConfig({ env: {}, cwd: dir });
      expect(config.dataDir).to.equal(path.join(dir, '.data'));
      expect(path.isAbsolute(config.dataDir)).to.equal(true);
    });

    it('resolves a relative data directory from the environment against the working directory', () => {
      expect(loadConfig({ env: { ERASURE_DATA_DIR: 'state' }, cwd: dir }).dataDir).to.equal(path.join(dir, 'state'));
    });

    it('sets retention on completed and failed jobs by default (Invariant 6)', () => {
      const { retention } = loadConfig({ env: {}, cwd: dir }).jobs;
      for (const value of Object.values(retention)) expect(value).to.be.a('number').and.greaterThan(0);
    });
  });

  describe('precedence', () => {
    it('lets every environment variable win over the file', () => {
      const config = loadConfig({
        cwd: dir,
        env: {
          PORT: '4001',
          HOST: 'env.internal',
          REDIS_URL: 'redis://env:6379',
          DATABASE_URL: 'postgres://env/db',
          LOG_LEVEL: 'debug',
          ERASURE_DATA_DIR: '/var/env-data',
          SANDBOX_SUBJECTS: '7',
        },
        file: {
          port: 5001,
          host: 'file.internal',
          redisUrl: 'redis://file:6379',
          databaseUrl: 'postgres://file/db',
          logLevel: 'warn',
          dataDir: '/var/file-data',
          sandbox: { subjects: 9, clockSpeed: 60 },
        },
      });
      expect(config.port).to.equal(4001);
      expect(config.host).to.equal('env.internal');
      expect(config.redisUrl).to.equal('redis://env:6379');
      expect(config.databaseUrl).to.equal('postgres://env/db');
      expect(config.logLevel).to.equal('debug');
      expect(config.dataDir).to.equal('/var/env-data');
      expect(config.sandbox.subjects).to.equal(7);
      expect(config.sandbox.clockSpeed).to.equal(60);
    });

    it('uses the file where the environment says nothing', () => {
      const config = loadConfig({
        cwd: dir,
        env: {},
        file: { port: 5001, redisUrl: 'redis://file:6379', logLevel: 'warn' },
      });
      expect(config.port).to.equal(5001);
      expect(config.redisUrl).to.equal('redis://file:6379');
      expect(config.logLevel).to.equal('warn');
    });

    it('reads PORT as a number', () => {
      expect(loadConfig({ env: { PORT: '8080' }, cwd: dir }).port).to.equal(8080);
    });
  });

  describe('problems', () => {
    it('lists every problem of a bad environment and a bad file at once', () => {
      const err = configError({
        cwd: dir,
        env: { PORT: 'abc', REDIS_URL: 'http://x', ERASURE_ENCRYPTION_KEY: 'short' },
        file: { bogus: true, vendors: { pinpoint: { region: 'us-east-1', concurrency: -1 } } },
      });
      expect(err.problems).to.have.length(6);
      const expected: Array<[string, RegExp]> = [
        ['PORT', /environment.*PORT/],
        ['REDIS_URL', /environment.*REDIS_URL/],
        ['ERASURE_ENCRYPTION_KEY', /environment.*ERASURE_ENCRYPTION_KEY/],
        ['bogus', /config file.*bogus/],
        ['appIds', /config file.*vendors\.pinpoint\.appIds/],
        ['concurrency', /config file.*vendors\.pinpoint\.concurrency/],
      ];
      for (const [field, pattern] of expected) {
        expect(
          err.problems.filter((p) => pattern.test(p)),
          `one problem names ${field}`,
        ).to.have.length(1);
      }
      for (const problem of err.problems) expect(err.message).to.include(problem);
      expect(err.name).to.equal('ConfigError');
    });

    it('never repeats the encryption key it refuses', () => {
      const secret = 'c2VjcmV0LWtleS10aGF0LWlzLXRvby1zaG9ydA';
      const err = configError({ cwd: dir, env: { ERASURE_ENCRYPTION_KEY: secret } });
      expect(err.problems).to.have.length(1);
      expect(err.message).to.not.include(secret);
    });

    for (const [what, env, field] of [
      ['a port out of range', { PORT: '70000' }, 'PORT'],
      ['a postgres URL with another scheme', { DATABASE_URL: 'mysql://db/x' }, 'DATABASE_URL'],
      ['a short admin token', { ERASURE_ADMIN_TOKEN: 'short' }, 'ERASURE_ADMIN_TOKEN'],
      ['an unknown log level', { LOG_LEVEL: 'verbose' }, 'LOG_LEVEL'],
      ['a negative number of sandbox subjects', { SANDBOX_SUBJECTS: '-1' }, 'SANDBOX_SUBJECTS'],
    ] as const) {
      it(`refuses ${what}, naming ${field}`, () => {
        const err = configError({ cwd: dir, env });
        expect(err.problems).to.have.length(1);
        expect(err.problems[0]).to.include(field);
      });
    }

    it('ignores environment variables it does not read', () => {
      expect(() => loadConfig({ cwd: dir, env: { HOME: '/root', PATH: '/bin', SOMETHING_ELSE: 'x' } })).to.not.throw();
    });

    it('refuses a rate limit without a duration and a pinpoint config without a region', () => {
      const err = configError({
        cwd: dir,
        env: {},
        file: { vendors: { pinpoint: { appIds: ['a1'], rateLimit: { max: 5 } } } },
      });
      expect(err.problems).to.have.length(2);
      expect(err.problems.some((p) => p.includes('vendors.pinpoint.region'))).to.equal(true);
      expect(err.problems.some((p) => p.includes('vendors.pinpoint.rateLimit.durationMs'))).to.equal(true);
    });
  });

  describe('a configured vendor', () => {
    it('turns sandbox mode off and fills the queue defaults', () => {
      const config = loadConfig({
        cwd: dir,
        env: {},
        file: { vendors: { pinpoint: { region: 'us-east-1', appIds: ['a1', 'a2'] } } },
      });
      expect(config.sandboxMode).to.equal(false);
      expect(config.vendors.pinpoint).to.deep.equal({
        region: 'us-east-1',
        appIds: ['a1', 'a2'],
        rateLimit: VENDOR_DEFAULTS.pinpoint.rateLimit,
        concurrency: VENDOR_DEFAULTS.pinpoint.concurrency,
        throttleDelayMs: VENDOR_DEFAULTS.pinpoint.throttleDelayMs,
      });
      expect(config.vendors.pinpoint!.rateLimit).to.deep.equal({ max: 100, durationMs: 1000 });
      expect(config.vendors.pinpoint!.concurrency).to.equal(20);
    });

    it('keeps the queue settings the file gives', () => {
      const config = loadConfig({
        cwd: dir,
        env: {},
        file: {
          vendors: {
            pinpoint: { region: 'eu-west-1', appIds: ['a1'], rateLimit: { max: 5, durationMs: 2000 }, concurrency: 3 },
          },
        },
      });
      expect(config.vendors.pinpoint!.rateLimit).to.deep.equal({ max: 5, durationMs: 2000 });
      expect(config.vendors.pinpoint!.concurrency).to.equal(3);
      expect(config.vendors.pinpoint!.throttleDelayMs).to.equal(VENDOR_DEFAULTS.pinpoint.throttleDelayMs);
    });

    it('does not let a loaded config change the shared defaults', () => {
      const config = loadConfig({
        cwd: dir,
        env: {},
        file: { vendors: { pinpoint: { region: 'us-east-1', appIds: ['a1'] } } },
      });
      config.vendors.pinpoint!.concurrency = 999;
      expect(VENDOR_DEFAULTS.pinpoint.concurrency).to.equal(20);
    });
  });

  describe('a shared sandbox (ERASURE_SANDBOX_URL, sandbox.url)', () => {
    it('reads the URL from the environment, over the file, and stays in sandbox mode', () => {
      const config = loadConfig({
        env: { ERASURE_SANDBOX_URL: 'http://sandbox:4000' },
        file: { sandbox: { url: 'http://elsewhere:4000' } },
      });
      expect(config.sandbox.url).to.equal('http://sandbox:4000');
      expect(config.sandboxMode).to.equal(true);
      expect(loadConfig({ env: {}, file: { sandbox: { url: 'http://elsewhere:4000' } } }).sandbox.url).to.equal(
        'http://elsewhere:4000',
      );
    });

    it('refuses a URL that is not http(s), naming the variable', () => {
      const err = configError({
        env: { ERASURE_SANDBOX_URL: 'redis://sandbox:4000' },
        file: { sandbox: { url: 'ftp://x' } },
      });
      expect(err.problems.join('\n')).to.include('ERASURE_SANDBOX_URL').and.include('sandbox.url');
    });

    it('refuses it beside configured vendors, which it would silently replace', () => {
      const err = configError({
        env: { ERASURE_SANDBOX_URL: 'http://sandbox:4000' },
        file: { vendors: { pinpoint: { region: 'us-east-1', appIds: ['app-1'] } } },
      });
      expect(err.problems.join('\n')).to.include('ERASURE_SANDBOX_URL').and.include('remove vendors');
    });
  });

  describe('sandbox.vendorOverrides', () => {
    it("holds only the keys the file gives, so an override leaves the sandbox's other settings (App Center's sweep window) alone", () => {
      const config = loadConfig({
        env: {},
        file: { sandbox: { vendorOverrides: { appcenter: { readConcurrency: 16 }, s3: { batchWindowMs: 200 } } } },
      });
      expect(config.sandbox.vendorOverrides).to.deep.equal({
        appcenter: { readConcurrency: 16 },
        s3: { batchWindowMs: 200 },
      });
      const nested = loadConfig({
        env: {},
        file: { sandbox: { vendorOverrides: { appcenter: { sweep: { windowMs: 200 } } } } },
      });
      expect(nested.sandbox.vendorOverrides).to.deep.equal({ appcenter: { sweep: { windowMs: 200 } } });
    });
  });

  describe('decodeKey', () => {
    it('accepts 64 hex characters', () => {
      expect(decodeKey(HEX_KEY).equals(KEY_BYTES)).to.equal(true);
    });

    it('accepts upper-case hex and surrounding white space', () => {
      expect(decodeKey(` ${HEX_KEY.toUpperCase()}\n`).equals(KEY_BYTES)).to.equal(true);
    });

    it('accepts base64 of 32 bytes', () => {
      expect(decodeKey(KEY_BYTES.toString('base64')).equals(KEY_BYTES)).to.equal(true);
    });

    it('accepts base64url of 32 bytes', () => {
      const key = Buffer.from(Array.from({ length: 32 }, (_, i) => 250 - i));
      expect(decodeKey(key.toString('base64url')).equals(key)).to.equal(true);
    });

    for (const [what, value] of [
      ['a short string', 'short'],
      ['an empty string', ''],
      ['63 hex characters', HEX_KEY.slice(1)],
      ['66 hex characters', `${HEX_KEY}ab`],
      ['base64 of 31 bytes', Buffer.alloc(31, 1).toString('base64')],
      ['base64 of 33 bytes', Buffer.alloc(33, 1).toString('base64')],
      ['base64 of 16 bytes', Buffer.alloc(16, 1).toString('base64')],
    ] as const) {
      it(`refuses ${what}`, () => {
        expect(() => decodeKey(value)).to.throw(/32 bytes/);
      });
    }

    it('is what ERASURE_ENCRYPTION_KEY is checked with', () => {
      expect(() => loadConfig({ cwd: dir, env: { ERASURE_ENCRYPTION_KEY: HEX_KEY } })).to.not.throw();
      expect(() =>
        loadConfig({ cwd: dir, env: { ERASURE_ENCRYPTION_KEY: KEY_BYTES.toString('base64') } }),
      ).to.not.throw();
      expect(loadConfig({ cwd: dir, env: { ERASURE_ENCRYPTION_KEY: HEX_KEY } }).encryptionKey).to.equal(HEX_KEY);
    });
  });

  describe('the config file (ERASURE_CONFIG)', () => {
    it('reads YAML', () => {
      const file = path.join(dir, 'erasure.yaml');
      writeFileSync(
        file,
        [
          'port: 4100',
          'logLevel: warn',
          'vendors:',
          '  pinpoint:',
          '    region: eu-central-1',
          '    appIds: [app1, app2]',
          '',
        ].join('\n'),
      );
      const config = loadConfig({ cwd: dir, env: { ERASURE_CONFIG: file } });
      expect(config.port).to.equal(4100);
      expect(config.logLevel).to.equal('warn');
      expect(config.sandboxMode).to.equal(false);
      expect(config.vendors.pinpoint!.appIds).to.deep.equal(['app1', 'app2']);
    });

    it('reads a .yml file as YAML too', () => {
      const file = path.join(dir, 'erasure.yml');
      writeFileSync(file, 'port: 4101\n');
      expect(loadConfig({ cwd: dir, env: { ERASURE_CONFIG: file } }).port).to.equal(4101);
    });

    it('reads JSON', () => {
      const file = path.join(dir, 'erasure.json');
      writeFileSync(
        file,
        JSON.stringify({ port: 4200, vendors: { pinpoint: { region: 'us-west-2', appIds: ['j1'] } } }),
      );
      const config = loadConfig({ cwd: dir, env: { ERASURE_CONFIG: file } });
      expect(config.port).to.equal(4200);
      expect(config.vendors.pinpoint!.region).to.equal('us-west-2');
    });

    it('resolves a relative path against the working directory', () => {
      const sub = path.join(dir, 'conf');
      mkdirSync(sub, { recursive: true });
      writeFileSync(path.join(sub, 'relative.json'), JSON.stringify({ port: 4300 }));
      expect(loadConfig({ cwd: dir, env: { ERASURE_CONFIG: 'conf/relative.json' } }).port).to.equal(4300);
    });

    it('treats an empty YAML file as no settings', () => {
      const file = path.join(dir, 'empty.yaml');
      writeFileSync(file, '');
      expect(loadConfig({ cwd: dir, env: { ERASURE_CONFIG: file } }).sandboxMode).to.equal(true);
    });

    it('lets the environment win over the file it names', () => {
      const file = path.join(dir, 'port.yaml');
      writeFileSync(file, 'port: 4400\n');
      expect(loadConfig({ cwd: dir, env: { ERASURE_CONFIG: file, PORT: '4401' } }).port).to.equal(4401);
    });

    it('validates what the file holds', () => {
      const file = path.join(dir, 'bad.yaml');
      writeFileSync(file, 'vendors:\n  pinpoint:\n    region: us-east-1\n    concurrency: -2\nunknownThing: 1\n');
      const err = configError({ cwd: dir, env: { ERASURE_CONFIG: file } });
      expect(err.problems).to.have.length(3);
      expect(err.problems.join('\n'))
        .to.match(/appIds/)
        .and.match(/concurrency/)
        .and.match(/unknownThing/);
    });

    it('gives a clear problem for a path that does not exist', () => {
      const missing = path.join(dir, 'no-such-file.yaml');
      const err = configError({ cwd: dir, env: { ERASURE_CONFIG: missing } });
      expect(err.problems).to.have.length(1);
      expect(err.problems[0])
        .to.include('ERASURE_CONFIG')
        .and.include(missing)
        .and.match(/cannot be read/);
    });

    it('gives a clear problem for a path that is a directory', () => {
      const err = configError({ cwd: dir, env: { ERASURE_CONFIG: dir } });
      expect(err.problems).to.have.length(1);
      expect(err.problems[0])
        .to.include('ERASURE_CONFIG')
        .and.match(/cannot be read/);
    });

    it('gives a clear problem for a file that is not valid JSON', () => {
      const file = path.join(dir, 'broken.json');
      writeFileSync(file, '{ "port": ');
      const err = configError({ cwd: dir, env: { ERASURE_CONFIG: file } });
      expect(err.problems).to.have.length(1);
      expect(err.problems[0]).to.include('ERASURE_CONFIG').and.include(file);
    });

    it('lists an unreadable file together with the problems of the environment', () => {
      const err = configError({ cwd: dir, env: { ERASURE_CONFIG: path.join(dir, 'missing.json'), PORT: 'abc' } });
      expect(err.problems).to.have.length(2);
      expect(err.problems.some((p) => p.includes('PORT'))).to.equal(true);
      expect(err.problems.some((p) => p.includes('ERASURE_CONFIG'))).to.equal(true);
    });

    it('prefers a config object given directly over ERASURE_CONFIG', () => {
      const config = loadConfig({
        cwd: dir,
        env: { ERASURE_CONFIG: path.join(dir, 'missing.json') },
        file: { port: 4500 },
      });
      expect(config.port).to.equal(4500);
    });
  });
});
