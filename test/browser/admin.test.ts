import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { NO_CHROMIUM, chromiumExecutable } from '../support/chromium.js';
import { skipBecause } from '../support/skip.js';

/**
 * Acceptance 4 of issue 7: the admin page and Bull Board, driven in a real headless Chromium
 * (the system's Chromium, through playwright-core). Every page visited is scanned for the seeded
 * people's identifiers.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const OPERATOR_TOKEN = 'operator-token-for-browser-tests-01';
const VIEWER_TOKEN = 'viewer-token-for-browser-tests-0123';
/** The seed's identifier shapes (README "The sandbox"): e-mail, phone, user id. */
const SEEDED_SHAPES = [/user\d+@example\.com/gi, /\+1555\d{7}/g, /\buser-\d+\b/g];

function seededIdentifiers(text: string): string[] {
  return SEEDED_SHAPES.flatMap((shape) => text.match(shape) ?? []);
}

describe('The admin page and Bull Board in a real browser', function () {
  this.timeout(60_000);
  let service: TestService;
  let browser: Browser;
  let context: BrowserContext | undefined;
  /** Failed Pinpoint requests: one the viewer looks at, one the operator retries. */
  let viewerFailed: string;
  let operatorFailed: string;
  let manualRequest: string;
  const visited: string[] = [];
  const cspErrors: string[] = [];

  before(async function () {
    const executablePath = chromiumExecutable();
    // Not a silent pass: counted as skipped with the reason in the run's closing line, and as failed with CI=true.
    if (!executablePath) skipBecause(this, NO_CHROMIUM);
    service = await startTestService({
      file: {
        tokens: [
          { name: 'on-call', sha256: sha256Hex(OPERATOR_TOKEN), role: 'operator' },
          { name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
        ],
      },
    });
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });

    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const failures = [];
    for (const userId of ['user-4', 'user-5']) {
      const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['pinpoint'] } });
      expect(res.status).to.equal(202);
      await service.waitForRequest(res.body.id);
      failures.push(res.body.id as string);
    }
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    [viewerFailed, operatorFailed] = failures as [string, string];
    expect((await service.ledger.requests.getRequest(operatorFailed))!.status).to.equal('failed');

    // A request waiting on a manual task, for a person with every kind of identifier in the vault.
    manualRequest = randomUUID();
    await service.ledger.requests.createRequest({
      id: manualRequest,
      regulation: 'ccpa',
      vendors: ['segment'],
      subject: { userId: 'user-6', email: 'user6@example.com', phone: '+15550000006' },
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 45 * 86_400_000),
      tasks: [
        {
          id: `${manualRequest}__segment__manual`,
          vendor: 'segment',
          resource: 'workspace',
          action: 'request-source-deletion',
          queue: 'segment',
          jobName: 'manual',
          initialState: 'waiting_manual',
          waitingReason: 'Ask Segment support to delete the source',
        },
      ],
      actor: 'test',
    });
    await service.ledger.requests.markEnqueued(manualRequest);
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  after(async () => {
    await browser?.close();
    await service?.close();
  });

  async function newPage(): Promise<Page> {
    context = await browser.newContext({ baseURL: service.url });
    // Only the service under test: Bull Board's web-font link and anything else external is cut off.
    const origin = new URL(service.url).origin;
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === origin ? route.continue() : route.abort(),
    );
    const page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspErrors.push(`${page.url()}: ${message.text()}`);
    });
    return page;
  }

  /** Records the page and fails at once if it shows an identifier of a seeded person. */
  async function checkPage(page: Page, screenshot?: string): Promise<void> {
    const content = await page.content();
    visited.push(page.url());
    expect(seededIdentifiers(content), `identifiers on ${page.url()}`).to.deep.equal([]);
    if (screenshot)
      await page.screenshot({ path: path.join(os.tmpdir(), `erasure-browser-${screenshot}.png`), fullPage: true });
  }

  async function logIn(page: Page, token: string, startAt = '/admin'): Promise<void> {
    await page.goto(startAt);
    expect(new URL(page.url()).pathname).to.equal('/admin/login');
    await checkPage(page);
    await page.getByLabel('Token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL((url) => url.pathname !== '/admin/login');
  }

  async function openFromList(page: Page, filter: string, requestId: string): Promise<void> {
    await page.goto(`/admin?filter=${filter}`);
    await checkPage(page);
    await page.locator(`a[href="/admin/requests/${requestId}"]`).first().click();
    await page.waitForURL(`**/admin/requests/${requestId}`);
    await checkPage(page);
  }

  /** Follows the task's "job" link into Bull Board and waits for the job to be drawn. */
  async function openJobInBoard(page: Page, requestId: string): Promise<string> {
    const [task] = await service.ledger.tasks.getTasks(requestId);
    await page.locator(`tr[data-task="${task.id}"] a`, { hasText: 'job' }).click();
    await page.waitForURL(`**/admin/queues/queue/pinpoint/${task.id}`);
    await page
      .getByText(`delete-user-endpoints · req ${requestId.slice(0, 8)}…`)
      .first()
      .waitFor();
    await page.getByText('GetUserEndpoints was refused').first().waitFor();
    return task.id;
  }

  /** Bull Board 9 draws a job's Retry as an icon button (circling arrows) that asks "retry this job?". */
  function retryButton(page: Page) {
    return page.locator('button:has(svg.lucide-refresh-cw)');
  }

  it('sends a browser that is not logged in to the login form, and refuses a wrong token', async () => {
    const page = await newPage();
    await page.goto(`/admin/requests/${viewerFailed}`);
    expect(new URL(page.url()).pathname).to.equal('/admin/login');
    await checkPage(page, 'login');
    await page.getByLabel('Token').fill('not-a-token-at-all-0000');
    const refused = page.waitForResponse(
      (res) => res.url().endsWith('/admin/login') && res.request().method() === 'POST',
    );
    await page.getByRole('button', { name: 'Log in' }).click();
    expect((await refused).status()).to.equal(401);
    expect(await page.getByRole('alert').textContent()).to.equal('That token is not valid.');
    await checkPage(page);

    const board = await page.goto('/admin/queues');
    expect(new URL(page.url()).pathname, 'Bull Board also asks for a login').to.equal('/admin/login');
    expect(board!.status()).to.equal(200);
    expect(
      (await page.request.get('/admin/queues/api/queues')).status(),
      'the board API refuses without a token',
    ).to.equal(401);
  });

  it('shows a viewer the per-vendor progress but no way to change anything: no forms, no Retry in Bull Board, writes refused', async () => {
    const page = await newPage();
    await logIn(page, VIEWER_TOKEN);
    await checkPage(page, 'viewer-list');
    await openFromList(page, 'failed', viewerFailed);
    const pinpoint = page.locator('#vendor-pinpoint');
    expect(await pinpoint.locator('h3').textContent()).to.contain('1/1 ended, 1 failed');
    expect(await pinpoint.locator('.badge').first().textContent()).to.equal('failed');
    expect(await pinpoint.textContent()).to.contain('pinpoint GetUserEndpoints was refused (400 BadRequestException)');
    expect(await page.locator('main form').count(), 'a viewer gets no forms').to.equal(0);

    // The session's CSRF token is on the page (the logout form): even with it, a viewer's write is refused.
    const csrf = await page.locator('header input[name="csrf"]').inputValue();
    const write = await page.request.post(`/admin/requests/${viewerFailed}/retry`, {
      form: { csrf, reason: 'viewer tries' },
    });
    expect(write.status()).to.equal(403);

    const jobId = await openJobInBoard(page, viewerFailed);
    await checkPage(page, 'viewer-board-job');
    expect(await retryButton(page).count(), 'the board is read-only for a viewer: no Retry button').to.equal(0);
    expect(await page.locator('button:has(svg.lucide-trash2)').count(), 'nor a Remove button').to.equal(0);
    const retry = await page.request.put(`/admin/queues/api/queues/pinpoint/${encodeURIComponent(jobId)}/retry`);
    expect(retry.status()).to.be.oneOf([403, 405]);
    const job = await service.queues.queue('pinpoint').getJob(jobId);
    expect(await job!.getState()).to.equal('failed');
    expect((await service.ledger.requests.getRequest(viewerFailed))!.status).to.equal('failed');
  });

  it('lets an operator retry a failed job from Bull Board and see the request complete on the admin page', async () => {
    const page = await newPage();
    await logIn(page, OPERATOR_TOKEN, '/admin?filter=failed');
    expect(new URL(page.url()).search, 'back where the login started').to.equal('?filter=failed');
    await checkPage(page, 'operator-failed-tasks');
    await openFromList(page, 'failed', operatorFailed);
    await checkPage(page, 'operator-request-failed');
    expect(await page.locator('#vendor-pinpoint .badge').first().textContent()).to.equal('failed');

    await openJobInBoard(page, operatorFailed);
    const back = page.locator(`a[href="/admin/requests/${operatorFailed}"]`);
    expect(await back.count(), 'Bull Board links the job to its request page').to.be.greaterThan(0);
    await checkPage(page, 'operator-board-job');
    await retryButton(page).click();
    const confirm = page.getByRole('alertdialog');
    expect(await confirm.textContent(), "the icon button is the job's Retry").to.contain('retry this job');
    await confirm.getByRole('button', { name: 'Confirm' }).click();

    await waitFor(async () =>
      (await service.ledger.requests.getRequest(operatorFailed))!.status === 'completed' ? true : undefined,
    );
    await page.goto(`/admin/requests/${operatorFailed}`);
    await checkPage(page, 'operator-request-completed');
    expect(await page.locator('h1 .badge').textContent()).to.equal('completed');
    const pinpoint = page.locator('#vendor-pinpoint');
    expect(await pinpoint.locator('.badge').first().textContent()).to.equal('succeeded');
    expect(await pinpoint.locator('.evidence').textContent()).to.match(/endpointsDeleted\s*2/);
    expect(await page.locator('table.audit').textContent(), 'the board write is in the audit trail').to.contain(
      'dashboard.write',
    );
  });

  it('lets an operator complete a manual task with a note, and refuses the form without its CSRF token', async () => {
    const page = await newPage();
    await logIn(page, OPERATOR_TOKEN);
    await openFromList(page, 'waiting_manual', manualRequest);
    await checkPage(page, 'operator-manual-task');
    expect(await page.locator('#vendor-segment').textContent()).to.contain('Ask Segment support to delete the source');

    const taskId = `${manualRequest}__segment__manual`;
    const forged = await page.request.post(
      `/admin/requests/${manualRequest}/tasks/${encodeURIComponent(taskId)}/complete`,
      { form: { note: 'no token here' } },
    );
    expect(forged.status(), 'a write without the CSRF token').to.equal(403);
    expect((await service.ledger.tasks.getTask(taskId))!.state).to.equal('waiting_manual');

    await page.getByLabel(/^Note/).fill('Segment ticket 4411: source deleted');
    await page.getByRole('button', { name: 'Mark done' }).click();
    await page.waitForURL(/notice=task-completed/);
    await checkPage(page, 'operator-manual-done');
    expect(await page.getByRole('status').textContent()).to.equal('The manual task is recorded as done.');
    expect(await page.locator('h1 .badge').textContent()).to.equal('completed');
    expect((await service.ledger.tasks.getTask(taskId))!.evidence.note).to.equal('Segment ticket 4411: source deleted');
  });

  it('keeps the session in an HttpOnly, SameSite=Strict cookie and forgets it on logout', async () => {
    const page = await newPage();
    await logIn(page, VIEWER_TOKEN);
    // Issue 25 §5: the cookie holds a random session id (plain http here, so no Secure and no __Host- prefix).
    const [session] = (await context!.cookies()).filter((c) => c.name === 'erasure_session');
    expect(session).to.include({ httpOnly: true, sameSite: 'Strict', secure: false, path: '/admin' });
    expect(session.value)
      .to.match(/^[A-Za-z0-9_-]{43}$/)
      .and.not.to.equal(VIEWER_TOKEN);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL('**/admin/login');
    expect((await context!.cookies()).filter((c) => c.name === 'erasure_session')).to.deep.equal([]);
    await page.goto('/admin');
    expect(new URL(page.url()).pathname).to.equal('/admin/login');
  });

  it('showed no identifier of a seeded person on any page it visited, and broke no content-security rule', () => {
    expect(visited.length, 'pages were scanned').to.be.greaterThan(12);
    expect(
      visited.some((u) => u.includes('/admin/queues/queue/')),
      'Bull Board pages were scanned',
    ).to.equal(true);
    expect(cspErrors).to.deep.equal([]);
  });
});
