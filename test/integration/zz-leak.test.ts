import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { redisClient } from '../support/redis.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { pumpClock } from '../support/aws-sandbox.js';

/**
 * Invariant 1 over the whole run (this file sorts last, so it sees what every earlier test left):
 * no identifier of a seeded person in any Redis key or value, any log line, the Bull Board API or
 * the API's answers. Seeded identifiers have fixed shapes (README "The sandbox"), so the scan looks
 * for the shapes, which also covers any person a test used that this file does not name.
 */
const IDENTIFIER_SHAPES: RegExp[] = [
  /user\d+@example\.com/gi,
  /\+1555\d{7}/g,
  /\buser-\d+\b/g,
  /00000000-0000-4000-8000-[0-9a-f]{12}/gi,
  /user-nobody-knows|secret-person/g,
];

export function findIdentifiers(text: string): string[] {
  return IDENTIFIER_SHAPES.flatMap((shape) => text.match(shape) ?? []);
}

async function dumpRedis(redis: Redis): Promise<{ keys: number; text: string }> {
  const parts: string[] = [];
  let keys = 0;
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000);
    cursor = next;
    for (const key of batch) {
      keys += 1;
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await redis.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await redis.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await redis.zrange(key, 0, -1, 'WITHSCORES')));
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return { keys, text: parts.join('\n') };
}

describe('No identifier of a person leaks (Invariant 1)', () => {
  let service: TestService;
  let redis: Redis;

  before(async function () {
    this.timeout(60_000);
    service = await startTestService();
    redis = await redisClient();
    // Leave behind every kind of job state: completed, failed and retried, with logs.
    // Pinpoint and S3 here; the other vendors' tests ran earlier in the suite and left their jobs and logs to scan.
    const ok = await service.api('/v1/requests', {
      body: {
        subject: { userId: 'user-1', email: 'user1@example.com', phone: '+15550000001' },
        vendors: ['pinpoint', 's3'],
      },
    });
    // By e-mail and phone, Pinpoint is a shared export (30 s of sandbox time): move the sandbox clock meanwhile.
    const stopClock = pumpClock(service.sandbox!);
    await service.waitForRequest(ok.body.id, 50_000).finally(stopClock);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const bad = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-2', installId: '00000000-0000-4000-8000-000000000002' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(bad.body.id);
    const staysFailed = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-3' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(staysFailed.body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    await service.api(`/v1/requests/${bad.body.id}/retry`, { body: { reason: 'leak test retry' } });
    await waitFor(async () =>
      (await service.api(`/v1/requests/${bad.body.id}`)).body.status === 'completed' ? true : undefined,
    );
  });
  after(async () => {
    redis?.disconnect();
    await service?.close();
  });

  it('recognises the identifier shapes it scans for (so a leak would be caught)', () => {
    expect(findIdentifiers('{"x":"user-7","e":"user7@example.com","p":"+15550000007"}')).to.have.length(3);
    expect(
      findIdentifiers('request 33ba18c7-cfa1-4302-982f-3440e38371dc__pinpoint__delete-user-endpoints'),
    ).to.deep.equal([]);
  });

  it('finds none in any Redis key or value', async () => {
    const dump = await dumpRedis(redis);
    expect(dump.keys, 'there are jobs to scan').to.be.greaterThan(10);
    expect(findIdentifiers(dump.text)).to.deep.equal([]);
  });

  it('finds none in any log line written during the suite', () => {
    expect(existsSync(SUITE_LOG_FILE), 'services logged to the suite log').to.equal(true);
    const lines = readFileSync(SUITE_LOG_FILE, 'utf8').split('\n').filter(Boolean);
    expect(lines.length, 'there are log lines to scan').to.be.greaterThan(5);
    const leaking = lines.filter((line) => findIdentifiers(line).length > 0);
    expect(leaking).to.deep.equal([]);
  });

  it('finds none in the Bull Board API: queue lists, job details, logs and flows', async () => {
    const texts: string[] = [];
    for (const queue of service.queues.definitions) {
      for (const status of ['latest', 'completed', 'failed', 'delayed', 'waiting', 'prioritized', 'waiting-children']) {
        const list = await service.api(
          `/admin/queues/api/queues?activeQueue=${queue.name}&status=${status}&page=1&jobsPerPage=50`,
        );
        expect(list.status).to.equal(200);
        texts.push(JSON.stringify(list.body));
        const jobs = list.body.queues.find((q: { name: string }) => q.name === queue.name)?.jobs ?? [];
        for (const job of jobs) {
          const id = encodeURIComponent(job.id);
          for (const suffix of ['', '/logs', '/flow']) {
            const detail = await service.api(`/admin/queues/api/queues/${queue.name}/${id}${suffix}`);
            texts.push(JSON.stringify(detail.body));
          }
        }
      }
    }
    const all = texts.join('\n');
    expect(all).to.include('failedReason');
    expect(findIdentifiers(all)).to.deep.equal([]);
  });

  it('finds none in the API’s answers, the metrics or the sandbox-free error messages', async () => {
    const list = await service.api('/v1/requests?limit=500');
    const texts = [JSON.stringify(list.body)];
    for (const r of list.body.requests) texts.push(JSON.stringify((await service.api(`/v1/requests/${r.id}`)).body));
    texts.push(String((await service.api('/metrics')).body));
    texts.push(
      JSON.stringify(
        (
          await service.api('/v1/requests', {
            body: { subject: { email: 'user99@example', userId: 'user-99' }, requestId: 'user-99' },
          })
        ).body,
      ),
    );
    expect(findIdentifiers(texts.join('\n'))).to.deep.equal([]);
  });
});
