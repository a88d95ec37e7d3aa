import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { sha256Hex } from '../../src/api/auth.js';
import { loadConfig, ConfigError } from '../../src/config/load-config.js';
import { startTestService, type TestService } from '../support/test-service.js';

const VIEWER = 'viewer-token-for-surface-tests-0001';
const SUBMITTER = 'submitter-token-for-surface-tests-01';
const OPERATOR = 'operator-token-for-surface-tests-001';

/**
 * Issue 25 §2, §5, §9: one credential gate and one failure limiter on every authenticated surface,
 * a valid token never locked out, Bearer-only APIs, real admin sessions, sandbox controls behind
 * the admin token, and the certificate URL from configuration only.
 */
describe('Every surface behind one gate (issue 25)', function () {
  this.timeout(60_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: {
        // The test talks through "a proxy" on loopback: X-Forwarded-For names the client, X-Forwarded-Proto its scheme.
        trustProxy: 'loopback',
        tokens: [
          { name: 'auditor', sha256: sha256Hex(VIEWER), role: 'viewer' },
          { name: 'portal', sha256: sha256Hex(SUBMITTER), role: 'submitter', rateLimit: { perSecond: 0.2, burst: 3 } },
          { name: 'on-call', sha256: sha256Hex(OPERATOR), role: 'operator' },
        ],
      },
    });
  });
  after(async () => service?.close());

  /** A raw call from client address `from` (through the trusted loopback proxy). */
  async function call(
    pathname: string,
    init: { from: string; method?: string; token?: string; body?: string; headers?: Record<string, string> },
  ) {
    const headers: Record<string, string> = {
      'x-forwarded-for': init.from,
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.headers ?? {}),
    };
    if (init.body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(`${service.url}${pathname}`, {
      method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
      headers,
      body: init.body,
      redirect: 'manual',
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1];

  /** The login form's CSRF cookie and token. */
  async function loginForm(from: string, headers: Record<string, string> = {}) {
    const form = await call('/admin/login', { from, headers: { accept: 'text/html', ...headers } });
    return { cookie: form.headers.get('set-cookie')!.split(';')[0], csrf: csrfOf(form.text)! };
  }

  async function login(token: string, from: string, headers: Record<string, string> = {}) {
    const { cookie, csrf } = await loginForm(from, headers);
    const res = await call('/admin/login', {
      from,
      method: 'POST',
      body: new URLSearchParams({ csrf, token }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
    });
    return {
      status: res.status,
      setCookie: res.headers.getSetCookie().find((c) => /^(__Host-)?erasure_session=/.test(c)) ?? '',
    };
  }

  const opendsrBody = () =>
    JSON.stringify({
      regulation: 'gdpr',
      subject_request_id: randomUUID(),
      subject_request_type: 'erasure',
      submitted_time: new Date(Date.now() - 60_000).toISOString(),
      subject_identities: [
        { identity_type: 'controller_customer_id', identity_value: 'user-2', identity_format: 'raw' },
      ],
      api_version: '2.0',
    });

  /** Each surface: a wrong-token attempt, and the same call with a right token. */
  const SURFACES: Array<{
    name: string;
    wrong: (from: string) => Promise<{ status: number }>;
    right: (from: string) => Promise<{ status: number }>;
  }> = [
    {
      name: 'GET /v1/requests',
      wrong: (from) => call('/v1/requests?limit=1', { from, token: 'wrong-token-000000000000' }),
      right: (from) => call('/v1/requests?limit=1', { from, token: VIEWER }),
    },
    {
      name: 'POST /v2/requests (OpenDSR)',
      wrong: (from) => call('/v2/requests', { from, token: 'wrong-token-000000000000', body: opendsrBody() }),
      right: (from) => call('/v2/requests', { from, token: service.adminToken, body: opendsrBody() }),
    },
    {
      name: 'POST /v1/opengdpr_requests (OpenGDPR)',
      wrong: (from) => call('/v1/opengdpr_requests', { from, token: 'wrong-token-000000000000', body: opendsrBody() }),
      right: (from) => call(`/v1/opengdpr_requests/${randomUUID()}`, { from, token: VIEWER }),
    },
    {
      name: 'Bull Board API',
      wrong: (from) => call('/admin/queues/api/queues', { from, token: 'wrong-token-000000000000' }),
      right: (from) => call('/admin/queues/api/queues', { from, token: VIEWER }),
    },
    {
      name: 'GET /sandbox',
      wrong: (from) => call('/sandbox', { from, token: 'wrong-token-000000000000' }),
      right: (from) => call('/sandbox', { from, token: service.adminToken }),
    },
    {
      name: 'POST /admin/login',
      wrong: (from) => login('wrong-token-000000000000', from),
      right: (from) => login(VIEWER, from),
    },
  ];

  SURFACES.forEach((surface, index) => {
    it(`limits failed authentications on ${surface.name}, per client address, and never refuses a right token`, async () => {
      const from = `198.51.100.${10 + index}`;
      for (let i = 0; i < 20; i++) expect((await surface.wrong(from)).status, `attempt ${i + 1}`).to.equal(401);
      expect((await surface.wrong(from)).status, 'the 21st wrong attempt').to.equal(429);
      const right = await surface.right(from);
      expect(right.status, 'a right token from the blocked address').to.be.oneOf([200, 201, 303, 404]);
      expect(
        (await surface.wrong(`203.0.113.${10 + index}`)).status,
        'another client behind the proxy is not blocked',
      ).to.equal(401);
    });
  });

  it('shares one limiter across surfaces: failures on one count on the others', async () => {
    const from = '198.51.100.99';
    for (let i = 0; i < 10; i++)
      expect((await call('/v1/requests', { from, token: `wrong-${i}-0000000000000` })).status).to.equal(401);
    for (let i = 0; i < 10; i++)
      expect((await call('/admin/queues/api/queues', { from, token: `wrong-${i}-0000000000000` })).status).to.equal(
        401,
      );
    expect((await call('/v2/requests/whatever', { from, token: 'wrong-token-000000000000' })).status).to.equal(429);
  });

  it('keeps the sandbox controls behind the admin token', async () => {
    const from = '198.51.100.150';
    const controls = [
      { path: '/sandbox', method: 'GET' },
      { path: '/sandbox/faults/pinpoint', method: 'PUT', body: JSON.stringify({ latencyMs: 0 }) },
      { path: '/sandbox/clock/advance', method: 'POST', body: JSON.stringify({ ms: 0 }) },
      { path: '/sandbox/stats/reset', method: 'POST' },
    ];
    for (const control of controls) {
      expect(
        (await call(control.path, { from, method: control.method, body: control.body })).status,
        `${control.method} ${control.path} without a token`,
      ).to.equal(401);
      expect(
        (await call(control.path, { from, method: control.method, body: control.body, token: OPERATOR })).status,
        `${control.method} ${control.path} as operator`,
      ).to.equal(403);
      expect(
        (await call(control.path, { from, method: control.method, body: control.body, token: service.adminToken }))
          .status,
        `${control.method} ${control.path} as admin`,
      ).to.be.oneOf([200, 204]);
    }
  });

  it('takes the certificate URL in signed discovery from configuration, never from the Host header', async () => {
    const res = await call('/v2/discovery', {
      from: '198.51.100.151',
      headers: { host: 'attacker.example', 'x-forwarded-host': 'attacker.example' },
    });
    expect(res.status).to.equal(200);
    expect(JSON.parse(res.text).processor_certificate).to.equal(`${service.url}/v2/certificate.pem`);
    // Outside sandbox mode, an OpenDSR key without publicUrl is a configuration error.
    const opendsr = { processorDomain: 'erasure.example', keyFile: '/k.pem', certificateFile: '/c.pem' };
    const vendors = { pinpoint: { region: 'us-east-1', appIds: ['a1'] } };
    expect(() => loadConfig({ env: {}, file: { vendors, opendsr } })).to.throw(
      ConfigError,
      'opendsr.publicUrl is required outside sandbox mode',
    );
    expect(
      loadConfig({ env: {}, file: { vendors, opendsr: { ...opendsr, publicUrl: 'https://erasure.example' } } }).opendsr!
        .publicUrl,
    ).to.equal('https://erasure.example');
  });

  it('answers /v1 and /v2 with Bearer tokens only: a session cookie gets nowhere there', async () => {
    const from = '198.51.100.152';
    const { setCookie } = await login(VIEWER, from);
    const cookie = setCookie.split(';')[0];
    expect(
      (await call('/admin', { from, headers: { cookie, accept: 'text/html' } })).status,
      'the cookie works on the dashboards',
    ).to.equal(200);
    expect((await call('/v1/requests?limit=1', { from, headers: { cookie } })).status).to.equal(401);
    expect((await call(`/v2/requests/${randomUUID()}`, { from, headers: { cookie } })).status).to.equal(401);
    // The old token-in-a-cookie is not a credential anywhere any more.
    expect(
      (await call('/v1/requests?limit=1', { from, headers: { cookie: `erasure_token=${VIEWER}` } })).status,
    ).to.equal(401);
    expect(
      (await call('/admin/queues/api/queues', { from, headers: { cookie: `erasure_token=${VIEWER}` } })).status,
    ).to.equal(401);
  });

  it('keeps admin sessions server-side: a random id in the cookie, revoked on logout', async () => {
    const from = '198.51.100.153';
    const { status, setCookie } = await login(OPERATOR, from);
    expect(status).to.equal(303);
    expect(setCookie).to.match(
      /^erasure_session=[A-Za-z0-9_-]{43}; Path=\/admin; Max-Age=86400; HttpOnly; SameSite=Strict$/,
    );
    const cookie = setCookie.split(';')[0];
    const page = await call('/admin', { from, headers: { cookie, accept: 'text/html' } });
    expect(page.status).to.equal(200);
    const out = await call('/admin/logout', {
      from,
      method: 'POST',
      body: new URLSearchParams({ csrf: csrfOf(page.text)! }).toString(),
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(out.status).to.equal(303);
    // A copy of the cookie kept after logout opens nothing: the session is revoked in the ledger.
    expect((await call('/admin', { from, headers: { cookie, accept: 'text/html' } })).status).to.equal(303);
    expect((await call('/admin/queues/api/queues', { from, headers: { cookie } })).status).to.equal(401);
  });

  it('makes the cookie Secure with the __Host- prefix when reached over https (X-Forwarded-Proto under trustProxy)', async () => {
    const from = '198.51.100.154';
    const https = { 'x-forwarded-proto': 'https' };
    const { setCookie } = await login(VIEWER, from, https);
    expect(setCookie).to.match(
      /^__Host-erasure_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=86400; HttpOnly; SameSite=Strict; Secure$/,
    );
    const cookie = setCookie.split(';')[0];
    expect((await call('/admin', { from, headers: { cookie, accept: 'text/html', ...https } })).status).to.equal(200);
  });

  it('refuses a request carrying two session cookies instead of picking one (cookie tossing)', async () => {
    const from = '198.51.100.155';
    const admin = (await login(service.adminToken, from)).setCookie.split(';')[0];
    const viewer = (await login(VIEWER, from)).setCookie.split(';')[0];
    // A viewer's session planted on a narrower path arrives first; the admin's own second.
    const res = await call('/admin/queues/api/queues', { from, headers: { cookie: `${viewer}; ${admin}` } });
    expect(res.status).to.equal(400);
    expect(JSON.parse(res.text).error.code).to.equal('ambiguous_session');
    const secureAndPlain = await call('/admin', {
      from,
      headers: { cookie: `${admin}; __Host-${admin}`, accept: 'text/html' },
    });
    expect(secureAndPlain.status).to.equal(400);
  });

  it('refuses a cookie-authenticated write from another site even with the right CSRF token, and a body-less one', async () => {
    const from = '198.51.100.156';
    const cookie = (await login(OPERATOR, from)).setCookie.split(';')[0];
    const { body } = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-9' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 },
    });
    const page = await call(`/admin/requests/${body.id}`, { from, headers: { cookie, accept: 'text/html' } });
    const form = new URLSearchParams({ csrf: csrfOf(page.text)!, reason: 'cross-site' }).toString();
    const formHeaders = { cookie, 'content-type': 'application/x-www-form-urlencoded' };
    for (const headers of [
      { origin: 'http://attacker.example' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ] as Array<Record<string, string>>) {
      const res = await call(`/admin/requests/${body.id}/cancel`, {
        from,
        method: 'POST',
        body: form,
        headers: { ...formHeaders, ...headers },
      });
      expect(res.status, JSON.stringify(headers)).to.equal(403);
    }
    const bodyless = await call(`/admin/requests/${body.id}/cancel`, {
      from,
      method: 'POST',
      headers: { cookie, 'content-length': '0', 'sec-fetch-site': 'cross-site' },
    });
    expect(bodyless.status).to.equal(403);
    const board = await call('/admin/queues/api/queues/pinpoint/pause', {
      from,
      method: 'PUT',
      headers: { cookie, origin: 'http://attacker.example' },
    });
    expect(board.status).to.equal(403);
    expect((await service.ledger.requests.getRequest(body.id))!.status).to.equal('scheduled');
    const sameSite = await call(`/admin/requests/${body.id}/cancel`, {
      from,
      method: 'POST',
      body: form,
      headers: { ...formHeaders, 'sec-fetch-site': 'same-origin' },
    });
    expect(sameSite.status).to.equal(303);
    expect((await service.ledger.requests.getRequest(body.id))!.status).to.equal('cancelled');
  });

  it('gives Bull Board pages and JSON the admin page headers, and shows viewers no stack traces', async () => {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const { body } = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-10' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const from = '198.51.100.157';
    for (const pathname of ['/admin/queues', '/admin/queues/api/queues']) {
      const res = await call(pathname, { from, token: VIEWER });
      expect(res.status, pathname).to.equal(200);
      expect(res.headers.get('content-security-policy'), pathname).to.match(
        /^default-src 'self'; script-src 'self'; style-src 'self'/,
      );
      expect(res.headers.get('cache-control'), pathname).to.equal('no-store');
      expect(res.headers.get('x-content-type-options'), pathname).to.equal('nosniff');
    }
    const list = '/admin/queues/api/queues?activeQueue=pinpoint&status=failed&page=1&jobsPerPage=50';
    const jobOf = (text: string) =>
      JSON.parse(text)
        .queues.find((q: { name: string }) => q.name === 'pinpoint')
        .jobs.find((j: { data: { requestId?: string } }) => j.data.requestId === body.id);
    const asAdmin = jobOf((await call(list, { from, token: service.adminToken })).text);
    expect(asAdmin.stacktrace.join('\n'), 'operators see where it failed').to.match(/\.ts:\d+/);
    const asViewer = jobOf((await call(list, { from, token: VIEWER })).text);
    expect(asViewer.stacktrace).to.deep.equal([]);
    expect(JSON.stringify(asViewer)).not.to.match(/\/src\/|\.ts:\d+/);
  });

  it('sends no-store on OpenDSR status answers', async () => {
    const created = await call('/v2/requests', {
      from: '198.51.100.158',
      token: service.adminToken,
      body: opendsrBody(),
    });
    expect(created.status).to.equal(201);
    const status = await call(`/v2/requests/${JSON.parse(created.text).subject_request_id}`, {
      from: '198.51.100.158',
      token: VIEWER,
    });
    expect(status.status).to.equal(200);
    expect(status.headers.get('cache-control')).to.equal('no-store');
  });

  it('limits intake per token with a token bucket: 429 with Retry-After once the burst is spent, other tokens unaffected', async () => {
    const from = '198.51.100.159';
    const submit = (token: string) =>
      call('/v1/requests', {
        from,
        token,
        body: JSON.stringify({ subject: { userId: 'user-12' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 }),
      });
    for (let i = 0; i < 3; i++)
      expect((await submit(SUBMITTER)).status, `submission ${i + 1} of the burst`).to.be.oneOf([200, 202]);
    const limited = await submit(SUBMITTER);
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 5);
    expect(JSON.parse(limited.text).error.code).to.equal('rate_limited');
    expect((await submit(service.adminToken)).status, 'a token without a limit').to.be.oneOf([200, 202]);
    // OpenDSR intake draws on the same bucket.
    const opendsr = await call('/v2/requests', { from, token: SUBMITTER, body: opendsrBody() });
    expect(opendsr.status).to.equal(429);
    expect(opendsr.headers.get('retry-after')).to.match(/^\d+$/);
  });
});

describe('Bounded connections (issue 25 §2)', function () {
  this.timeout(60_000);
  let service: TestService;
  before(async () => {
    service = await startTestService({
      file: { server: { headersTimeoutMs: 1000, requestTimeoutMs: 1500, keepAliveTimeoutMs: 1000, maxConnections: 4 } },
    });
  });
  after(async () => service?.close());

  /** A raw connection to the service; resolves when the server ends it. */
  function connect(): { socket: net.Socket; closed: Promise<string> } {
    const url = new URL(service.url);
    const socket = net.connect(Number(url.port), url.hostname);
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    const closed = new Promise<string>((resolve) =>
      socket.once('close', () => {
        resolve(received);
      }),
    );
    socket.on('error', () => undefined);
    return { socket, closed };
  }

  it('cuts off an authenticated client that sends its body too slowly (requestTimeout: 408, connection closed)', async () => {
    const { socket, closed } = connect();
    socket.write(
      `POST /v1/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${service.adminToken}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"sub`,
    );
    const answer = await closed;
    expect(answer === '' || /^HTTP\/1\.1 408/.test(answer), answer).to.equal(true);
  });

  it('refuses connections beyond maxConnections', async () => {
    const held = Array.from({ length: 4 }, () => connect());
    await Promise.all(held.map(({ socket }) => new Promise((resolve) => socket.once('connect', resolve))));
    // Let the server accept the four before the fifth arrives.
    await new Promise((resolve) => setImmediate(resolve));
    const extra = connect();
    const timeout = new Promise<string>((resolve) =>
      setTimeout(() => {
        resolve('still open');
      }, 5000).unref(),
    );
    expect(await Promise.race([extra.closed.then(() => 'closed'), timeout])).to.equal('closed');
    for (const { socket } of held) socket.destroy();
  });
});
