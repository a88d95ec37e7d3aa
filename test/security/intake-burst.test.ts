import { expect } from 'chai';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PORTAL = 'portal-token-for-the-burst-test-0001';
const BURST_MS = 5000;

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

/**
 * Issue 25 §2: a client flooding intake is held to its token bucket (429 + Retry-After), so the
 * backlog it can build is bounded and health checks stay fast: /healthz and /readyz p99 < 100 ms
 * while 32 connections submit as fast as they can.
 */
describe('An intake burst against a rate-limited token', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({ file: { tokens: [{ name: 'portal', sha256: sha256Hex(PORTAL), role: 'submitter', rateLimit: { perSecond: 20, burst: 20 } }] } });
  });
  after(async () => service?.close());

  it('answers 429 with Retry-After beyond the bucket and keeps /healthz and /readyz under 100 ms p99', async () => {
    const stopAt = Date.now() + BURST_MS;
    const counts = { accepted: 0, limited: 0, other: 0 };
    let retryAfterOk = true;
    const submitter = async (worker: number) => {
      for (let i = 0; Date.now() < stopAt; i++) {
        const res = await fetch(`${service.url}/v1/requests`, {
          method: 'POST',
          headers: { authorization: `Bearer ${PORTAL}`, 'content-type': 'application/json' },
          body: JSON.stringify({ subject: { userId: `user-${(worker * 7 + i) % 30}` }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 }),
        });
        await res.arrayBuffer();
        if (res.status === 202 || res.status === 200) counts.accepted += 1;
        else if (res.status === 429) {
          counts.limited += 1;
          if (!/^\d+$/.test(res.headers.get('retry-after') ?? '')) retryAfterOk = false;
        } else counts.other += 1;
      }
    };
    const latencies: Record<'/healthz' | '/readyz', number[]> = { '/healthz': [], '/readyz': [] };
    const prober = async (pathname: '/healthz' | '/readyz') => {
      while (Date.now() < stopAt) {
        const started = performance.now();
        const res = await fetch(`${service.url}${pathname}`);
        await res.arrayBuffer();
        latencies[pathname].push(performance.now() - started);
        expect(res.status).to.equal(200);
      }
    };
    await Promise.all([...Array.from({ length: 32 }, (_, w) => submitter(w)), prober('/healthz'), prober('/readyz')]);

    expect(counts.other).to.equal(0);
    expect(counts.limited, 'the burst went past the bucket').to.be.greaterThan(counts.accepted);
    // 20 at once plus 20 per second over the burst, with a second of slack for the machine.
    expect(counts.accepted).to.be.at.most(20 + 20 * (BURST_MS / 1000 + 1));
    expect(retryAfterOk, 'every 429 carries Retry-After').to.equal(true);
    for (const pathname of ['/healthz', '/readyz'] as const) {
      expect(latencies[pathname].length, `${pathname} samples`).to.be.greaterThan(20);
      expect(p99(latencies[pathname]), `${pathname} p99 (ms) over ${latencies[pathname].length} samples`).to.be.below(100);
    }
  });
});
