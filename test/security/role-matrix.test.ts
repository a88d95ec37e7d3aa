import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { createApiApp } from '../../src/api/create-api-app.js';
import { createOpenDsrRouter } from '../../src/opendsr/opendsr-router.js';
import { CredentialGate, IntakeRateLimiter } from '../../src/api/credential-gate.js';
import { csrfTokenFor } from '../../src/dashboard/admin-page.js';
import { BULL_BOARD_PATH } from '../../src/dashboard/bull-board.js';
import { NO_POSTGRES, testPostgresUrl } from '../support/postgres.js';
import type { TestDatabase, TestService } from '../support/test-service.js';
import {
  CLIENT_A_TOKEN,
  CLIENT_B_TOKEN,
  OPERATOR_TOKEN,
  VIEWER_TOKEN,
  openDsrRequest,
  ownershipService,
} from '../support/ownership.js';
import { skipBecause } from '../support/skip.js';

/**
 * The role matrix of README "Clients and roles", route by route (issue 22).
 * Calls are made so that an allowed one is refused by validation or is idempotent (a missing reason,
 * an unknown queue, a cancel of an already cancelled request), so the table runs without changing
 * anything; a refused one answers 401, 403 or, for another client's request, 404 exactly as an
 * unknown id. A last test checks that every route the app registers has a row here.
 */
const WHO = ['anonymous', 'viewer', 'own client', 'other client', 'operator', 'admin'] as const;
type Who = (typeof WHO)[number];
type Expected = [
  anonymous: number,
  viewer: number,
  ownClient: number,
  otherClient: number,
  operator: number,
  admin: number,
];

interface Fixture {
  requestId: string;
  taskId: string;
  /** Client A's OpenDSR request, already cancelled (so DELETE is idempotent). */
  subjectRequestId: string;
}

interface Call {
  method: string;
  path: string;
  /** JSON body (API) */
  json?: unknown;
  /** Form body (admin page); `csrf` is the caller's own. */
  form?: Record<string, string>;
  /** A browser asking for a page (the dashboards redirect one without a session to the login form). */
  html?: boolean;
}

interface Row {
  /** The route as the app registers it: `METHOD /path/:param`. */
  route: string;
  /** What is shown in the table when one route has several rows. */
  note?: string;
  call: (f: Fixture) => Call;
  expected: Expected;
}

const ALL_200: Expected = [200, 200, 200, 200, 200, 200];
const OWN_ONLY_READ: Expected = [401, 200, 200, 404, 200, 200];
const OPERATOR_WRITE: Expected = [401, 403, 403, 403, 400, 400];
const STAFF_OPERATOR_READ: Expected = [401, 403, 403, 403, 200, 200];

const ROWS: Row[] = [
  // ---- health and metrics: no token ----
  { route: 'GET /healthz', call: () => ({ method: 'GET', path: '/healthz' }), expected: ALL_200 },
  { route: 'GET /readyz', call: () => ({ method: 'GET', path: '/readyz' }), expected: ALL_200 },
  { route: 'GET /metrics', call: () => ({ method: 'GET', path: '/metrics' }), expected: ALL_200 },
  // ---- native API (the CLI's routes) ----
  {
    route: 'POST /v1/requests',
    call: () => ({ method: 'POST', path: '/v1/requests', json: {} }),
    expected: [401, 403, 400, 400, 400, 400],
  },
  {
    route: 'GET /v1/requests',
    call: () => ({ method: 'GET', path: '/v1/requests?limit=5' }),
    expected: [401, 200, 200, 200, 200, 200],
  },
  {
    route: 'GET /v1/requests',
    note: '?client=',
    call: () => ({ method: 'GET', path: '/v1/requests?limit=5&client=client-a' }),
    expected: [401, 200, 403, 403, 200, 200],
  },
  {
    route: 'GET /v1/requests/:id',
    call: (f) => ({ method: 'GET', path: `/v1/requests/${f.requestId}` }),
    expected: OWN_ONLY_READ,
  },
  {
    route: 'GET /v1/requests/:id/receipt',
    call: (f) => ({ method: 'GET', path: `/v1/requests/${f.requestId}/receipt` }),
    expected: OWN_ONLY_READ,
  },
  {
    route: 'POST /v1/requests/:id/cancel',
    call: (f) => ({ method: 'POST', path: `/v1/requests/${f.requestId}/cancel`, json: {} }),
    expected: [401, 403, 400, 404, 400, 400],
  },
  {
    route: 'POST /v1/requests/:id/retry',
    call: (f) => ({ method: 'POST', path: `/v1/requests/${f.requestId}/retry`, json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'POST /v1/requests/:id/extend',
    call: (f) => ({ method: 'POST', path: `/v1/requests/${f.requestId}/extend`, json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'POST /v1/requests/:id/tasks/:taskId/complete',
    call: (f) => ({ method: 'POST', path: `/v1/requests/${f.requestId}/tasks/${f.taskId}/complete`, json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'POST /v1/retries',
    call: () => ({ method: 'POST', path: '/v1/retries', json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'POST /v1/queues/:name/:action',
    call: () => ({ method: 'POST', path: '/v1/queues/no-such-queue/pause', json: {} }),
    expected: [401, 403, 403, 403, 404, 404],
  },
  {
    route: 'GET /v1/receipt-key',
    call: () => ({ method: 'GET', path: '/v1/receipt-key' }),
    expected: [401, 200, 200, 200, 200, 200],
  },
  {
    route: 'POST /v1/project-deletions',
    call: () => ({ method: 'POST', path: '/v1/project-deletions', json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'GET /v1/project-deletions',
    call: () => ({ method: 'GET', path: '/v1/project-deletions' }),
    expected: [401, 403, 403, 403, 200, 200],
  },
  {
    route: 'GET /v1/project-deletions/:id',
    call: () => ({ method: 'GET', path: `/v1/project-deletions/${randomUUID()}` }),
    expected: [401, 403, 403, 403, 404, 404],
  },
  {
    route: 'POST /v1/project-deletions/:id/cancel',
    call: () => ({ method: 'POST', path: `/v1/project-deletions/${randomUUID()}/cancel`, json: {} }),
    expected: [401, 403, 403, 403, 404, 404],
  },
  // ---- task decisions, scope deletions, manual work, vendor health (issues 17, 19): operator, manual work staff ----
  ...(['skip', 'resolve', 'sent'] as const).map((verb): Row => ({
    route: `POST /v1/requests/:id/tasks/:taskId/${verb}`,
    call: (f) => ({ method: 'POST', path: `/v1/requests/${f.requestId}/tasks/${f.taskId}/${verb}`, json: {} }),
    expected: OPERATOR_WRITE,
  })),
  { route: 'POST /v1/skips', call: () => ({ method: 'POST', path: '/v1/skips', json: {} }), expected: OPERATOR_WRITE },
  {
    route: 'POST /v1/resolutions',
    call: () => ({ method: 'POST', path: '/v1/resolutions', json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'GET /v1/scope-deletions/kinds',
    call: () => ({ method: 'GET', path: '/v1/scope-deletions/kinds' }),
    expected: STAFF_OPERATOR_READ,
  },
  {
    route: 'POST /v1/scope-deletions',
    call: () => ({ method: 'POST', path: '/v1/scope-deletions', json: {} }),
    expected: OPERATOR_WRITE,
  },
  {
    route: 'GET /v1/scope-deletions',
    call: () => ({ method: 'GET', path: '/v1/scope-deletions' }),
    expected: STAFF_OPERATOR_READ,
  },
  {
    route: 'GET /v1/scope-deletions/:id',
    call: () => ({ method: 'GET', path: `/v1/scope-deletions/${randomUUID()}` }),
    expected: [401, 403, 403, 403, 404, 404],
  },
  ...(['sent', 'confirm', 'cancel'] as const).map((action): Row => ({
    route: `POST /v1/scope-deletions/:id/${action}`,
    call: () => ({ method: 'POST', path: `/v1/scope-deletions/${randomUUID()}/${action}`, json: {} }),
    expected: OPERATOR_WRITE,
  })),
  // Every client's open manual steps: staff (viewer up); a client is not staff, though it outranks a viewer.
  {
    route: 'GET /v1/manual-work',
    call: () => ({ method: 'GET', path: '/v1/manual-work' }),
    expected: [401, 200, 403, 403, 200, 200],
  },
  {
    route: 'GET /v1/vendors/health',
    call: () => ({ method: 'GET', path: '/v1/vendors/health' }),
    expected: STAFF_OPERATOR_READ,
  },
  // ---- OpenDSR 2.0 and its OpenGDPR v1 aliases ----
  ...(['/v2/discovery', '/v1/discovery', '/v2/certificate.pem'] as const).map((path): Row => ({
    route: `GET ${path}`,
    call: () => ({ method: 'GET', path }),
    expected: ALL_200,
  })),
  ...(['/v2/requests', '/v1/opengdpr_requests'] as const).flatMap((base): Row[] => [
    {
      route: `POST ${base}`,
      call: () => ({ method: 'POST', path: base, json: {} }),
      expected: [401, 403, 400, 400, 400, 400],
    },
    {
      route: `GET ${base}/:id`,
      call: (f) => ({ method: 'GET', path: `${base}/${f.subjectRequestId}` }),
      expected: OWN_ONLY_READ,
    },
    {
      route: `DELETE ${base}/:id`,
      call: (f) => ({ method: 'DELETE', path: `${base}/${f.subjectRequestId}` }),
      expected: [401, 403, 202, 404, 202, 202],
    },
    {
      route: `PUT ${base}/:id`,
      call: (f) => ({ method: 'PUT', path: `${base}/${f.subjectRequestId}`, json: {} }),
      expected: [405, 405, 405, 405, 405, 405],
    },
  ]),
  // ---- admin page (cookie session; forms carry the session's CSRF token) ----
  {
    route: 'GET /admin/assets/admin.css',
    call: () => ({ method: 'GET', path: '/admin/assets/admin.css' }),
    expected: ALL_200,
  },
  { route: 'GET /admin/login', call: () => ({ method: 'GET', path: '/admin/login', html: true }), expected: ALL_200 },
  {
    route: 'POST /admin/login',
    note: 'without the form’s cookie',
    call: () => ({ method: 'POST', path: '/admin/login', form: { token: 'x' } }),
    expected: [403, 403, 403, 403, 403, 403],
  },
  {
    route: 'POST /admin/logout',
    call: () => ({ method: 'POST', path: '/admin/logout', form: {} }),
    expected: [401, 303, 303, 303, 303, 303],
  },
  {
    route: 'GET /admin',
    call: () => ({ method: 'GET', path: '/admin', html: true }),
    expected: [303, 200, 200, 200, 200, 200],
  },
  {
    route: 'GET /admin/project-deletions',
    call: () => ({ method: 'GET', path: '/admin/project-deletions', html: true }),
    expected: [303, 403, 403, 403, 200, 200],
  },
  {
    route: 'GET /admin/requests/:id',
    call: (f) => ({ method: 'GET', path: `/admin/requests/${f.requestId}`, html: true }),
    expected: [303, 200, 200, 404, 200, 200],
  },
  {
    route: 'POST /admin/requests/:id/cancel',
    call: (f) => ({ method: 'POST', path: `/admin/requests/${f.requestId}/cancel`, form: { reason: '' } }),
    expected: [401, 403, 303, 404, 303, 303],
  },
  {
    route: 'POST /admin/requests/:id/retry',
    call: (f) => ({ method: 'POST', path: `/admin/requests/${f.requestId}/retry`, form: { reason: '' } }),
    expected: [401, 403, 403, 403, 303, 303],
  },
  {
    route: 'POST /admin/requests/:id/tasks/:taskId/complete',
    call: (f) => ({
      method: 'POST',
      path: `/admin/requests/${f.requestId}/tasks/${f.taskId}/complete`,
      form: { note: '' },
    }),
    expected: [401, 403, 403, 403, 303, 303],
  },
  {
    route: 'POST /admin/requests/:id/tasks/:taskId/sent',
    call: (f) => ({
      method: 'POST',
      path: `/admin/requests/${f.requestId}/tasks/${f.taskId}/sent`,
      form: { reference: '' },
    }),
    expected: [401, 403, 403, 403, 303, 303],
  },
  {
    route: 'POST /admin/requests/:id/tasks/:taskId/decide',
    call: (f) => ({
      method: 'POST',
      path: `/admin/requests/${f.requestId}/tasks/${f.taskId}/decide`,
      form: { decision: 'skipped', reason: '' },
    }),
    expected: [401, 403, 403, 403, 303, 303],
  },
  {
    route: 'GET /admin/manual-work',
    call: () => ({ method: 'GET', path: '/admin/manual-work', html: true }),
    expected: [303, 200, 403, 403, 200, 200],
  },
  {
    route: 'GET /admin/scope-deletions',
    call: () => ({ method: 'GET', path: '/admin/scope-deletions', html: true }),
    expected: [303, 403, 403, 403, 200, 200],
  },
  ...(['sent', 'confirm', 'cancel'] as const).map((action): Row => ({
    route: `POST /admin/scope-deletions/:id/${action}`,
    call: () => ({
      method: 'POST',
      path: `/admin/scope-deletions/${randomUUID()}/${action}`,
      form: { [action === 'cancel' ? 'reason' : 'reference']: '' },
    }),
    expected: [401, 403, 403, 403, 400, 400],
  })),
  // Bull Board (a mounted app, not routes of ours): staff only; its writes are checked in test/integration/task-failures.test.ts.
  {
    route: `GET ${BULL_BOARD_PATH}`,
    call: () => ({ method: 'GET', path: BULL_BOARD_PATH, html: true }),
    expected: [303, 200, 403, 403, 200, 200],
  },
  {
    route: `GET ${BULL_BOARD_PATH}/api/queues`,
    call: () => ({ method: 'GET', path: `${BULL_BOARD_PATH}/api/queues` }),
    expected: [401, 200, 403, 403, 200, 200],
  },
];

/** Every `METHOD /path` the app registers (routes of its routers, with their mount paths); Bull Board and the sandbox controls are apps of their own. */
function registeredRoutes(app: Express): string[] {
  const found: string[] = [];
  const walk = (
    stack: Array<{
      route?: { path: string; methods: Record<string, boolean> };
      handle: { stack?: unknown[] };
      rawPath?: string;
    }>,
    prefix: string,
  ) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods))
          found.push(`${method.toUpperCase()} ${`${prefix}${layer.route.path}`.replace(/(.)\/$/, '$1')}`);
      } else if (Array.isArray(layer.handle.stack)) {
        walk(
          layer.handle.stack as typeof stack,
          typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? `${prefix}${layer.rawPath}` : prefix,
        );
      }
    }
  };
  walk((app as unknown as { router: { stack: Parameters<typeof walk>[0] } }).router.stack, '');
  return [...new Set(found)].filter((r) => !r.includes(' /sandbox'));
}

for (const database of ['pglite', 'postgres'] as TestDatabase[]) {
  describe(`The role matrix over every route (issue 22), ledger on ${database}`, function () {
    this.timeout(120_000);
    let service: TestService;
    let fixture: Fixture;
    const tokens: Record<Who, string | undefined> = {
      anonymous: undefined,
      viewer: VIEWER_TOKEN,
      'own client': CLIENT_A_TOKEN,
      'other client': CLIENT_B_TOKEN,
      operator: OPERATOR_TOKEN,
      admin: undefined,
    };

    before(async function () {
      if (database === 'postgres' && !(await testPostgresUrl())) skipBecause(this, NO_POSTGRES);
      service = await ownershipService(database);
      tokens.admin = service.adminToken;
      const created = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: { subject: { userId: 'user-3' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 },
      });
      expect(created.status).to.equal(202);
      const subjectRequestId = randomUUID();
      expect(
        (await service.api('/v2/requests', { token: CLIENT_A_TOKEN, body: openDsrRequest(subjectRequestId, 'user-4') }))
          .status,
      ).to.equal(201);
      expect(
        (await service.api(`/v2/requests/${subjectRequestId}`, { token: CLIENT_A_TOKEN, method: 'DELETE' })).status,
      ).to.equal(202);
      fixture = {
        requestId: created.body.id,
        taskId: (await service.ledger.tasks.getTasks(created.body.id))[0].id,
        subjectRequestId,
      };
    });
    after(async () => service?.close());

    /** Issue 25 §5: the admin pages take a session cookie from logging in (one per token, made on first use), never the token. */
    const sessions = new Map<string, string>();
    async function sessionFor(token: string, fresh = false): Promise<string> {
      const known = fresh ? undefined : sessions.get(token);
      if (known) return known;
      const form = await fetch(`${service.url}/admin/login`, { headers: { accept: 'text/html' } });
      const loginCookie = form.headers.get('set-cookie')!.split(';')[0];
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1];
      const ok = await fetch(`${service.url}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
        body: new URLSearchParams({ csrf, token }).toString(),
      });
      expect(ok.status).to.equal(303);
      const id = ok.headers
        .getSetCookie()
        .find((c) => c.startsWith('erasure_session='))!
        .split(';')[0]
        .slice('erasure_session='.length);
      if (!fresh) sessions.set(token, id);
      return id;
    }

    async function send(who: Who, call: Call): Promise<number> {
      const token = tokens[who];
      const headers: Record<string, string> = {};
      let body: string | undefined;
      if (call.form) {
        // Logging out revokes its session: it gets one of its own, so the other rows keep theirs.
        const session = token ? await sessionFor(token, call.path === '/admin/logout') : undefined;
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams({ ...(session ? { csrf: csrfTokenFor(session) } : {}), ...call.form }).toString();
        if (session) headers.cookie = `erasure_session=${session}`;
      } else if (call.html) {
        headers.accept = 'text/html';
        if (token) headers.cookie = `erasure_session=${await sessionFor(token)}`;
      } else {
        if (token) headers.authorization = `Bearer ${token}`;
        if (call.json !== undefined) {
          headers['content-type'] = 'application/json';
          body = JSON.stringify(call.json);
        }
      }
      const res = await fetch(`${service.url}${call.path}`, { method: call.method, headers, body, redirect: 'manual' });
      await res.arrayBuffer();
      return res.status;
    }

    for (const row of ROWS) {
      it(`${row.route}${row.note ? ` (${row.note})` : ''}: ${WHO.map((w, i) => `${w} ${row.expected[i]}`).join(', ')}`, async () => {
        const got: number[] = [];
        for (const who of WHO) {
          const status = await send(who, row.call(fixture));
          // The one failure limiter (issue 25 §2) answers 429 instead of 401 once this address has
          // failed 20 times in a minute, as the anonymous column here does: both are a refusal.
          got.push(who === 'anonymous' && status === 429 ? 401 : status);
        }
        expect(got).to.deep.equal(row.expected);
      });
    }

    it('left nothing changed: the request is still scheduled with its tasks queued, the OpenDSR one still cancelled', async () => {
      expect((await service.ledger.requests.getRequest(fixture.requestId))!.status).to.equal('scheduled');
      expect((await service.ledger.tasks.getTasks(fixture.requestId)).every((t) => t.state === 'queued')).to.equal(
        true,
      );
      const { rows } = await service.db.query<{ request_id: string }>(
        `SELECT request_id FROM opendsr_requests WHERE subject_request_id = $1`,
        [fixture.subjectRequestId],
      );
      expect((await service.ledger.requests.getRequest(rows[0].request_id))!.status).to.equal('cancelled');
    });

    it('has a row for every route the app registers, and no row for a route that does not exist', async () => {
      const noop = {} as never;
      const gate = new CredentialGate(() => undefined, noop);
      const intakeLimiter = new IntakeRateLimiter([]);
      const opendsrRouter = createOpenDsrRouter({
        config: service.config,
        ledger: service.ledger,
        intake: noop,
        store: noop,
        signer: noop,
        verify: () => undefined,
        gate,
        intakeLimiter,
        selfUrl: () => service.url,
        queues: noop,
        logger: service.logger,
        checkCallbackUrl: async () => undefined,
      });
      const app = createApiApp({
        config: service.config,
        ledger: service.ledger,
        intake: noop,
        queues: service.queues,
        verify: () => undefined,
        gate,
        intakeLimiter,
        sessions: noop,
        logger: service.logger,
        clients: noop,
        signer: noop,
        projectDeletions: service.projectDeletions,
        scopeDeletions: service.scopeDeletions,
        vendorHealth: service.vendorHealth,
        vendorCalls: service.vendorCalls,
        deadlineRisk: noop,
        opendsrRouter,
      });
      const registered = registeredRoutes(app);
      const inTable = new Set(ROWS.map((r) => r.route).filter((r) => !r.includes(BULL_BOARD_PATH)));
      expect(
        registered.filter((r) => !inTable.has(r)),
        'routes without a row',
      ).to.deep.equal([]);
      expect(
        [...inTable].filter((r) => !registered.includes(r)),
        'rows without a route',
      ).to.deep.equal([]);
    });
  });
}
