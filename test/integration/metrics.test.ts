import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { createVendorCallStats, vendorCallsKey } from '../../src/metrics/vendor-call-stats.js';
import { redisClient } from '../support/redis.js';

/** `name{labels} value` lines of one metric, as label maps with their value. */
function series(text: string, name: string): Array<{ labels: Record<string, string>; value: number }> {
  const out: Array<{ labels: Record<string, string>; value: number }> = [];
  for (const line of text.split('\n')) {
    const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line) ?? /^([a-z_]+) (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const labels: Record<string, string> = {};
    if (match.length === 4) for (const pair of match[2].matchAll(/(\w+)="([^"]*)"/g)) labels[pair[1]] = pair[2]!;
    out.push({ labels, value: Number(match.at(-1)) });
  }
  return out;
}

const sum = (rows: Array<{ value: number }>) => rows.reduce((n, r) => n + r.value, 0);

describe('Per-vendor call metrics in /metrics', function () {
  this.timeout(60_000);
  let service: TestService;
  afterEach(async () => service?.close());

  async function metrics(): Promise<string> {
    const res = await fetch(`${service.url}/metrics`);
    expect(res.status).to.equal(200);
    return res.text();
  }

  it('counts every Pinpoint SDK call by operation and outcome, 429s included, matching what the vendor served, with a latency histogram', async () => {
    service = await startTestService();
    service.sandbox!.faults.set('pinpoint', { throttleForMs: 300 });
    const res = await service.api('/v1/requests', { body: { subject: { userId: 'user-4' }, vendors: ['pinpoint'] } });
    expect(res.status).to.equal(202);
    await service.waitForRequest(res.body.id);

    const served = service.sandbox!.stats.snapshot().pinpoint.total;
    expect(served.throttled, 'the storm throttled at least one call').to.be.at.least(1);
    const text = await metrics();
    const calls = series(text, 'erasure_vendor_calls_total').filter((s) => s.labels.vendor === 'pinpoint');
    expect(sum(calls), 'one count per HTTP call the vendor answered').to.equal(served.calls);
    expect(sum(calls.filter((s) => s.labels.outcome === '429'))).to.equal(served.throttled);
    const operations = new Set(calls.map((s) => s.labels.operation));
    expect([...operations].sort()).to.include.members(['DeleteUserEndpoints', 'GetUserEndpoints']);
    for (const op of operations) expect(op, 'a fixed operation name, never a path').to.match(/^[A-Za-z_]+$/);
    expect(
      calls.find((s) => s.labels.operation === 'DeleteUserEndpoints' && s.labels.outcome === 'ok')?.value,
    ).to.be.at.least(1);

    const count = series(text, 'erasure_vendor_call_duration_seconds_count').find(
      (s) => s.labels.vendor === 'pinpoint',
    );
    const inf = series(text, 'erasure_vendor_call_duration_seconds_bucket').find(
      (s) => s.labels.vendor === 'pinpoint' && s.labels.le === '+Inf',
    );
    const total = series(text, 'erasure_vendor_call_duration_seconds_sum').find((s) => s.labels.vendor === 'pinpoint');
    expect(count?.value).to.equal(served.calls);
    expect(inf?.value).to.equal(served.calls);
    expect(total?.value).to.be.greaterThan(0);
    expect(text).to.include('# TYPE erasure_vendor_call_duration_seconds histogram');
  });

  it('counts got-based calls too: a Segment 429 storm shows as 429s of the named operation', async () => {
    service = await startTestService({
      file: {
        sandbox: {
          subjects: 30,
          clockSpeed: 1,
          vendorOverrides: { segment: { batchWindowMs: 200, pollIntervalMs: 200, pollJitter: 0 } },
        },
      },
    });
    service.sandbox!.faults.set('segment', { throttleForMs: 1000 });
    const res = await service.api('/v1/requests', { body: { subject: { userId: 'user-5' }, vendors: ['segment'] } });
    expect(res.status).to.equal(202);
    // The regulation is created once the storm is over; then the batch polls it.
    await waitFor(
      async () => (service.sandbox!.stats.snapshot().segment?.operations.getRegulation?.calls ?? 0) >= 1,
      30_000,
    );

    const text = await metrics();
    const calls = series(text, 'erasure_vendor_calls_total').filter((s) => s.labels.vendor === 'segment');
    const throttled = calls.find(
      (s) => s.labels.operation === 'createWorkspaceRegulation' && s.labels.outcome === '429',
    );
    expect(throttled?.value, 'the throttled creations').to.be.at.least(1);
    expect(
      calls.find((s) => s.labels.operation === 'createWorkspaceRegulation' && s.labels.outcome === 'ok')?.value,
    ).to.equal(1);
    expect(
      calls.find((s) => s.labels.operation === 'getRegulation' && s.labels.outcome === 'ok')?.value,
    ).to.be.at.least(1);
  });

  it('shows the totals of every process: counts another process flushed to Redis add to this one’s', async () => {
    service = await startTestService();
    // Another worker process, as far as Redis is concerned: same Redis, same queue prefix.
    const other = createVendorCallStats({ redisUrl: service.redisUrl, prefix: service.config.queuePrefix });
    try {
      other.observe({ vendor: 'amplitude', operation: 'createDeletion', outcome: '5xx', seconds: 0.2 });
      other.observe({ vendor: 'amplitude', operation: 'createDeletion', outcome: 'ok', seconds: 0.02 });
      service.vendorCalls.observe({ vendor: 'amplitude', operation: 'createDeletion', outcome: 'ok', seconds: 0.03 });
      await other.flush();
    } finally {
      await other.close();
    }
    const text = await metrics();
    const calls = series(text, 'erasure_vendor_calls_total').filter((s) => s.labels.vendor === 'amplitude');
    expect(calls).to.deep.include({
      labels: { vendor: 'amplitude', operation: 'createDeletion', outcome: 'ok' },
      value: 2,
    });
    expect(calls).to.deep.include({
      labels: { vendor: 'amplitude', operation: 'createDeletion', outcome: '5xx' },
      value: 1,
    });
    const buckets = series(text, 'erasure_vendor_call_duration_seconds_bucket').filter(
      (s) => s.labels.vendor === 'amplitude',
    );
    expect(buckets.find((s) => s.labels.le === '0.025')?.value).to.equal(1);
    expect(buckets.find((s) => s.labels.le === '0.05')?.value).to.equal(2);
    expect(buckets.find((s) => s.labels.le === '0.25')?.value).to.equal(3);
    expect(
      series(text, 'erasure_vendor_call_duration_seconds_sum').find((s) => s.labels.vendor === 'amplitude')?.value,
    ).to.be.closeTo(0.25, 1e-6);
  });

  it('flushes counts not yet in Redis when the service stops gracefully (what SIGTERM runs)', async () => {
    service = await startTestService();
    const key = vendorCallsKey(service.config.queuePrefix);
    // Counted just before the stop, well inside the 1 s between periodic flushes.
    service.vendorCalls.observe({ vendor: 'segment', operation: 'createRegulation', outcome: 'ok', seconds: 0.01 });
    await service.close();
    const redis = await redisClient();
    try {
      expect(await redis.hget(key, 'c|segment|createRegulation|ok')).to.equal('1');
    } finally {
      redis.disconnect();
    }
  });
});
