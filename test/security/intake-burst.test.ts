import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PORTAL = 'portal-token-for-the-burst-test-0001';
const BURST_MS = 8000;

/** The flooding client: CONNECTIONS loops submitting as fast as they can for MS ms; prints "started", then its counts as JSON. */
const FLOOD = `
const { URL: base, TOKEN, MS, CONNECTIONS } = process.env;
const stopAt = Date.now() + Number(MS);
const counts = { accepted: 0, limited: 0, other: 0, retryAfterOk: true };
let said = false;
async function loop(worker) {
  for (let i = 0; Date.now() < stopAt; i++) {
    const res = await fetch(base + '/v1/requests', { method: 'POST', headers: { authorization: 'Bearer ' + TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: { userId: 'user-' + ((worker * 7 + i) % 30) }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 }) });
    if (!said) { said = true; process.stdout.write('started\\n'); }
    await res.arrayBuffer();
    if (res.status === 202 || res.status === 200) counts.accepted += 1;
    else if (res.status === 429) { counts.limited += 1; if (!/^\\d+$/.test(res.headers.get('retry-after') ?? '')) counts.retryAfterOk = false; }
    else counts.other += 1;
  }
}
await Promise.all(Array.from({ length: Number(CONNECTIONS) }, (_, w) => loop(w)));
process.stdout.write(JSON.stringify(counts) + '\\n');
`;

function p99(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
}

/**
 * Issue 25 §2: a client flooding intake is held to its token bucket (429 + Retry-After), so the
 * backlog it can build is bounded and health checks stay fast: /healthz and /readyz p99 < 100 ms
 * while 8 connections of another process submit as fast as they can (on Postgres, as a loaded
 * deployment runs: PGlite works inside the event loop the probes share).
 */
describe('An intake burst against a rate-limited token', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    // Postgres, as a deployment under load runs: PGlite works inside this process's event loop, which the probes share.
    service = await startTestService({
      database: 'postgres',
      file: {
        tokens: [
          { name: 'portal', sha256: sha256Hex(PORTAL), role: 'submitter', rateLimit: { perSecond: 20, burst: 10 } },
        ],
      },
    });
  });
  after(async () => service?.close());

  it('answers 429 with Retry-After beyond the bucket and keeps /healthz and /readyz under 100 ms p99', async () => {
    // Warm up first (the first submission and probes load and compile their code paths), so the
    // figure is the service's under the flood, not its first call's.
    for (let i = 0; i < 3; i++) {
      for (const pathname of ['/healthz', '/readyz', '/v1/requests?limit=1'])
        await (
          await fetch(`${service.url}${pathname}`, { headers: { authorization: `Bearer ${service.adminToken}` } })
        ).arrayBuffer();
      await (
        await fetch(`${service.url}/v1/requests`, {
          method: 'POST',
          headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ subject: { userId: `user-${i}` }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 }),
        })
      ).arrayBuffer();
    }
    // The flood comes from another process, as a client's would: this process only serves and probes.
    const flood = spawn(process.execPath, ['--input-type=module', '-e', FLOOD], {
      env: { PATH: process.env.PATH ?? '', URL: service.url, TOKEN: PORTAL, MS: String(BURST_MS), CONNECTIONS: '8' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let report = '';
    flood.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
    const finished = new Promise<void>((resolve) =>
      flood.once('exit', () => {
        resolve();
      }),
    );
    // Probing starts once the flood has sent its first request (it says so on stdout).
    await new Promise<void>((resolve) =>
      flood.stdout.once('data', () => {
        resolve();
      }),
    );
    const latencies: Record<'/healthz' | '/readyz', number[]> = { '/healthz': [], '/readyz': [] };
    let flooding = true;
    void finished.then(() => (flooding = false));
    const prober = async (pathname: '/healthz' | '/readyz') => {
      while (flooding) {
        const started = performance.now();
        const res = await fetch(`${service.url}${pathname}`);
        await res.arrayBuffer();
        latencies[pathname].push(performance.now() - started);
        expect(res.status).to.equal(200);
      }
    };
    await Promise.all([prober('/healthz'), prober('/readyz'), finished]);
    const counts = JSON.parse(report.trim().split('\n').at(-1)!) as {
      accepted: number;
      limited: number;
      other: number;
      retryAfterOk: boolean;
    };
    const retryAfterOk = counts.retryAfterOk;

    expect(counts.other).to.equal(0);
    expect(counts.limited, 'the burst went past the bucket').to.be.greaterThan(counts.accepted);
    // 10 at once plus 20 per second over the burst, with a second of slack for the machine.
    expect(counts.accepted).to.be.at.most(10 + 20 * (BURST_MS / 1000 + 1));
    expect(retryAfterOk, 'every 429 carries Retry-After').to.equal(true);
    for (const pathname of ['/healthz', '/readyz'] as const) {
      expect(latencies[pathname].length, `${pathname} samples`).to.be.greaterThan(20);
      expect(p99(latencies[pathname]), `${pathname} p99 (ms) over ${latencies[pathname].length} samples`).to.be.below(
        100,
      );
    }
  });
});
