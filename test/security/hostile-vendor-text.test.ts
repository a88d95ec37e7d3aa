import { expect } from 'chai';
import express from 'express';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config/load-config.js';
import { parentJobId } from '../../src/planner/build-flow.js';
import { listen, type ListeningServer } from '../../src/sandbox/vendor-http.js';
import { startService, type Service } from '../../src/service.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { freshPrefix, testRedis } from '../support/redis.js';
import { runCli } from '../cli/run-cli.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

// Issue 25, item 3 (vendor-text half): a vendor, or a proxy in between, answering with a hostile
// error code. The code must come out as `unrecognised_error` everywhere it is stored or printed.
const ESCAPES = '\u001b]0;pwned by user-43\u0007\u001b[2J';
const ADMIN_TOKEN = 'hostile-vendor-admin-token-0123456789';

/** Every value under the queue prefix, whatever its type, as one string. */
async function redisDump(redis: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') parts.push(String(await redis.get(key)));
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1)));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

describe('A vendor answering with a hostile error code (issue 25, item 3)', () => {
  let fake: ListeningServer;
  let service: Service;
  let events: QueueEvents;
  let logFile: string;
  let prefix: string;
  let redisUrl: string;

  before(async function () {
    this.timeout(60_000);
    // A fake Pinpoint: GetUserEndpoints for user-42 is refused with the code in the header AWS reads
    // first; for user-43 with an escape-laden code in the body. Both messages name the person.
    const app = express();
    app.get('/v1/apps/:appId/users/:userId', (req, res) => {
      const message = `no endpoints for ${req.params.userId} (user42@example.com, +15550000042)`;
      if (req.params.userId === 'user-42')
        return res.status(400).set('x-amzn-errortype', 'NoSuchUser-user-42').json({ message });
      res.status(400).json({ code: ESCAPES, message: `${ESCAPES} ${message}` });
    });
    fake = await listen(app);
    const redis = await testRedis();
    redisUrl = redis.url;
    prefix = freshPrefix();
    const dataDir = makeTestTempDir('erasure-hostile-vendor-');
    logFile = path.join(dataDir, 'service.log');
    writeFileSync(logFile, '');
    const config = loadConfig({
      env: {
        ERASURE_ADMIN_TOKEN: ADMIN_TOKEN,
        ERASURE_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
        ERASURE_RECEIPT_SIGNING_KEY: randomBytes(32).toString('base64'),
      },
      file: {
        port: 0,
        dataDir,
        redisUrl,
        queuePrefix: prefix,
        logFile,
        logLevel: 'debug',
        jobs: { attempts: 2, backoffMs: 50, lockDurationMs: 5000, stalledIntervalMs: 2000 },
        vendors: {
          pinpoint: {
            region: 'us-east-1',
            endpoint: fake.url,
            credentials: { accessKeyId: 'AKIDFAKE', secretAccessKey: 'fake' },
            appIds: ['app-1'],
          },
        },
      },
    });
    service = await startService(config, { quiet: true });
    events = new QueueEvents('requests', { connection: redisConnection(service.redisUrl, true), prefix });
    events.on('error', () => undefined);
    await events.waitUntilReady();
  });
  after(async () => {
    await events?.close();
    await service?.close();
    await fake?.close();
  });

  async function submitAndSettle(userId: string): Promise<string> {
    const res = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: { userId }, vendors: ['pinpoint'] }),
    });
    expect(res.status).to.equal(202);
    const id = ((await res.json()) as { id: string }).id;
    const job = await service.queues.queue('requests').getJob(parentJobId(id));
    await job!.waitUntilFinished(events, 30_000);
    return id;
  }

  it('stores and prints unrecognised_error, and leaves no identifier or escape byte in the ledger, Redis, the logs or CLI output', async function () {
    this.timeout(120_000);
    const ids = [await submitAndSettle('user-42'), await submitAndSettle('user-43')];
    for (const id of ids) {
      const tasks = await service.ledger.tasks.getTasks(id);
      expect(tasks[0].state).to.equal('failed');
      expect(tasks[0].error).to.equal('pinpoint GetUserEndpoints was refused (400 unrecognised_error)');
    }

    const redis = new Redis(redisUrl);
    const dump = await redisDump(redis, prefix).finally(() => {
      redis.disconnect();
    });
    const logs = readFileSync(logFile, 'utf8');
    for (const [where, text] of [
      ['Redis', dump],
      ['logs', logs],
    ] as const) {
      expect(text.length, where).to.be.above(0);
      for (const identifier of ['user-42', 'user-43', 'user42@example.com', '+15550000042', 'NoSuchUser', 'pwned'])
        expect(text, `${where}: ${identifier}`).to.not.include(identifier);
      // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
      expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(text), `${where}: a control byte`).to.equal(false);
      expect(text, `${where}: an escaped ESC`).to.not.include('\\u001b');
    }

    for (const args of [['status', ids[1]], ['status', ids[1], '--json'], ['list'], ['retry', '--all', '--dry-run']]) {
      const cli = await runCli([...args, '--url', service.url!, '--token', ADMIN_TOKEN]);
      const printed = cli.stdout + cli.stderr;
      // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
      expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(printed), `${args.join(' ')}: an escape byte`).to.equal(
        false,
      );
      for (const identifier of ['user-42', 'user-43', 'pwned'])
        expect(printed, `${args.join(' ')}: ${identifier}`).to.not.include(identifier);
    }
  });

  it('prints no control byte and no live bidi control from any string the server sends, in text and in --json', async function () {
    this.timeout(60_000);
    // A server (or a proxy) that sends hostile text in every field the CLI prints.
    const hostile = `x${ESCAPES}\u202eevil\u2066\u0085\r`;
    const api = express();
    api.get('/v1/requests/:id', (_req, res) =>
      res.json({
        id: hostile,
        status: hostile,
        regulation: 'gdpr',
        vendors: [hostile],
        subjectHash: hostile,
        submittedAt: hostile,
        dueAt: hostile,
        daysLeft: 3,
        progress: { done: 0, total: 1, percent: 0, failed: 1 },
        tasks: [
          {
            id: hostile,
            vendor: hostile,
            resource: hostile,
            action: hostile,
            state: 'failed',
            attempts: 1,
            nextActionAt: null,
            error: hostile,
          },
        ],
      }),
    );
    api.get('/v1/requests', (_req, res) =>
      res
        .status(400)
        .json({ error: { code: hostile, message: hostile, details: [{ field: hostile, problem: hostile }] } }),
    );
    const server = await listen(api);
    try {
      for (const args of [['status', 'r1'], ['status', 'r1', '--json'], ['list'], ['list', '--json']]) {
        const cli = await runCli([...args, '--url', server.url, '--token', ADMIN_TOKEN]);
        const printed = cli.stdout + cli.stderr;
        expect(printed, args.join(' ')).to.include('evil');
        // eslint-disable-next-line no-control-regex -- control characters are what this test looks for
        expect(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(printed), `${args.join(' ')}: a control byte`).to.equal(
          false,
        );
        expect(/[\u202a-\u202e\u2066-\u2069]/.test(printed), `${args.join(' ')}: a live bidi control`).to.equal(false);
        if (args.includes('--json') && cli.code === 0)
          expect(JSON.parse(cli.stdout).id, 'the JSON still parses to what was sent').to.equal(hostile);
      }
    } finally {
      await server.close();
    }
  });
});
