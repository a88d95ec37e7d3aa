import { expect } from 'chai';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { NO_CHROMIUM, chromiumExecutable } from '../support/chromium.js';
import { skipBecause } from '../support/skip.js';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, type TestService } from '../support/test-service.js';

/**
 * Issue 19 in a real headless Chromium: scope deletions on /admin/scope-deletions (each guided
 * kind's instructions, recording sent and confirmed, a refused cancel saying why) and skipping a
 * failed task from the request page.
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
const OPERATOR_TOKEN = 'operator-token-for-scope-browser-01';

const KINDS: Array<{ kind: string; fields: Record<string, unknown>; scope: string; shows: string }> = [
  {
    kind: 'segment-source',
    fields: { workspaceSlug: 'acme-prod', source: 'ios-app', start: '2026-10-01', end: '2026-10-31' },
    scope: 'acme-prod',
    shows: 'Time frame (whole UTC days, inclusive): 2026-10-01 to 2026-10-31',
  },
  {
    kind: 'segment-space',
    fields: { workspaceSlug: 'acme-prod', space: 'Marketing EU' },
    scope: 'acme-prod',
    shows: 'Space name: Marketing EU',
  },
  {
    kind: 'segment-workspace',
    fields: { workspaceSlug: 'acme-old' },
    scope: 'acme-old',
    shows: 'Click "Delete Workspace".',
  },
  {
    kind: 'segment-purge',
    fields: { workspaceId: 'ws_123', deletedOn: '2021-06-01' },
    scope: 'ws_123',
    shows: 'Workspace id: ws_123',
  },
  {
    kind: 'amplitude-data',
    fields: {
      project: 'Web analytics',
      start: '2026-10-01T00:00:00Z',
      end: '2026-10-02T00:00:00Z',
      clauses: [{ type: 'event', names: ['Viewed'] }],
    },
    scope: 'Web analytics',
    shows: 'Clause 1: delete events Viewed.',
  },
  {
    kind: 'aws-account',
    fields: { accountId: '123456789012' },
    scope: '123456789012',
    shows: 'Sign in to the AWS console as the root user of account 123456789012.',
  },
];

describe('Scope deletions and task decisions in a real browser', function () {
  this.timeout(60_000);
  let service: TestService;
  let browser: Browser;
  let context: BrowserContext | undefined;
  const cspErrors: string[] = [];

  before(async function () {
    const executablePath = chromiumExecutable();
    if (!executablePath) skipBecause(this, NO_CHROMIUM);
    service = await startTestService({
      file: { tokens: [{ name: 'on-call', sha256: sha256Hex(OPERATOR_TOKEN), role: 'operator' }] },
    });
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
  });
  afterEach(async () => {
    await context?.close();
    context = undefined;
  });
  after(async () => {
    await browser?.close();
    await service?.close();
  });

  async function operatorPage(): Promise<Page> {
    context = await browser.newContext({ baseURL: service.url });
    const origin = new URL(service.url).origin;
    await context.route('**/*', (route) =>
      new URL(route.request().url()).origin === origin ? route.continue() : route.abort(),
    );
    const page = await context.newPage();
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) cspErrors.push(`${page.url()}: ${message.text()}`);
    });
    await page.goto('/admin');
    await page.getByLabel('Token').fill(OPERATOR_TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL((url) => url.pathname !== '/admin/login');
    return page;
  }

  it('shows each guided kind’s instructions, records one as sent and confirmed, and shows a refused cancel with its reason', async () => {
    const ids: Record<string, string> = {};
    for (const k of KINDS) {
      const res = await service.api('/v1/scope-deletions', {
        body: { kind: k.kind, fields: k.fields, confirmScope: k.scope, reason: 'retired scope' },
      });
      expect(res.status, JSON.stringify(res.body)).to.equal(201);
      ids[k.kind] = res.body.id;
    }
    const page = await operatorPage();
    await page.getByRole('link', { name: 'Scope deletions' }).click();
    await page.waitForURL('**/admin/scope-deletions');
    for (const k of KINDS)
      expect(await page.locator(`[data-scope-deletion="${ids[k.kind]}"]`).textContent(), k.kind).to.include(k.shows);
    const mailto = await page
      .locator(`[data-scope-deletion="${ids['segment-space']}"] a`, { hasText: 'open in the mail program' })
      .getAttribute('href');
    expect(mailto).to.match(/^mailto:friends@segment\.com\?subject=Unify%20space%20deletion/);

    const amplitude = page.locator(`[data-scope-deletion="${ids['amplitude-data']}"]`);
    await amplitude.getByLabel(/^Done at the vendor/).fill('submitted 10:02 UTC');
    await amplitude.getByRole('button', { name: 'Record as sent' }).click();
    await page.waitForURL(/notice=sent/);
    expect(await page.getByRole('status').textContent()).to.include('Recorded as sent');
    await page
      .locator(`[data-scope-deletion="${ids['amplitude-data']}"]`)
      .getByLabel(/^Cancel: reason/)
      .fill('changed our mind');
    await page
      .locator(`[data-scope-deletion="${ids['amplitude-data']}"]`)
      .getByRole('button', { name: 'Cancel' })
      .click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).to.include(
      'Amplitude: a self-service deletion cannot be cancelled once submitted',
    );
    await page.goto('/admin/scope-deletions');
    const sent = page.locator(`[data-scope-deletion="${ids['amplitude-data']}"]`);
    await sent.getByLabel(/^The vendor confirmed/).fill('Amplitude task 991 done');
    await sent.getByRole('button', { name: 'Record confirmation' }).click();
    await page.waitForURL(/notice=confirmed/);
    expect(await page.locator(`[data-scope-deletion="${ids['amplitude-data']}"] .badge`).textContent()).to.equal(
      'confirmed',
    );
    expect(cspErrors).to.deep.equal([]);
  });

  it('skips a failed task from the request page with a reason', async () => {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const res = await service.api('/v1/requests', { body: { subject: { userId: 'user-7' }, vendors: ['pinpoint'] } });
    await service.waitForRequest(res.body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const page = await operatorPage();
    await page.goto(`/admin/requests/${res.body.id}`);
    await page.getByLabel(/^Close it/).fill('project closed, INC-81');
    await page.getByRole('button', { name: 'Skip' }).click();
    await page.waitForURL(/notice=task-skipped/);
    expect(await page.locator('h1 .badge').textContent()).to.equal('completed with errors');
    expect(await page.locator('.evidence').textContent()).to.include('operator_decision');
    expect(cspErrors).to.deep.equal([]);
  });
});
