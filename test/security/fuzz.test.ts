import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';

/** Deterministic PRNG (mulberry32): the same seed gives the same payloads on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const UNICODE_EDGES = [
  '\u0000',
  '\uD800',
  '\uDFFF',
  '\u202E',
  '\u200B',
  '\uFEFF',
  'ǅ',
  'ß',
  '😀',
  'Å',
  'İ',
  '\u0301',
  '\r\n',
  '\t',
  'ä'.normalize('NFD'),
];
const WRONG_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -0,
  [],
  {},
  [[]],
  '',
  ' ',
  'x'.repeat(300),
  { $gt: '' },
  ['a', 1, null],
  { __proto__: { admin: true } },
];

/** Payloads that are never valid requests: each breaks the schema in at least one way. */
function* malformedPayloads(random: () => number, count: number): Generator<{ body: string; contentType?: string }> {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const unicode = () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick(UNICODE_EDGES)).join('');
  const deep = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
  const generators: Array<() => { body: string; contentType?: string }> = [
    () => ({ body: JSON.stringify(pick(WRONG_VALUES)) }),
    () => ({ body: JSON.stringify({ subject: pick(WRONG_VALUES) }) }),
    () => ({ body: JSON.stringify({ subject: { userId: 'user-1' }, [unicode() || 'x']: pick(WRONG_VALUES) }) }),
    () => ({ body: JSON.stringify({ subject: { email: unicode() } }) }),
    () => ({ body: JSON.stringify({ subject: { phone: `${unicode()}${Math.floor(random() * 1e6)}` } }) }),
    () => ({
      body: JSON.stringify({ subject: { userId: `bad${pick(['\u0000', '\u0007', '\u001f', '\u007f'])}${unicode()}` } }),
    }),
    () => ({
      body: JSON.stringify({
        subject: { userId: 'user-1' },
        vendors: pick([[unicode()], 'pinpoint', [1], [], ['pinpoint', 'pinpoint']]),
      }),
    }),
    () => ({
      body: JSON.stringify({ subject: { userId: 'user-1' }, regulation: pick(['GDPR ', unicode(), 1, false]) }),
    }),
    () => ({ body: JSON.stringify({ subject: { userId: 'user-1' }, requestId: `${unicode()}:${unicode()}` }) }),
    () => ({ body: JSON.stringify({ subject: { installId: unicode() } }) }),
    () => ({ body: JSON.stringify({ subject: { amplitudeId: pick([-5, 0, 1.5, '12a', unicode(), 2 ** 60]) } }) }),
    () => ({
      body: JSON.stringify({
        subject: { userId: 'user-1' },
        callbackUrl: pick(['javascript:alert(1)', 'file:///etc/passwd', unicode(), 'ftp://x']),
      }),
    }),
    () => ({ body: JSON.stringify({ requests: pick([[], 'x', [1], null, {}]) }) }),
    () => ({ body: JSON.stringify({ requests: [{ subject: {} }], extra: 1 }) }),
    () => ({ body: deep(1 + Math.floor(random() * 5000)) }),
    () => ({ body: `{"subject": ${'{"a":'.repeat(200)}1${'}'.repeat(200)}}` }),
    () => ({
      body: pick([
        '{',
        '{"subject":',
        'nul',
        '{"a":1,}',
        "{'a':1}",
        '\u0000',
        '[1,2',
        '{"subject":{"userId":"x"}}garbage',
      ]),
    }),
    () => ({
      body: JSON.stringify({ subject: { userId: 'user-1' } }),
      contentType: pick([
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/xml',
      ]),
    }),
    () => ({ body: JSON.stringify({ subject: { userId: 'x'.repeat(300) } }) }),
    () => ({ body: JSON.stringify({ subject: { email: `${'a'.repeat(65)}@example.com` } }) }),
    () => ({
      body: JSON.stringify({ gracePeriodSeconds: pick([-1, 1e12, 'soon', 1.5]), subject: { userId: 'user-1' } }),
    }),
  ];
  for (let i = 0; i < count; i++) yield pick(generators)();
}

describe('Fuzzing every endpoint with malformed input', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  async function requestCount(): Promise<number> {
    return Object.values((await service.ledger.queries.countRequestsByStatus()).byStatus).reduce((a, b) => a + b, 0);
  }

  it('answers a few thousand malformed submissions with 4xx and a clear message, never 5xx, and writes nothing', async function () {
    this.timeout(120_000);
    const random = prng(20261122);
    const before = await requestCount();
    const statuses = new Map<number, number>();
    for (const payload of malformedPayloads(random, 2500)) {
      const res = await fetch(`${service.url}/v1/requests`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${service.adminToken}`,
          'content-type': payload.contentType ?? 'application/json',
        },
        body: payload.body,
      });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const body = (await res.json()) as { error?: { code?: string; message?: string } };
      expect(res.status, `payload ${payload.body.slice(0, 80)}`).to.be.within(400, 499);
      expect(body.error?.code, 'a stable error code').to.be.a('string');
      expect(body.error?.message, 'a message').to.be.a('string').and.not.equal('');
    }
    expect(await requestCount(), 'nothing was written').to.equal(before);
    expect([...statuses.keys()].every((s) => s < 500)).to.equal(true);
    expect((await fetch(`${service.url}/healthz`)).status, 'still alive').to.equal(200);
  });

  it('answers malformed ids, queries and bodies on every other endpoint with 4xx', async function () {
    this.timeout(60_000);
    const random = prng(7);
    const ok = await service.api('/v1/requests', { body: { subject: { userId: 'user-26' }, vendors: ['pinpoint'] } });
    const id = ok.body.id as string;
    const before = await requestCount();
    const ids = ['x', '%00', '..%2F..%2Fetc', 'ffffffff-ffff-ffff-ffff-ffffffffffff', `${id}x`, '😀', 'a'.repeat(500)];
    const queries = [
      'status=%00',
      'limit=-1',
      'limit=abc',
      'overdue=maybe',
      'cursor=%FF%FE',
      'status[]=a',
      'limit=1e9',
      'unknown=1',
    ];
    const targets: Array<[string, string]> = [];
    for (const bad of ids) {
      targets.push(
        ['GET', `/v1/requests/${encodeURIComponent(bad)}`],
        ['GET', `/v1/requests/${encodeURIComponent(bad)}/receipt`],
        ['POST', `/v1/requests/${encodeURIComponent(bad)}/retry`],
      );
      targets.push(
        ['POST', `/v1/requests/${encodeURIComponent(bad)}/cancel`],
        ['POST', `/v1/requests/${encodeURIComponent(bad)}/extend`],
        ['POST', `/v1/requests/${id}/tasks/${encodeURIComponent(bad)}/complete`],
      );
    }
    for (const bad of ids) {
      // Issue 19: task decisions, manual steps sent, scope deletions.
      for (const action of ['skip', 'resolve', 'sent'])
        targets.push(
          ['POST', `/v1/requests/${id}/tasks/${encodeURIComponent(bad)}/${action}`],
          ['POST', `/v1/requests/${encodeURIComponent(bad)}/tasks/x/${action}`],
        );
      targets.push(['GET', `/v1/scope-deletions/${encodeURIComponent(bad)}`]);
      for (const action of ['sent', 'confirm', 'cancel'])
        targets.push(['POST', `/v1/scope-deletions/${encodeURIComponent(bad)}/${action}`]);
    }
    for (const q of queries) targets.push(['GET', `/v1/scope-deletions?${q}`], ['GET', `/v1/manual-work?${q}`]);
    for (const path of ['/v1/scope-deletions', '/v1/skips', '/v1/resolutions']) targets.push(['POST', path]);
    for (const q of queries) targets.push(['GET', `/v1/requests?${q}`]);
    for (const path of [
      `/v1/requests/${id}/retry`,
      `/v1/requests/${id}/extend`,
      `/v1/retries`,
      `/v1/queues/pinpoint/explode`,
      `/v1/queues/${encodeURIComponent('../x')}/pause`,
    ])
      targets.push(['POST', path]);
    for (const [method, path] of targets) {
      for (const payload of method === 'POST' ? [...malformedPayloads(random, 8)] : [undefined]) {
        const res = await fetch(`${service.url}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${service.adminToken}`,
            ...(payload ? { 'content-type': payload.contentType ?? 'application/json' } : {}),
          },
          body: payload?.body,
        });
        expect(res.status, `${method} ${path} ${payload?.body.slice(0, 60) ?? ''}`).to.be.within(400, 499);
      }
    }
    expect(await requestCount()).to.equal(before);
    await service.waitForRequest(id);
  });
});
