import { expect } from 'chai';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { sha256Hex } from '../../src/api/auth.js';
import { MAX_JSON_DEPTH } from '../../src/api/json-body-policy.js';
import { startTestService, type TestService } from '../support/test-service.js';

// Issue 25, item 1: one JSON body policy for every route. Replay a failing run with
// FUZZ_SEED=<the printed seed> npx mocha test/security/hostile-bodies.test.ts
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 31);
const SUBMITTER_TOKEN = 'fuzz-submitter-token-0123456789abcdef';
const REQUEST_ID = '00000000-0000-4000-8000-000000000000';

/** Every route of the service, with an id where it takes one (src/api, src/dashboard, src/opendsr, src/sandbox). */
const ROUTES: Array<[string, string]> = [
  ['POST', '/v1/requests'],
  ['GET', '/v1/requests'],
  ['GET', `/v1/requests/${REQUEST_ID}`],
  ['POST', `/v1/requests/${REQUEST_ID}/retry`],
  ['POST', `/v1/requests/${REQUEST_ID}/cancel`],
  ['POST', `/v1/requests/${REQUEST_ID}/extend`],
  ['POST', `/v1/requests/${REQUEST_ID}/tasks/x/complete`],
  ['GET', `/v1/requests/${REQUEST_ID}/receipt`],
  ['POST', '/v1/retries'],
  ['POST', '/v1/queues/pinpoint/pause'],
  ['POST', '/v1/project-deletions'],
  ['GET', '/v1/project-deletions'],
  ['GET', `/v1/project-deletions/${REQUEST_ID}`],
  ['POST', `/v1/project-deletions/${REQUEST_ID}/cancel`],
  ['GET', '/v1/receipt-key'],
  ['GET', '/v1/vendors/health'],
  ['POST', '/v1/scope-deletions'],
  ['GET', '/v2/discovery'],
  ['POST', '/v2/requests'],
  ['GET', `/v2/requests/${REQUEST_ID}`],
  ['DELETE', `/v2/requests/${REQUEST_ID}`],
  ['PUT', `/v2/requests/${REQUEST_ID}`],
  ['GET', '/v1/discovery'],
  ['POST', '/v1/opengdpr_requests'],
  ['DELETE', `/v1/opengdpr_requests/${REQUEST_ID}`],
  ['GET', '/v2/certificate.pem'],
  ['GET', '/admin'],
  ['GET', '/admin/login'],
  ['POST', '/admin/login'],
  ['POST', '/admin/logout'],
  ['GET', '/admin/assets/admin.css'],
  ['GET', '/admin/project-deletions'],
  ['GET', `/admin/requests/${REQUEST_ID}`],
  ['POST', `/admin/requests/${REQUEST_ID}/tasks/x/complete`],
  ['POST', `/admin/requests/${REQUEST_ID}/cancel`],
  ['POST', `/admin/requests/${REQUEST_ID}/retry`],
  ['GET', '/admin/queues'],
  ['GET', '/admin/queues/api/queues'],
  ['PUT', '/admin/queues/api/queues/pinpoint/retry/failed'],
  ['PUT', '/admin/queues/api/queues/pinpoint/clean/completed'],
  ['GET', '/sandbox'],
  ['GET', '/sandbox/faults'],
  ['GET', '/sandbox/stats'],
  ['POST', '/sandbox/stats/reset'],
  ['PUT', '/sandbox/faults/pinpoint'],
  ['POST', '/sandbox/clock/advance'],
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/metrics'],
];

interface Payload {
  bytes: Buffer;
  contentType?: string;
  contentEncoding?: string;
}

const deep = (depth: number, open: string, close: string) => `${open.repeat(depth)}${close.repeat(depth)}`;

/** Bodies a careless client, an attacker or a broken proxy would send. */
const payloads: fc.Arbitrary<Payload> = fc.oneof(
  fc
    .jsonValue({ maxDepth: 6 })
    .map((v) => ({ bytes: Buffer.from(JSON.stringify(v) ?? 'null'), contentType: 'application/json' })),
  fc
    .integer({ min: MAX_JSON_DEPTH + 1, max: 20_000 })
    .map((d) => ({ bytes: Buffer.from(deep(d, '[', ']')), contentType: 'application/json' })),
  fc.integer({ min: MAX_JSON_DEPTH, max: 20_000 }).map((d) => ({
    // A valid OpenDSR request whose extensions nest deep (the review's 500 RangeError).
    bytes: Buffer.from(
      `{"regulation":"gdpr","subject_request_id":"${REQUEST_ID}","subject_request_type":"erasure","submitted_time":"2026-01-01T00:00:00Z","subject_identities":[{"identity_type":"email","identity_value":"user1@example.com","identity_format":"raw"}],"extensions":${'{"a":'.repeat(d)}1${'}'.repeat(d)}}`,
    ),
    contentType: 'application/json',
  })),
  fc.uint8Array({ maxLength: 512 }).map((b) => ({ bytes: Buffer.from(b), contentType: 'application/json' })),
  fc
    .uint8Array({ maxLength: 256 })
    .map((b) => ({ bytes: Buffer.from(b), contentType: 'application/json', contentEncoding: 'gzip' })),
  fc
    .string({ maxLength: 200 })
    .map((s) => ({ bytes: Buffer.from(s), contentType: 'application/json', contentEncoding: 'deflate' })),
  fc.constantFrom('br', 'x-unknown', 'gzip, gzip', 'identity, zstd').map((e) => ({
    bytes: Buffer.from('{"subject":{"userId":"user-1"}}'),
    contentType: 'application/json',
    contentEncoding: e,
  })),
  fc.integer({ min: 1, max: 400 }).map((d) => ({
    bytes: gzipSync(deep(d, '{"a":[', ']}')),
    contentType: 'application/json',
    contentEncoding: 'gzip',
  })),
  fc
    .string({ maxLength: 200 })
    .map((s) => ({ bytes: Buffer.from(s), contentType: 'application/x-www-form-urlencoded' })),
  fc
    .uint8Array({ maxLength: 200 })
    .map((b) => ({ bytes: Buffer.from(b), contentType: 'application/x-www-form-urlencoded', contentEncoding: 'gzip' })),
  fc
    .constantFrom(
      'application/json; charset=utf-7',
      'application/json; charset=klingon',
      'text/plain',
      'Application/JSON',
      'multipart/form-data; boundary=x',
    )
    .map((t) => ({
      bytes: Buffer.from('{"subject":{"userId":"user-1"}}'),
      contentType: t,
    })),
  fc.constant({ bytes: Buffer.alloc(0) }),
);

describe('Hostile bodies on every route (issue 25, item 1)', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: { tokens: [{ name: 'fuzz-client', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' }] },
    });
  });
  after(async () => service?.close());

  async function send([method, path]: [string, string], payload: Payload, token?: string): Promise<number> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (payload.contentType) headers['content-type'] = payload.contentType;
    if (payload.contentEncoding) headers['content-encoding'] = payload.contentEncoding;
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers,
      body: method === 'GET' ? undefined : new Uint8Array(payload.bytes),
    });
    await res.arrayBuffer();
    return res.status;
  }

  it('answers 4xx for a non-gzip body labelled gzip and for a body nested too deep, on every route that reads a body', async () => {
    const notGzip = {
      bytes: Buffer.from('{"subject":{"userId":"user-1"}}'),
      contentType: 'application/json',
      contentEncoding: 'gzip',
    };
    const tooDeep = {
      bytes: Buffer.from(`{"subject":{"userId":"user-1"},"x":${deep(MAX_JSON_DEPTH + 1, '[', ']')}}`),
      contentType: 'application/json',
    };
    for (const route of ROUTES.filter(([m]) => m !== 'GET')) {
      for (const token of [service.adminToken, SUBMITTER_TOKEN]) {
        expect(await send(route, notGzip, token), `${route.join(' ')} gzip`).to.be.within(400, 499);
        expect(await send(route, tooDeep, token), `${route.join(' ')} deep`).to.be.within(400, 499);
      }
    }
    const res = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
      body: new Uint8Array(tooDeep.bytes),
    });
    expect(res.status).to.equal(400);
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('too_deep');
    const gzip = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${service.adminToken}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
      body: new Uint8Array(notGzip.bytes),
    });
    expect(gzip.status).to.equal(400);
    const opendsr = await fetch(`${service.url}/v2/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${SUBMITTER_TOKEN}`, 'content-type': 'application/json' },
      body: new Uint8Array(tooDeep.bytes),
    });
    expect(opendsr.status).to.equal(400);
    expect(
      ((await opendsr.json()) as { error: { errors: Array<{ reason: string }> } }).error.errors[0].reason,
    ).to.equal('too_deep');
  });

  it(`answers 2,000 generated payloads across every route, with and without a token, with no 5xx (seed ${SEED})`, async function () {
    this.timeout(600_000);
    // The seed is printed so that a failure can be replayed (FUZZ_SEED).
    console.log(`      hostile-bodies fuzz seed: ${SEED}`);
    const statuses = new Map<number, number>();
    let sent = 0;
    const property = (token: string | undefined) =>
      fc.asyncProperty(fc.constantFrom(...ROUTES), payloads, async (route, payload) => {
        const status = await send(route, payload, token);
        sent += 1;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        expect(
          status,
          `${route.join(' ')} ${payload.contentType ?? ''} ${payload.contentEncoding ?? ''} ${payload.bytes.subarray(0, 60).toString('hex')}`,
        ).to.be.below(500);
      });
    // With tokens first: failed authentications without one may lock the address out (429) for a minute.
    await fc.assert(property(service.adminToken), { seed: SEED, numRuns: 800 });
    await fc.assert(property(SUBMITTER_TOKEN), { seed: SEED + 1, numRuns: 600 });
    await fc.assert(property(undefined), { seed: SEED + 2, numRuns: 600 });
    expect(sent).to.be.at.least(2000);
    expect([...statuses.keys()].filter((s) => s >= 500)).to.deep.equal([]);
    expect((await fetch(`${service.url}/healthz`)).status, 'the process survived').to.equal(200);
    expect((await fetch(`${service.url}/readyz`)).status).to.equal(200);
  });
});
