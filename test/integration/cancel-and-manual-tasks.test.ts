import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { startTestService, type TestService } from '../support/test-service.js';

describe('Cancelling requests and completing manual tasks', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  it('cancels a request during its grace period: nothing is deleted and the report says so', async () => {
    const submitted = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-14' }, vendors: ['pinpoint'], gracePeriodSeconds: 3600 },
    });
    expect(submitted.status).to.equal(202);
    expect(submitted.body.status).to.equal('scheduled');
    const noReason = await service.api(`/v1/requests/${submitted.body.id}/cancel`, { body: {} });
    expect(noReason.status).to.equal(400);
    const cancelled = await service.api(`/v1/requests/${submitted.body.id}/cancel`, {
      body: { reason: 'the person withdrew the request' },
    });
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body.status).to.equal('cancelled');
    expect(cancelled.body.cancel.cancelled).to.have.length(1);
    expect(cancelled.body.tasks[0].state).to.equal('cancelled');

    // Even if its delayed job runs now, the task stays cancelled and nothing is erased.
    const job = await service.queues.queue('pinpoint').getJob(cancelled.body.tasks[0].id);
    await job!.promote();
    await service.waitForRequest(submitted.body.id);
    expect(service.sandbox!.pinpoint.store.userEndpoints(service.sandbox!.pinpoint.appId, 'user-14')).to.have.length(2);
    expect((await service.api(`/v1/requests/${submitted.body.id}`)).body.status).to.equal('cancelled');

    const again = await service.api(`/v1/requests/${submitted.body.id}/cancel`, { body: { reason: 'twice' } });
    expect(again.status).to.equal(409);
    const trail = await service.ledger.audit.auditTrail(submitted.body.id);
    expect(trail.map((e) => e.action)).to.include.members(['request.cancelled', 'request.cancel_report']);
  });

  it('keeps a request open while a manual task waits, and completes it when an operator adds a note', async () => {
    const id = randomUUID();
    const manualTaskId = `${id}__segment__manual`;
    const { request } = await service.ledger.requests.createRequest({
      id,
      regulation: 'gdpr',
      vendors: ['segment'],
      subject: { userId: 'user-15' },
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 86_400_000),
      tasks: [
        {
          id: manualTaskId,
          vendor: 'segment',
          resource: 'workspace',
          action: 'request-source-deletion',
          queue: 'segment',
          jobName: 'manual',
          initialState: 'waiting_manual',
          waitingReason: 'E-mail Segment support to delete the source',
        },
      ],
      actor: 'test',
    });
    await service.ledger.requests.markEnqueued(request.id);
    expect(await service.ledger.requests.settleRequest(id)).to.equal(undefined);
    const open = await service.api(`/v1/requests/${id}`);
    expect(open.body.status).to.equal('in_progress');
    expect(open.body.manualTasksOpen).to.equal(1);
    expect(open.body.tasks[0].waitingReason).to.equal('E-mail Segment support to delete the source');

    const noNote = await service.api(`/v1/requests/${id}/tasks/${manualTaskId}/complete`, { body: {} });
    expect(noNote.status).to.equal(400);
    const done = await service.api(`/v1/requests/${id}/tasks/${manualTaskId}/complete`, {
      body: { note: 'Ticket 8812 answered: source deleted; contact was user15@example.com' },
    });
    expect(done.status).to.equal(200);
    expect(done.body.status).to.equal('completed');
    expect(done.body.tasks[0].evidence.note).to.equal(
      'Ticket 8812 answered: source deleted; contact was [redacted-email]',
    );
    const twice = await service.api(`/v1/requests/${id}/tasks/${manualTaskId}/complete`, {
      body: { note: 'again, please' },
    });
    expect(twice.status).to.equal(409);
  });
});
