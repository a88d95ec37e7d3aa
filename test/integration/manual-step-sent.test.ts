import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { verifyReceipt } from '../../src/receipts/receipt.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from '../cli/run-cli.js';
import { adminSessionCookie } from '../support/admin-session.js';

/** Issue 19, item 3 (acceptance 4): a request cancelled after its manual step was sent to the vendor. */
describe('A manual step sent to the vendor, then a cancel', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({ roles: { api: true, workers: [] } });
  });
  after(async () => service?.close());

  /** A request with two manual Segment steps (no job: an operator does them). */
  async function manualRequest(): Promise<{ id: string; sentTask: string; unsentTask: string }> {
    const id = randomUUID();
    const manual = (suffix: string, action: string) => ({
      id: `${id}__segment__${suffix}`,
      vendor: 'segment' as const,
      resource: 'workspace/acme',
      action,
      queue: 'segment',
      jobName: 'manual',
      initialState: 'waiting_manual' as const,
      waitingReason: 'E-mail Segment Customer Success',
    });
    await service.ledger.requests.createRequest({
      id,
      regulation: 'gdpr',
      vendors: ['segment'],
      subject: { userId: 'user-41' },
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 30 * 86_400_000),
      tasks: [manual('source', 'request-source-deletion'), manual('space', 'request-space-deletion')],
      actor: 'test',
    });
    await service.ledger.requests.markEnqueued(id);
    return { id, sentTask: `${id}__segment__source`, unsentTask: `${id}__segment__space` };
  }

  it('leaves a sent step open saying it was sent and cannot be cancelled, never cancelled; the receipt says what happened', async () => {
    const { id, sentTask, unsentTask } = await manualRequest();
    const noReference = await service.api(`/v1/requests/${id}/tasks/${sentTask}/sent`, { body: {} });
    expect(noReference.status).to.equal(400);
    expect(noReference.body.error.details[0].field).to.equal('reference');
    const future = await service.api(`/v1/requests/${id}/tasks/${sentTask}/sent`, {
      body: { reference: 'CS-4411', sentAt: new Date(Date.now() + 86_400_000).toISOString() },
    });
    expect(future.status, 'a step is not sent in the future').to.equal(400);

    const sentAt = new Date(Date.now() - 3_600_000).toISOString();
    const sent = await runCli([
      'task',
      'sent',
      id,
      sentTask,
      '--reference',
      'Segment CS ticket 4411',
      '--at',
      sentAt,
      '--json',
      ...serviceFlags(service),
    ]);
    expect(sent.code, sent.stderr).to.equal(0);
    const afterSent = JSON.parse(sent.stdout);
    const step = afterSent.tasks.find((t: { id: string }) => t.id === sentTask);
    expect(step.state).to.equal('waiting_manual');
    expect(step.evidence.sent).to.deep.include({ at: sentAt, reference: 'Segment CS ticket 4411', by: 'token:admin' });
    expect(
      (await service.api(`/v1/requests/${id}/tasks/${sentTask}/sent`, { body: { reference: 'again' } })).status,
      'sent once',
    ).to.equal(409);

    const cancel = await service.api(`/v1/requests/${id}/cancel`, {
      body: { reason: 'the person withdrew the request' },
    });
    expect(cancel.status).to.equal(200);
    expect(cancel.body.status).to.equal('cancelled');
    const tasks = Object.fromEntries(cancel.body.tasks.map((t: { id: string }) => [t.id, t]));
    expect(tasks[unsentTask].state, 'a step not yet sent is cancelled').to.equal('cancelled');
    expect(tasks[sentTask].state, 'a sent step is never cancelled').to.equal('waiting_manual');
    expect(tasks[sentTask].waitingReason)
      .to.include('sent to the vendor before the cancel')
      .and.include('cannot be cancelled');
    expect(tasks[sentTask].evidence.cancelAfterSent).to.deep.include({ withdrawn: false });
    expect(cancel.body.cancel.cancelled).to.deep.equal([unsentTask]);
    expect(cancel.body.cancel.notWithdrawn).to.deep.equal([
      {
        taskId: sentTask,
        vendor: 'segment',
        reason:
          'the manual step was sent to the vendor before the cancel and cannot be cancelled; it stays open until the vendor confirms',
      },
    ]);

    const receipt = (await service.api(`/v1/requests/${id}/receipt`)).body;
    expect(receipt.receipt.status).to.equal('cancelled');
    const receiptStep = receipt.receipt.tasks.find((t: { action: string }) => t.action === 'request-source-deletion');
    expect(receiptStep.state).to.equal('waiting_manual');
    expect(receiptStep.evidence.sent.reference).to.equal('Segment CS ticket 4411');
    expect(receiptStep.evidence.cancelAfterSent.why).to.include('cancelled after this manual step had been sent');
    const cancelled = receipt.receipt.auditChain.find((e: { action: string }) => e.action === 'request.cancelled');
    expect(cancelled.detail.manualStepsAlreadySent).to.deep.equal([sentTask]);
    expect(verifyReceipt(receipt)).to.deep.equal({ valid: true, problems: [] });

    // The vendor confirms later: the operator records it; the request stays cancelled.
    const done = await service.api(`/v1/requests/${id}/tasks/${sentTask}/complete`, {
      body: { note: 'Segment confirmed the deletion, CS-4411' },
    });
    expect(done.status).to.equal(200);
    expect(done.body.status).to.equal('cancelled');
    expect(done.body.tasks.find((t: { id: string }) => t.id === sentTask).state).to.equal('succeeded');
  });

  it('records a step as sent from the admin page', async () => {
    const { id, sentTask } = await manualRequest();
    const cookie = await adminSessionCookie(service.url, service.adminToken);
    const page = await (
      await fetch(`${service.url}/admin/requests/${id}`, { headers: { accept: 'text/html', cookie } })
    ).text();
    expect(page).to.include(`action="/admin/requests/${id}/tasks/${sentTask}/sent"`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1];
    const res = await fetch(`${service.url}/admin/requests/${id}/tasks/${sentTask}/sent`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams({ csrf, reference: 'CS-4412' }).toString(),
    });
    expect(res.headers.get('location')).to.equal(`/admin/requests/${id}?notice=task-sent`);
    const task = (await service.ledger.tasks.getTask(sentTask))!;
    expect(task.evidence.sent).to.deep.include({ reference: 'CS-4412' });
    const after = await (
      await fetch(`${service.url}/admin/requests/${id}`, { headers: { accept: 'text/html', cookie } })
    ).text();
    expect(after, 'sent once').not.to.include(`/tasks/${sentTask}/sent"`);
  });
});
