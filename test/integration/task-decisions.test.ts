import { expect } from 'chai';
import { sha256Hex } from '../../src/api/auth.js';
import { verifyReceipt } from '../../src/receipts/receipt.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';

const SUBMITTER_TOKEN = 'submitter-token-for-decision-tests-01';
const VIEWER_TOKEN = 'viewer-token-for-decision-tests-0001';

/** Issue 19, item 4: on-call closes a failed task that will never succeed (skip, resolve). */
describe('Skipping and resolving failed tasks (API, CLI, admin page)', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: {
        tokens: [
          { name: 'portal', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' },
          { name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
        ],
      },
    });
  });
  after(async () => service?.close());

  /** A request whose only task (Pinpoint) failed for good: the sandbox answers every call 400. */
  async function failedRequest(userId: string): Promise<{ id: string; taskId: string }> {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['pinpoint'] } });
    expect(res.status).to.equal(202);
    await service.waitForRequest(res.body.id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const [task] = await service.ledger.tasks.getTasks(res.body.id);
    expect(task.state).to.equal('failed');
    return { id: res.body.id, taskId: task.id };
  }

  it('skips the only failed task through the API: the request settles completed_with_errors, the receipt names the decision and reason, the chain verifies', async () => {
    const { id, taskId } = await failedRequest('user-31');
    expect((await service.ledger.requests.getRequest(id))!.status).to.equal('failed');

    const noReason = await service.api(`/v1/requests/${id}/tasks/${taskId}/skip`, { body: {} });
    expect(noReason.status).to.equal(400);
    expect(noReason.body.error.details[0].field).to.equal('reason');
    const submitter = await service.api(`/v1/requests/${id}/tasks/${taskId}/skip`, {
      body: { reason: 'project deleted by AWS' },
      token: SUBMITTER_TOKEN,
    });
    expect(submitter.status, 'operator role only').to.equal(403);
    const viewer = await service.api(`/v1/requests/${id}/tasks/${taskId}/resolve`, {
      body: { reason: 'project deleted by AWS' },
      token: VIEWER_TOKEN,
    });
    expect(viewer.status).to.equal(403);
    expect((await service.ledger.tasks.getTasks(id))[0].state, 'a refused decision changes nothing').to.equal('failed');

    const skipped = await service.api(`/v1/requests/${id}/tasks/${taskId}/skip`, {
      body: { reason: 'Pinpoint project closed; INC-77' },
    });
    expect(skipped.status, JSON.stringify(skipped.body)).to.equal(200);
    expect(skipped.body.status).to.equal('completed_with_errors');
    expect(skipped.body.tasks[0].state).to.equal('skipped');

    const again = await service.api(`/v1/requests/${id}/tasks/${taskId}/resolve`, {
      body: { reason: 'second thoughts' },
    });
    expect(again.status, 'only a failed task can be decided').to.equal(409);
    expect(again.body.error.message).to.include('the task is skipped, not failed');
    expect(
      (await service.api(`/v1/requests/${id}/tasks/nope/skip`, { body: { reason: 'no such task' } })).status,
    ).to.equal(404);

    const receipt = await service.api(`/v1/requests/${id}/receipt`);
    expect(receipt.status).to.equal(200);
    const task = receipt.body.receipt.tasks[0];
    expect(receipt.body.receipt.status).to.equal('completed_with_errors');
    expect(task.state).to.equal('skipped');
    expect(task.verification, 'a decision is never a verified outcome').to.equal('unverifiable');
    expect(task.verificationReason).to.equal('operator_decision');
    expect(task.operatorDecision).to.deep.include({
      decision: 'skipped',
      by: 'token:admin',
      reason: 'Pinpoint project closed; INC-77',
    });
    expect(task.evidence.operatorDecision.failedWith, 'the failure it closes stays on record').to.be.a('string').and.not
      .be.empty;
    const entry = receipt.body.receipt.auditChain.find((e: { action: string }) => e.action === 'task.skipped');
    // The reason sits beside the chain, its digest in it (README "Security").
    expect(entry.detail).to.deep.include({ taskId, decision: 'skipped' }).and.to.have.property('reasonSha256');
    expect(entry.text).to.deep.equal({ reason: 'Pinpoint project closed; INC-77' });
    expect(verifyReceipt(receipt.body)).to.deep.equal({ valid: true, problems: [] });
  });

  it('skips and resolves in bulk with a dry run first, as for retries, and through the CLI', async () => {
    const a = await failedRequest('user-32');
    const b = await failedRequest('user-33');
    const dry = await service.api('/v1/resolutions', {
      body: { vendor: 'pinpoint', reason: 'deleted by Pinpoint support, case 99', dryRun: true },
    });
    expect(dry.status).to.equal(200);
    expect(dry.body.tasks.map((t: { taskId: string }) => t.taskId)).to.include.members([a.taskId, b.taskId]);
    expect((await service.ledger.tasks.getTasks(a.id))[0].state, 'a dry run changes nothing').to.equal('failed');
    expect((await service.api('/v1/skips', { body: { reason: 'because' } })).status, 'a filter is required').to.equal(
      400,
    );
    expect(
      (await service.api('/v1/skips', { body: { all: true, dryRun: true } })).status,
      'a reason is required',
    ).to.equal(400);

    const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);
    const noReason = await cli('task', 'skip', a.id, a.taskId);
    expect(noReason.code).to.equal(2);
    expect(noReason.stderr).to.include('--reason is required');
    const dryCli = await cli('task', 'resolve', b.id, '--reason', 'deleted by Pinpoint support, case 99', '--dry-run');
    expect(dryCli.code, dryCli.stderr).to.equal(0);
    expect(dryCli.stdout)
      .to.include('would resolve 1 task(s) of 1 request(s) (dry run: nothing changed)')
      .and.include(b.taskId);

    const one = await cli(
      'task',
      'resolve',
      a.id,
      a.taskId,
      '--reason',
      'deleted by Pinpoint support, case 99',
      '--json',
    );
    expect(one.code, one.stderr).to.equal(0);
    const body = JSON.parse(one.stdout);
    expect(body.status).to.equal('completed_with_errors');
    expect(body.tasks[0]).to.deep.include({ state: 'succeeded' });
    expect(body.tasks[0].evidence).to.deep.include({
      verification: 'unverifiable',
      unverifiableReason: 'operator_decision',
    });

    const bulk = await cli('task', 'skip', '--vendor', 'pinpoint', '--reason', 'project closed', '--json');
    expect(bulk.code, bulk.stderr).to.equal(0);
    const doc = JSON.parse(bulk.stdout);
    expect(doc.tasks.map((t: { taskId: string }) => t.taskId))
      .to.include(b.taskId)
      .and.not.include(a.taskId);
    expect((await service.ledger.requests.getRequest(b.id))!.status).to.equal('completed_with_errors');
    const twice = await cli('task', 'skip', b.id, b.taskId, '--reason', 'again');
    expect(twice.code, 'the task is no longer failed').to.equal(1);
    const trail = await service.ledger.audit.auditTrail(a.id);
    expect(trail.find((e) => e.action === 'task.resolved')!.text?.reason).to.equal(
      'deleted by Pinpoint support, case 99',
    );
  });

  it('skips a failed task from the admin page with a reason, only with an operator session', async () => {
    const { id, taskId } = await failedRequest('user-34');
    // Issue 25 §5: the admin pages take a session cookie from logging in, never the token.
    const sessions = new Map<string, string>();
    const sessionFor = async (token: string) => {
      if (sessions.has(token)) return sessions.get(token)!;
      const form = await fetch(`${service.url}/admin/login`, { headers: { accept: 'text/html' } });
      const loginCookie = form.headers.get('set-cookie')!.split(';')[0];
      const loginCsrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1];
      const ok = await fetch(`${service.url}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: loginCookie },
        body: new URLSearchParams({ csrf: loginCsrf, token }).toString(),
      });
      const cookie = ok.headers
        .getSetCookie()
        .find((c) => c.startsWith('erasure_session='))!
        .split(';')[0];
      sessions.set(token, cookie);
      return cookie;
    };
    const open = async (token: string) => {
      const res = await fetch(`${service.url}/admin/requests/${id}`, {
        headers: { accept: 'text/html', cookie: await sessionFor(token) },
      });
      return res.text();
    };
    const post = async (token: string, form: Record<string, string>) =>
      fetch(`${service.url}/admin/requests/${id}/tasks/${taskId}/decide`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: await sessionFor(token) },
        body: new URLSearchParams(form).toString(),
      });
    const viewerPage = await open(VIEWER_TOKEN);
    expect(viewerPage, 'no decision form for a viewer').not.to.include(`/tasks/${taskId}/decide`);
    const viewerCsrf = /name="csrf" value="([^"]+)"/.exec(viewerPage)![1];
    expect(
      (await post(VIEWER_TOKEN, { csrf: viewerCsrf, reason: 'project closed', decision: 'skipped' })).status,
    ).to.equal(403);

    const page = await open(service.adminToken);
    expect(page).to.include(`action="/admin/requests/${id}/tasks/${taskId}/decide"`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1];
    const short = await post(service.adminToken, { csrf, reason: 'x', decision: 'skipped' });
    expect(short.headers.get('location')).to.equal(`/admin/requests/${id}?error=reason-required`);
    const done = await post(service.adminToken, { csrf, reason: 'project closed, INC-78', decision: 'skipped' });
    expect(done.headers.get('location')).to.equal(`/admin/requests/${id}?notice=task-skipped`);
    expect((await service.ledger.requests.getRequest(id))!.status).to.equal('completed_with_errors');
    const after = await open(service.adminToken);
    expect(after).to.include('operator_decision').and.not.to.include(`/tasks/${taskId}/decide`);
  });
});
