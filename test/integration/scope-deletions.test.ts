import { expect } from 'chai';
import { sha256Hex } from '../../src/api/auth.js';
import { ScopeDeletionLedger } from '../../src/ledger/scope-deletion-ledger.js';
import {
  cancelGuided,
  markGuidedSent,
  requestGuidedDeletion,
  ScopeDeletionRefused,
} from '../../src/scope-deletions/scope-deletions.js';
import { DAY_MS } from '../../src/scope-deletions/scope-kinds.js';
import { verifyChain } from '../../src/receipts/audit-chain.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';
import { adminSessionCookie } from '../support/admin-session.js';

const SUBMITTER_TOKEN = 'submitter-token-for-scope-tests-00001';

/** One valid request per guided kind: fields and the scope typed twice. */
const GUIDED: Record<string, { fields: Record<string, unknown>; scope: string; channel: 'email' | 'ui' }> = {
  'segment-source': {
    fields: { workspaceSlug: 'acme-prod', source: 'ios-app', start: '2026-10-01', end: '2026-10-31' },
    scope: 'acme-prod',
    channel: 'email',
  },
  'segment-space': {
    fields: { workspaceSlug: 'acme-prod', space: 'Marketing EU' },
    scope: 'acme-prod',
    channel: 'email',
  },
  'segment-workspace': { fields: { workspaceSlug: 'acme-old' }, scope: 'acme-old', channel: 'ui' },
  'segment-purge': {
    fields: { workspaceSlug: 'acme-2021', deletedOn: '2021-12-01' },
    scope: 'acme-2021',
    channel: 'email',
  },
  'amplitude-data': {
    fields: {
      project: 'Web analytics',
      start: '2026-10-01T00:00:00Z',
      end: '2026-10-02T00:00:00Z',
      clauses: [
        { type: 'event_property', names: ['email'], events: ['Signed Up'] },
        { type: 'user_property', names: ['phone'] },
      ],
    },
    scope: 'Web analytics',
    channel: 'ui',
  },
  'aws-account': { fields: { accountId: '123456789012' }, scope: '123456789012', channel: 'ui' },
};

describe('Scope deletions (/v1/scope-deletions, erasure scope, /admin/scope-deletions)', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: { tokens: [{ name: 'portal', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' }] },
    });
  });
  after(async () => service?.close());

  const create = (body: Record<string, unknown>) =>
    service.api('/v1/scope-deletions', { body: { reason: 'scope retired, PRIV-90', ...body } });

  it('refuses bad fields with a 400 naming the field', async () => {
    const partDay = await create({
      kind: 'segment-source',
      fields: { ...GUIDED['segment-source'].fields, start: '2026-10-01T10:00:00Z' },
      confirmScope: 'acme-prod',
    });
    expect(partDay.status).to.equal(400);
    expect(partDay.body.error.details).to.deep.equal([
      { field: 'fields.start', problem: 'must be a whole UTC day (YYYY-MM-DD): Segment deletes whole days only' },
    ]);

    const clause = { type: 'event', names: ['Viewed'] };
    const six = await create({
      kind: 'amplitude-data',
      fields: { ...GUIDED['amplitude-data'].fields, clauses: Array(6).fill(clause) },
      confirmScope: 'Web analytics',
    });
    expect(six.status).to.equal(400);
    expect(six.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal(['fields.clauses']);
    expect(six.body.error.details[0].problem).to.include('at most 5 clauses');

    const noRange = await create({
      kind: 'amplitude-data',
      fields: { project: 'Web analytics', clauses: [clause] },
      confirmScope: 'Web analytics',
    });
    expect(noRange.status).to.equal(400);
    expect(noRange.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal([
      'fields.start',
      'fields.end',
    ]);

    const typo = await create({
      kind: 'segment-space',
      fields: GUIDED['segment-space'].fields,
      confirmScope: 'acme-prd',
    });
    expect(typo.status).to.equal(400);
    expect(typo.body.error.details[0].field).to.equal('confirmScope');
    expect(typo.body.error.message, 'the typed value is not echoed').not.to.include('acme-prd');

    const bidi = await create({
      kind: 'segment-space',
      fields: { workspaceSlug: 'acme-prod', space: 'Marketing\u202eUE' },
      confirmScope: 'acme-prod',
    });
    expect(bidi.body.error.details).to.deep.equal([
      { field: 'fields.space', problem: 'must be one line without control or bidi characters' },
    ]);
    const badClause = await create({
      kind: 'amplitude-data',
      fields: { ...GUIDED['amplitude-data'].fields, clauses: [{ type: 'cohort', names: ['x'] }] },
      confirmScope: 'Web analytics',
    });
    expect(badClause.body.error.details[0].field).to.equal('fields.clauses.0.type');
    expect(
      (await create({ kind: 'segment-moon', fields: {}, confirmScope: 'x' })).body.error.details[0].field,
    ).to.equal('kind');
    expect(
      (
        await service.api('/v1/scope-deletions', {
          body: {
            kind: 'aws-account',
            fields: GUIDED['aws-account'].fields,
            confirmScope: '123456789012',
            reason: 'retired',
          },
          token: SUBMITTER_TOKEN,
        })
      ).status,
      'operator only',
    ).to.equal(403);
  });

  it('runs each guided kind end to end: drafted instructions, sent with time and reference, confirmed with the vendor’s evidence', async () => {
    for (const [kind, sample] of Object.entries(GUIDED)) {
      const drafted = await create({ kind, fields: sample.fields, confirmScope: sample.scope });
      expect(drafted.status, `${kind}: ${JSON.stringify(drafted.body)}`).to.equal(201);
      expect(drafted.body).to.deep.include({
        kind,
        mode: 'guided',
        scope: sample.scope,
        status: 'drafted',
        cancellable: true,
      });
      const i = drafted.body.instructions;
      expect(i.channel, kind).to.equal(sample.channel);
      if (i.channel === 'email') {
        expect(i.to).to.equal('friends@segment.com');
        for (const value of Object.values(sample.fields))
          expect(i.body, `${kind}: the body holds every field`).to.include(String(value).slice(0, 10));
        expect(i.mailto).to.equal(
          `mailto:friends@segment.com?subject=${encodeURIComponent(i.subject)}&body=${encodeURIComponent(i.body)}`,
        );
      } else {
        expect(i.steps.length, kind).to.be.greaterThan(2);
        expect(i.steps.join('\n')).to.include(sample.scope);
      }
      const id = drafted.body.id as string;
      const sent = await service.api(`/v1/scope-deletions/${id}/sent`, { body: { reference: 'CS-5001' } });
      expect(sent.status, kind).to.equal(200);
      expect(sent.body).to.deep.include({ status: 'sent', sentReference: 'CS-5001' });
      expect(sent.body.expectedBy, kind).to.be.a('string');
      const confirmed = await service.api(`/v1/scope-deletions/${id}/confirm`, {
        body: { reference: 'vendor mail 2026-11-20' },
      });
      expect(confirmed.status, kind).to.equal(200);
      expect(confirmed.body.status).to.equal('confirmed');
      expect(confirmed.body.evidence.confirmation).to.deep.include({
        reference: 'vendor mail 2026-11-20',
        recordedBy: 'token:admin',
      });
      const shown = await service.api(`/v1/scope-deletions/${id}`);
      expect(shown.body.audit.map((e: { action: string }) => e.action)).to.deep.equal([
        'scope_deletion.requested',
        'scope_deletion.sent',
        'scope_deletion.confirmed',
      ]);
      expect(verifyChain(await service.ledger.audit.auditTrail(id))).to.deep.equal([]);
    }
  });

  it('runs pinpoint-project through /v1/scope-deletions as the automated project deletion, which /v1/project-deletions still shows', async () => {
    const appId = service.config.vendors.pinpoint!.appIds[0];
    const mismatch = await create({ kind: 'pinpoint-project', fields: { appId }, confirmScope: `${appId}x` });
    expect(mismatch.status).to.equal(400);
    expect(mismatch.body.error.details[0].field).to.equal('confirmScope');
    const scheduled = await create({ kind: 'pinpoint-project', fields: { appId }, confirmScope: appId });
    expect(scheduled.status, JSON.stringify(scheduled.body)).to.equal(202);
    expect(scheduled.body).to.deep.include({
      kind: 'pinpoint-project',
      mode: 'automated',
      scope: appId,
      status: 'scheduled',
    });
    const alias = await service.api(`/v1/project-deletions/${scheduled.body.id}`);
    expect(alias.status).to.equal(200);
    const listed = await service.api('/v1/scope-deletions');
    expect(listed.body.scopeDeletions.map((d: { id: string }) => d.id)).to.include(scheduled.body.id);
    const cancelled = await service.api(`/v1/scope-deletions/${scheduled.body.id}/cancel`, {
      body: { reason: 'wrong project' },
    });
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body.status).to.equal('cancelled');
  });

  it('on the ledger’s clock: a segment-space cancelled on day 4 drafts the cancellation e-mail; on day 6 the cancel is refused with the reason', async () => {
    let now = new Date('2026-11-02T09:00:00Z');
    const ledger = new ScopeDeletionLedger(service.db, () => now);
    const sample = GUIDED['segment-space'];
    const early = await requestGuidedDeletion(ledger, {
      kind: 'segment-space',
      fields: sample.fields,
      confirmScope: sample.scope,
      reason: 'space retired',
      actor: 'token:oncall',
    });
    const late = await requestGuidedDeletion(ledger, {
      kind: 'segment-space',
      fields: sample.fields,
      confirmScope: sample.scope,
      reason: 'space retired',
      actor: 'token:oncall',
    });
    const sentEarly = await markGuidedSent(ledger, early.id, 'token:oncall', { reference: 'CS-1' });
    await markGuidedSent(ledger, late.id, 'token:oncall', { reference: 'CS-2' });
    expect(sentEarly.cancelDeadline!.toISOString(), 'the deadline: 5 calendar days after it was sent').to.equal(
      '2026-11-07T09:00:00.000Z',
    );

    now = new Date(now.getTime() + 4 * DAY_MS);
    const requested = await cancelGuided(ledger, early.id, 'token:oncall', 'kept after all');
    expect(requested.status).to.equal('cancel_requested');
    const mail = (
      requested.evidence.cancel as {
        cancellation: { channel: string; to: string; subject: string; body: string; mailto: string };
      }
    ).cancellation;
    expect(mail).to.deep.include({ channel: 'email', to: 'friends@segment.com' });
    expect(mail.subject).to.include('Cancel Unify space deletion');
    expect(mail.body).to.include('acme-prod').and.include('Marketing EU').and.include('CS-1');
    expect(mail.mailto).to.match(/^mailto:friends@segment\.com\?subject=Cancel/);

    now = new Date(now.getTime() + 2 * DAY_MS);
    let refused: unknown;
    try {
      await cancelGuided(ledger, late.id, 'token:oncall', 'kept after all');
    } catch (err) {
      refused = err;
    }
    expect(refused).to.be.instanceOf(ScopeDeletionRefused);
    expect((refused as ScopeDeletionRefused).why)
      .to.include('the cancel deadline passed at 2026-11-07T09:00:00.000Z')
      .and.include('5 calendar days');
    expect((await ledger.get(late.id))!.status, 'a refused cancel changes nothing').to.equal('sent');
    expect((await ledger.auditTrail(late.id)).map((e) => e.action)).to.include('scope_deletion.cancel_refused');
  });

  it('refuses over the API a cancel Amplitude cannot do, and a Segment space cancel after its deadline; shows overdue work', async () => {
    const amp = GUIDED['amplitude-data'];
    const drafted = await create({ kind: 'amplitude-data', fields: amp.fields, confirmScope: amp.scope });
    await service.api(`/v1/scope-deletions/${drafted.body.id}/sent`, { body: { reference: 'submitted in the UI' } });
    const refused = await service.api(`/v1/scope-deletions/${drafted.body.id}/cancel`, {
      body: { reason: 'too much' },
    });
    expect(refused.status).to.equal(409);
    expect(refused.body.error.message).to.include(
      'Amplitude: a self-service deletion cannot be cancelled once submitted',
    );
    expect((await service.api(`/v1/scope-deletions/${drafted.body.id}`)).body.status).to.equal('sent');

    const space = GUIDED['segment-space'];
    const old = await create({ kind: 'segment-space', fields: space.fields, confirmScope: space.scope });
    await service.api(`/v1/scope-deletions/${old.body.id}/sent`, {
      body: { reference: 'CS-3', sentAt: new Date(Date.now() - 6 * DAY_MS).toISOString() },
    });
    const late = await service.api(`/v1/scope-deletions/${old.body.id}/cancel`, { body: { reason: 'kept' } });
    expect(late.status).to.equal(409);
    expect(late.body.error.message).to.include('the cancel deadline passed');

    const aws = GUIDED['aws-account'];
    const closed = await create({ kind: 'aws-account', fields: aws.fields, confirmScope: aws.scope });
    const sent = await service.api(`/v1/scope-deletions/${closed.body.id}/sent`, {
      body: { reference: 'closed in console', sentAt: new Date(Date.now() - 91 * DAY_MS).toISOString() },
    });
    expect(sent.body.status, 'past AWS’s 90 days and not confirmed').to.equal('overdue');
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(
      Number(/^erasure_manual_work_overdue (\d+)$/m.exec(metrics)?.[1]),
      'overdue manual work on /metrics',
    ).to.be.at.least(1);
    const drop = await create({ kind: 'aws-account', fields: aws.fields, confirmScope: aws.scope });
    const dropped = await service.api(`/v1/scope-deletions/${drop.body.id}/cancel`, { body: { reason: 'not yet' } });
    expect(dropped.body.status, 'a drafted one is simply dropped').to.equal('cancelled');
  });

  it('runs every kind end to end through erasure scope: request (with the instructions), sent, confirmed; pinpoint-project scheduled', async () => {
    const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);
    for (const [kind, sample] of Object.entries(GUIDED)) {
      const made = await cli(
        'scope',
        'request',
        kind,
        '--fields',
        JSON.stringify(sample.fields),
        '--confirm',
        sample.scope,
        '--reason',
        'scope retired',
        '--json',
      );
      expect(made.code, `${kind}: ${made.stderr}`).to.equal(0);
      const drafted = JSON.parse(made.stdout);
      expect(drafted).to.deep.include({ kind, status: 'drafted' });
      const shown = await cli('scope', 'show', drafted.id);
      expect(shown.stdout, kind).to.include(sample.channel === 'email' ? 'e-mail to:  friends@segment.com' : '  1. ');
      const sent = await cli(
        'scope',
        'sent',
        drafted.id,
        '--reference',
        'REF-1',
        '--at',
        new Date(Date.now() - 3_600_000).toISOString(),
        '--json',
      );
      expect(JSON.parse(sent.stdout).status, kind).to.equal('sent');
      const confirmed = await cli('scope', 'confirm', drafted.id, '--reference', 'vendor confirmed', '--json');
      expect(JSON.parse(confirmed.stdout).status, kind).to.equal('confirmed');
    }
    const appId = service.config.vendors.pinpoint!.appIds[0];
    const project = await cli(
      'scope',
      'request',
      'pinpoint-project',
      '--field',
      `appId=${appId}`,
      '--confirm',
      appId,
      '--reason',
      'project retired',
      '--grace-days',
      '30',
      '--json',
    );
    expect(project.code, project.stderr).to.equal(0);
    const scheduled = JSON.parse(project.stdout);
    expect(scheduled).to.deep.include({ kind: 'pinpoint-project', mode: 'automated', status: 'scheduled' });
    const kinds = await cli('scope', 'kinds');
    expect(kinds.stdout).to.include('segment-space').and.include('within 5 days');
    expect((await cli('scope', 'cancel', scheduled.id, '--reason', 'kept', '--json')).code).to.equal(0);
  });

  it('shows overdue manual work in the API, erasure list --overdue and on the admin page', async () => {
    const aws = GUIDED['aws-account'];
    const closed = await create({ kind: 'aws-account', fields: aws.fields, confirmScope: aws.scope });
    await service.api(`/v1/scope-deletions/${closed.body.id}/sent`, {
      body: { reference: 'closed in console', sentAt: new Date(Date.now() - 95 * DAY_MS).toISOString() },
    });
    const api = await service.api('/v1/manual-work?overdue=true');
    expect(api.status).to.equal(200);
    expect(api.body.manualWork.find((w: { id: string }) => w.id === closed.body.id)).to.deep.include({
      work: 'scope-deletion',
      kind: 'aws-account',
      step: 'confirm',
      assignee: 'on-call',
      overdue: true,
    });
    const listed = await runCli(['list', '--overdue', '--json', ...serviceFlags(service)]);
    expect(listed.code, listed.stderr).to.equal(0);
    expect(JSON.parse(listed.stdout).manualWork.map((w: { id: string }) => w.id)).to.include(closed.body.id);
    const text = await runCli(['list', '--overdue', ...serviceFlags(service)]);
    expect(text.stdout)
      .to.match(/^overdue manual work \(\d+\):/)
      .and.include(closed.body.id);
    const page = await (
      await fetch(`${service.url}/admin/manual-work`, {
        headers: { accept: 'text/html', cookie: await adminSessionCookie(service.url, service.adminToken) },
      })
    ).text();
    expect(page)
      .to.include(`data-manual-work="scope:${closed.body.id}:confirm"`)
      .and.match(/\d+ overdue/);
  });

  it('requests, records and cancels through erasure scope, and through the admin page', async () => {
    const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);
    const made = await cli(
      'scope',
      'request',
      'segment-space',
      '--field',
      'workspaceSlug=acme-prod',
      '--field',
      'space=Marketing EU',
      '--confirm',
      'acme-prod',
      '--reason',
      'space retired',
    );
    expect(made.code, made.stderr).to.equal(0);
    expect(made.stdout)
      .to.include('e-mail to:  friends@segment.com')
      .and.include('mailto:     mailto:friends@segment.com?subject=')
      .and.include('Space name: Marketing EU');
    const id = /^scope deletion ([0-9a-f-]{36})/.exec(made.stdout)![1];
    const typo = await cli(
      'scope',
      'request',
      'segment-space',
      '--field',
      'workspaceSlug=acme-prod',
      '--field',
      'space=X',
      '--confirm',
      'acme',
      '--reason',
      'space retired',
    );
    expect(typo.code).to.equal(1);
    expect(typo.stderr).to.include('confirmScope');

    const sent = await cli('scope', 'sent', id, '--reference', 'CS-7');
    expect(sent.code, sent.stderr).to.equal(0);
    expect(sent.stdout).to.include('status      sent').and.include('cancel by');
    const cancel = await cli('scope', 'cancel', id, '--reason', 'kept after all');
    expect(cancel.code, cancel.stderr).to.equal(0);
    expect(cancel.stdout)
      .to.include('status      cancel_requested')
      .and.include('send this cancellation:')
      .and.include('Cancel Unify space deletion');

    const cookie = await adminSessionCookie(service.url, service.adminToken);
    const drafted = await create({
      kind: 'segment-workspace',
      fields: { workspaceSlug: 'acme-old' },
      confirmScope: 'acme-old',
    });
    const page = await (
      await fetch(`${service.url}/admin/scope-deletions`, { headers: { accept: 'text/html', cookie } })
    ).text();
    expect(page)
      .to.include(`data-scope-deletion="${drafted.body.id}"`)
      .and.include('Delete Workspace')
      .and.include(`/admin/scope-deletions/${drafted.body.id}/sent`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1];
    const post = (action: string, form: Record<string, string>) =>
      fetch(`${service.url}/admin/scope-deletions/${drafted.body.id}/${action}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrf, ...form }).toString(),
      });
    expect((await post('sent', { reference: 'deleted in UI' })).headers.get('location')).to.equal(
      '/admin/scope-deletions?notice=sent',
    );
    const refused = await post('cancel', { reason: 'restore it' });
    expect(refused.status).to.equal(409);
    expect(await refused.text()).to.include('Segment documents no way to restore a workspace deleted in the UI');
    expect((await service.api(`/v1/scope-deletions/${drafted.body.id}`)).body.status).to.equal('sent');
  });
});
