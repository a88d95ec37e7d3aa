import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';

const VIEWER_TOKEN = 'viewer-token-for-admin-page-tests-01';
const SUBMITTER_TOKEN = 'submitter-token-for-admin-page-test1';
/** A token whose name is markup: the page must show it as text. */
const ODD_NAME_TOKEN = 'odd-name-token-for-admin-page-test-1';

/** The admin pages over plain HTTP (the browser test drives the same pages in Chromium). */
describe('The /admin pages over HTTP', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: {
        tokens: [
          { name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
          { name: 'portal', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' },
          { name: '<img src=x onerror=alert(1)>', sha256: sha256Hex(ODD_NAME_TOKEN), role: 'viewer' },
        ],
      },
    });
  });
  after(async () => service?.close());

  /** Issue 25 §5: the cookie holds a session id from logging in, not the token. One session per token, made on first use. */
  const sessions = new Map<string, string>();
  async function sessionFor(token: string): Promise<string> {
    const known = sessions.get(token);
    if (known) return known;
    const form = await fetch(`${service.url}/admin/login`, { headers: { accept: 'text/html' } });
    const loginCookie = form.headers.get('set-cookie')!.split(';')[0];
    const csrf = csrfOf(await form.text())!;
    const ok = await post('/admin/login', { csrf, token }, loginCookie);
    expect(ok.status).to.equal(303);
    const cookie = ok.headers
      .getSetCookie()
      .find((c) => c.startsWith('erasure_session='))!
      .split(';')[0];
    sessions.set(token, cookie);
    return cookie;
  }

  async function get(pathname: string, token?: string, headers: Record<string, string> = {}) {
    const cookie = token ? await sessionFor(token) : undefined;
    const res = await fetch(`${service.url}${pathname}`, {
      redirect: 'manual',
      headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...headers },
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  async function post(pathname: string, form: Record<string, string>, cookie?: string) {
    const res = await fetch(`${service.url}${pathname}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) },
      body: new URLSearchParams(form).toString(),
    });
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)?.[1];

  it('sends a browser without a session to the login form, and still answers API clients with 401', async () => {
    const page = await get('/admin?filter=failed');
    expect(page.status).to.equal(303);
    expect(page.headers.get('location')).to.equal('/admin/login?next=%2Fadmin%3Ffilter%3Dfailed');
    const board = await get('/admin/queues');
    expect(board.status).to.equal(303);
    const api = await fetch(`${service.url}/admin/queues/api/queues`);
    expect(api.status).to.equal(401);
    expect((await service.api('/admin/queues/api/queues')).status, 'a Bearer token still opens the board API').to.equal(
      200,
    );
  });

  it('logs in with a token into an HttpOnly, SameSite=Strict session cookie, and refuses a login without the form’s CSRF cookie or with a bad token', async () => {
    const form = await get('/admin/login?next=/admin?filter=overdue');
    const loginCookie = form.headers.get('set-cookie')!.split(';')[0];
    const csrf = csrfOf(form.text)!;
    expect(form.text).to.contain('value="/admin?filter=overdue"');

    expect((await post('/admin/login', { csrf, token: VIEWER_TOKEN })).status, 'no CSRF cookie').to.equal(403);
    expect((await post('/admin/login', { csrf, token: 'wrong-token-0000000000' }, loginCookie)).status).to.equal(401);
    const ok = await post('/admin/login', { csrf, token: VIEWER_TOKEN, next: '/admin?filter=overdue' }, loginCookie);
    expect(ok.status).to.equal(303);
    expect(ok.headers.get('location')).to.equal('/admin?filter=overdue');
    const session = ok.headers.getSetCookie().find((c) => c.startsWith('erasure_session='))!;
    expect(session).to.match(
      /^erasure_session=[A-Za-z0-9_-]{43}; Path=\/admin; Max-Age=86400; HttpOnly; SameSite=Strict$/,
    );
    expect(session, 'the cookie never holds the token').not.to.contain(VIEWER_TOKEN);

    const offSite = await post(
      '/admin/login',
      { csrf, token: VIEWER_TOKEN, next: '//evil.example/admin' },
      loginCookie,
    );
    expect(offSite.headers.get('location'), 'never redirects off the site').to.equal('/admin');
  });

  it('serves every admin page with a CSP that allows no inline script or style, and uses none', async () => {
    const { body } = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-11' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(body.id);
    for (const pathname of [
      '/admin/login',
      '/admin',
      '/admin?filter=overdue',
      '/admin?filter=failed',
      '/admin?filter=waiting_manual',
      '/admin?status=completed',
      `/admin/requests/${body.id}`,
    ]) {
      const page = await get(pathname, VIEWER_TOKEN);
      expect(page.status, pathname).to.equal(200);
      expect(page.headers.get('content-security-policy')).to.match(
        /^default-src 'self'; script-src 'self'; style-src 'self';/,
      );
      expect(page.headers.get('cache-control')).to.equal('no-store');
      expect(page.text, pathname).not.to.match(/<script|\sstyle=|\son[a-z]+=/i);
      expect(page.text, pathname).not.to.match(/user-11\b/);
    }
    const css = await get('/admin/assets/admin.css');
    expect(css.headers.get('content-type')).to.match(/^text\/css/);
  });

  it('escapes what it shows: a token named like markup appears as text', async () => {
    const page = await get('/admin', ODD_NAME_TOKEN);
    expect(page.status).to.equal(200);
    expect(page.text).to.contain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page.text).not.to.contain('<img');
  });

  it('lists overdue requests and tasks waiting for manual work under their filters', async () => {
    const overdue = randomUUID();
    const manual = randomUUID();
    for (const [id, dueAt] of [
      [overdue, new Date(Date.now() - 3 * 86_400_000)],
      [manual, new Date(Date.now() + 5 * 86_400_000)],
    ] as const) {
      await service.ledger.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['segment'],
        subject: { email: 'user12@example.com' },
        submittedAt: new Date(Date.now() - 33 * 86_400_000),
        dueAt,
        tasks: [
          {
            id: `${id}__segment__manual`,
            vendor: 'segment',
            resource: 'workspace',
            action: 'request-source-deletion',
            queue: 'segment',
            jobName: 'manual',
            initialState: 'waiting_manual',
            waitingReason: 'Ask Segment support',
          },
        ],
        actor: 'test',
      });
      await service.ledger.requests.markEnqueued(id);
    }
    const overduePage = await get('/admin?filter=overdue', VIEWER_TOKEN);
    expect(overduePage.text).to.contain(`/admin/requests/${overdue}`);
    expect(overduePage.text).not.to.contain(`/admin/requests/${manual}`);
    expect(overduePage.text).to.contain('overdue by 3 d');
    const manualPage = await get('/admin?filter=waiting_manual', VIEWER_TOKEN);
    expect(manualPage.text)
      .to.contain(`/admin/requests/${overdue}`)
      .and.to.contain(`/admin/requests/${manual}`)
      .and.to.contain('Ask Segment support');
    expect(manualPage.text).not.to.contain('user12@example.com');
  });

  it('cancels a request from its page only with the session’s CSRF token and a high enough role', async () => {
    // Submitted by the client that cancels it: a client sees and cancels its own requests only (issue 22).
    const { body } = await service.api('/v1/requests', {
      token: SUBMITTER_TOKEN,
      body: { subject: { userId: 'user-13' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 },
    });
    const viewerPage = await get(`/admin/requests/${body.id}`, VIEWER_TOKEN);
    expect(viewerPage.text, 'no cancel form for a viewer').not.to.contain('/cancel"');
    const viewerCookie = await sessionFor(VIEWER_TOKEN);
    const asViewer = await post(
      `/admin/requests/${body.id}/cancel`,
      { csrf: csrfOf(viewerPage.text)!, reason: 'viewer tries' },
      viewerCookie,
    );
    expect(asViewer.status).to.equal(403);

    const page = await get(`/admin/requests/${body.id}`, SUBMITTER_TOKEN);
    expect(page.text).to.contain(`action="/admin/requests/${body.id}/cancel"`);
    const cookie = await sessionFor(SUBMITTER_TOKEN);
    expect(
      (await post(`/admin/requests/${body.id}/cancel`, { reason: 'the person withdrew' }, cookie)).status,
      'no CSRF token',
    ).to.equal(403);
    expect(
      (
        await post(
          `/admin/requests/${body.id}/cancel`,
          { csrf: csrfOf(viewerPage.text)!, reason: 'the person withdrew' },
          cookie,
        )
      ).status,
      'another session’s token',
    ).to.equal(403);
    const noReason = await post(`/admin/requests/${body.id}/cancel`, { csrf: csrfOf(page.text)!, reason: ' ' }, cookie);
    expect(noReason.headers.get('location')).to.equal(`/admin/requests/${body.id}?error=reason-required`);
    expect((await service.ledger.requests.getRequest(body.id))!.status).to.equal('scheduled');

    const done = await post(
      `/admin/requests/${body.id}/cancel`,
      { csrf: csrfOf(page.text)!, reason: 'the person withdrew' },
      cookie,
    );
    expect(done.status).to.equal(303);
    expect(done.headers.get('location')).to.equal(`/admin/requests/${body.id}?notice=cancelled`);
    expect((await service.ledger.requests.getRequest(body.id))!.status).to.equal('cancelled');
    const after = await get(done.headers.get('location')!, SUBMITTER_TOKEN);
    expect(after.text).to.contain('The request is cancelled.');
    expect(after.text).not.to.contain('/cancel"');
    const trail = await service.ledger.audit.auditTrail(body.id);
    expect(trail.find((e) => e.action === 'request.cancelled')!.actor).to.equal('token:portal');
  });

  it('retries failed tasks from the request page with a reason, and links each Bull Board job back to its request page', async () => {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const { body } = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-14' }, vendors: ['pinpoint'] },
    });
    await service.waitForRequest(body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const [task] = await service.ledger.tasks.getTasks(body.id);

    const board = await service.api(
      '/admin/queues/api/queues?activeQueue=pinpoint&status=failed&page=1&jobsPerPage=50',
    );
    const job = board.body.queues
      .find((q: { name: string }) => q.name === 'pinpoint')
      .jobs.find((j: { id: string }) => j.id === task.id);
    expect(job.externalUrl.href).to.equal(`/admin/requests/${body.id}`);

    const page = await get(`/admin/requests/${body.id}`, service.adminToken);
    expect(page.text).to.contain(`href="/admin/queues/queue/pinpoint/${task.id}"`);
    const retried = await post(
      `/admin/requests/${body.id}/retry`,
      { csrf: csrfOf(page.text)!, reason: 'vendor fixed it' },
      await sessionFor(service.adminToken),
    );
    expect(retried.headers.get('location')).to.equal(`/admin/requests/${body.id}?notice=retried`);
    await waitFor(async () =>
      (await service.ledger.requests.getRequest(body.id))!.status === 'completed' ? true : undefined,
    );
    const trail = await service.ledger.audit.auditTrail(body.id);
    expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('vendor fixed it');
  });

  it('answers 404 for an unknown request and logs out only with the CSRF token', async () => {
    expect((await get(`/admin/requests/${randomUUID()}`, VIEWER_TOKEN)).status).to.equal(404);
    expect((await get('/admin/requests/not-a-uuid', VIEWER_TOKEN)).status).to.equal(404);
    const page = await get('/admin', VIEWER_TOKEN);
    const cookie = await sessionFor(VIEWER_TOKEN);
    expect((await post('/admin/logout', {}, cookie)).status).to.equal(403);
    const out = await post('/admin/logout', { csrf: csrfOf(page.text)! }, cookie);
    expect(out.status).to.equal(303);
    expect(out.headers.getSetCookie()[0]).to.match(/^erasure_session=; Path=\/admin; Max-Age=0/);
  });
});
