import { expect } from 'chai';
import { createRedisCallBudget, type RedisCallBudget } from '../../src/vendors/redis-call-budget.js';
import { freshPrefix, redisClient, testRedis } from '../support/redis.js';

/**
 * The Lua token bucket and lease semaphore against a real Redis. Two budgets on one prefix are two
 * processes (each has its own connection); the waits asserted are the ones Redis hands out, so a
 * slow machine only makes them shorter, never longer.
 */
describe('createRedisCallBudget (vendor budgets shared in Redis, Invariant 12)', () => {
  const open: RedisCallBudget[] = [];
  async function budget(prefix: string): Promise<RedisCallBudget> {
    const b = createRedisCallBudget({ redisUrl: (await testRedis()).url, prefix });
    open.push(b);
    return b;
  }
  afterEach(async () => {
    for (const b of open.splice(0)) await b.close();
  });

  it('lets a burst of `burst` calls through at once, then tells the next callers when a token is due, without reserving it', async () => {
    const b = await budget(freshPrefix());
    const rate = { max: 5, durationMs: 60_000 };
    const waits: number[] = [];
    for (let i = 0; i < 7; i += 1) waits.push(await b.tryTake('appcenter', rate));
    expect(waits.slice(0, 5), 'the burst').to.deep.equal([0, 0, 0, 0, 0]);
    // 5 per minute: one token every 12 s; neither the sixth nor the seventh took one.
    expect(waits[5]).to.be.within(11_000, 12_000);
    expect(waits[6]).to.be.within(11_000, 12_000);
  });

  it('refills at the rate, up to the burst and no further', async function () {
    this.timeout(10_000);
    const b = await budget(freshPrefix());
    const rate = { max: 2, durationMs: 2000 };
    expect([await b.tryTake('segment', rate), await b.tryTake('segment', rate)]).to.deep.equal([0, 0]);
    expect(await b.tryTake('segment', rate), 'the bucket is empty').to.be.within(500, 1000);
    // The reserved turn is spent after ≤ 1 s; after 3 s the bucket is full again (2 tokens), not more.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect([await b.tryTake('segment', rate), await b.tryTake('segment', rate)], 'refilled to the burst').to.deep.equal(
      [0, 0],
    );
    expect(await b.tryTake('segment', rate), 'and no further').to.be.above(0);
  });

  it('is one budget for every process on the same Redis and prefix, and separate per scope and per prefix', async () => {
    const prefix = freshPrefix();
    const [a, b] = [await budget(prefix), await budget(prefix)];
    const rate = { max: 1, durationMs: 60_000, burst: 1 };
    expect(await a.tryTake('pinpoint:DeleteEndpoint', rate)).to.equal(0);
    expect(
      await b.tryTake('pinpoint:DeleteEndpoint', rate),
      'the second process waits for the next token',
    ).to.be.within(59_000, 60_000);
    expect(await a.tryTake('pinpoint:DeleteEndpoint', rate), 'and so does the first one').to.be.within(59_000, 60_000);
    expect(await b.tryTake('pinpoint:GetEndpoint', rate), 'another operation has its own budget').to.equal(0);
    const other = await budget(freshPrefix());
    expect(await other.tryTake('pinpoint:DeleteEndpoint', rate), 'another deployment (prefix) too').to.equal(0);
  });

  it('paces concurrent callers of two processes so that no window holds more than the burst', async function () {
    this.timeout(20_000);
    const prefix = freshPrefix();
    const [a, b] = [await budget(prefix), await budget(prefix)];
    const rate = { max: 10, durationMs: 1000, burst: 1 };
    const starts: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await (i % 2 ? a : b).pace('amplitude', rate);
        starts.push(Date.now());
      }),
    );
    starts.sort((x, y) => x - y);
    // 20 turns at 10/s with no burst span ≥ 1.9 s of Redis time; local timers may fire late, never early.
    expect(starts.at(-1)! - starts[0]).to.be.at.least(1800);
  });

  it('holds at most `max` in-flight slots across processes; release frees one at once', async () => {
    const prefix = freshPrefix();
    const [a, b] = [await budget(prefix), await budget(prefix)];
    const first = await a.tryHold('amplitude', 2, 60_000);
    const second = await b.tryHold('amplitude', 2, 60_000);
    expect(first && second, 'two slots').to.not.equal(undefined);
    expect(await a.tryHold('amplitude', 2, 60_000), 'no third slot, from either process').to.equal(undefined);
    expect(await b.tryHold('amplitude', 2, 60_000)).to.equal(undefined);
    second!();
    const third = await a.tryHold('amplitude', 2, 60_000);
    expect(third, 'a released slot is free again').to.not.equal(undefined);
  });

  it('gives the slots of a process that died back when their leases end, and a waiting holder gets one then', async function () {
    this.timeout(10_000);
    const prefix = freshPrefix();
    const dying = await budget(prefix);
    expect(await dying.tryHold('amplitude', 2, 300)).to.not.equal(undefined);
    expect(await dying.tryHold('amplitude', 2, 300)).to.not.equal(undefined);
    // Killed: its connection goes without releasing anything.
    await dying.close();
    const survivor = await budget(prefix);
    expect(await survivor.tryHold('amplitude', 2, 60_000), 'both slots are still leased').to.equal(undefined);
    const release = await survivor.hold('amplitude', 2, 60_000);
    // The slots key expires with its longest lease: a deployment that stops leaves nothing behind.
    const redis = await redisClient();
    try {
      expect(await redis.pttl(`${prefix}:vendor-slots:amplitude`)).to.be.within(1, 61_000);
    } finally {
      redis.disconnect();
      release();
    }
  });
});
