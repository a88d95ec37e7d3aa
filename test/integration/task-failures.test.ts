import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { sha256Hex } from '../../src/api/auth.js';

const VIEWER_TOKEN = 'viewer-token-for-failure-tests-0123';

describe('How vendor failures reach BullMQ, the ledger and Bull Board', () => {
  let service: TestService;

  beforeEach(async () => {
    service = await startTestService({
      file: { tokens: [{ name: 'viewer', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' }] },
    });
  });
  afterEach(async () => service?.close());

  async function submit(userId: string): Promise<string> {
    const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['pinpoint'] } });
    expect(res.status).to.equal(202);
    return res.body.id as string;
  }

  async function pinpointJob(requestId: string) {
    const tasks = await service.ledger.tasks.getTasks(requestId);
    const job = await service.queues.queue('pinpoint').getJob(tasks[0].id);
    if (!job) throw new Error('no job');
    return job;
  }

  it('retries a 429 after the throttle delay without spending an attempt', async () => {
    const delay = service.config.vendors.pinpoint!.throttleDelayMs;
    service.sandbox!.faults.set('pinpoint', { throttleForMs: 300 });
    const started = Date.now();
    const id = await submit('user-4');
    await service.waitForRequest(id);
    const elapsed = Date.now() - started;

    const job = await pinpointJob(id);
    // BullMQ counts the successful run in attemptsMade: 1 means the throttled runs cost nothing.
    expect(job.attemptsMade, 'a throttled run costs no attempt').to.equal(1);
    expect(job.attemptsStarted, 'it did run more than once').to.be.at.least(2);
    expect(elapsed, 'waited the throttle delay').to.be.at.least(delay);
    expect(service.sandbox!.stats.snapshot().pinpoint.total.throttled).to.be.at.least(1);
    const status = await service.api(`/v1/requests/${id}`);
    expect(status.body.status).to.equal('completed');
    expect(status.body.tasks[0].evidence.endpointsDeleted).to.equal(2);
  });

  it('retries a 500 with backoff, spending one attempt', async () => {
    service.sandbox!.faults.set('pinpoint', { errorRate: 1 });
    const [worker] = service.workers!.workers.filter((w) => w.name === 'pinpoint');
    const firstFailure = new Promise<void>((resolve) =>
      worker.once('failed', () => {
        resolve();
      }),
    );
    const id = await submit('user-5');
    await firstFailure;
    const between = await service.ledger.tasks.getTasks(id);
    expect(between[0].state, 'queued again, waiting for the retry').to.equal('queued');
    expect(between[0].error).to.equal('pinpoint GetUserEndpoints failed (500 InternalServerErrorException)');
    service.sandbox!.faults.set('pinpoint', { errorRate: 0 });
    await service.waitForRequest(id);

    const job = await pinpointJob(id);
    expect(job.attemptsMade, 'the failed run and the successful one').to.equal(2);
    const status = await service.api(`/v1/requests/${id}`);
    expect(status.body.status).to.equal('completed');
    expect(status.body.tasks[0].attempts).to.equal(2);
  });

  it('fails a 400 at once, shows it in Bull Board without identifiers, and completes the request when retried from the board', async () => {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const id = await submit('user-6');
    await service.waitForRequest(id);

    const failed = await service.api(`/v1/requests/${id}`);
    expect(failed.body.status).to.equal('failed');
    expect(failed.body.tasks[0].state).to.equal('failed');
    expect(failed.body.tasks[0].error).to.equal('pinpoint GetUserEndpoints was refused (400 BadRequestException)');
    const job = await pinpointJob(id);
    expect(job.attemptsMade, 'no retries for a permanent refusal').to.equal(1);

    const board = await service.api(
      '/admin/queues/api/queues?activeQueue=pinpoint&status=failed&page=1&jobsPerPage=20',
    );
    expect(board.status).to.equal(200);
    const pinpointQueue = board.body.queues.find((q: { name: string }) => q.name === 'pinpoint');
    const shown = pinpointQueue.jobs.find((j: { id: string }) => j.id === job.id);
    expect(shown.failedReason).to.equal('pinpoint GetUserEndpoints was refused (400 BadRequestException)');
    expect(shown.name).to.match(/^delete-user-endpoints · req [0-9a-f]{8}…$/);
    expect(JSON.stringify(board.body)).not.to.match(/user-6\b/);

    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const jobPath = `/admin/queues/api/queues/pinpoint/${encodeURIComponent(job.id!)}/retry`;
    const asViewer = await service.api(jobPath, { method: 'PUT', token: VIEWER_TOKEN, body: {} });
    expect(asViewer.status, 'a viewer gets the read-only board').to.be.oneOf([403, 405]);
    const asOperator = await service.api(jobPath, { method: 'PUT', body: {} });
    expect(asOperator.status).to.be.within(200, 204);

    const done = await waitFor(async () => {
      const res = await service.api(`/v1/requests/${id}`);
      return res.body.status === 'completed' ? res.body : undefined;
    });
    expect(done.tasks[0].state).to.equal('succeeded');
    const trail = await service.ledger.audit.auditTrail(id);
    expect(trail.map((e) => e.action)).to.include('dashboard.write');
  });

  it('refuses to add, edit, empty or obliterate through Bull Board, even for an admin', async () => {
    const add = await service.api('/admin/queues/api/queues/pinpoint/add', { body: { name: 'x', data: {} } });
    expect(add.status).to.equal(403);
    const empty = await service.api('/admin/queues/api/queues/pinpoint/empty', { method: 'PUT', body: {} });
    expect(empty.status).to.equal(403);
    const obliterate = await service.api('/admin/queues/api/queues/pinpoint/obliterate', { method: 'PUT', body: {} });
    expect(obliterate.status).to.equal(403);
  });

  it('retries failed tasks through POST /v1/requests/:id/retry with a reason in the audit trail', async () => {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    const id = await submit('user-9');
    await service.waitForRequest(id);
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    const noReason = await service.api(`/v1/requests/${id}/retry`, { body: {} });
    expect(noReason.status).to.equal(400);
    const retried = await service.api(`/v1/requests/${id}/retry`, {
      body: { reason: 'vendor fixed their validation' },
    });
    expect(retried.status).to.equal(202);
    expect(retried.body.retried).to.have.length(1);
    await waitFor(async () =>
      (await service.api(`/v1/requests/${id}`)).body.status === 'completed' ? true : undefined,
    );
    const trail = await service.ledger.audit.auditTrail(id);
    expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('vendor fixed their validation');
  });
});
