import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import {
  DEFAULT_SEGMENT_TIMINGS,
  type RegulationSnapshot,
  type StoredRegulation,
} from '../../src/sandbox/segment/segment-store.js';
import { SANDBOX_SEGMENT_SOURCES } from '../../src/sandbox/segment/segment-seed.js';
import type { SegmentSettings } from '../../src/vendors/segment-settings.js';

/** Long enough for Segment (sandbox clock) to take a regulation to its final status. */
const REGULATION_RUNS_MS = DEFAULT_SEGMENT_TIMINGS.finishAfterMs + 60_000;

interface SegmentTestOptions {
  subjects?: number;
  segment?: Partial<SegmentSettings>;
}

/** A service whose simulated Segment batches for `batchWindowMs` and polls every 200 ms. */
function startSegmentService(options: SegmentTestOptions = {}): Promise<TestService> {
  const subjects = options.subjects ?? 500;
  return startTestService({
    subjects,
    file: {
      sandbox: {
        subjects,
        clockSpeed: 1,
        vendorOverrides: { segment: { batchWindowMs: 500, pollIntervalMs: 200, pollJitter: 0, ...options.segment } },
      },
    },
  });
}

describe('Erasing people from Segment with shared regulations', function () {
  // A few seconds each on an idle machine; starting a service takes much longer on a loaded one.
  this.timeout(90_000);
  let service: TestService;
  afterEach(async () => service?.close());

  const store = () => service.sandbox!.segment.store;
  const segmentStats = () => service.sandbox!.stats.snapshot().segment?.operations ?? {};

  async function submit(userId: string): Promise<string> {
    const res = await service.api('/v1/requests', { body: { subject: { userId }, vendors: ['segment'] } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.id as string;
  }

  /** Waits until Segment holds `count` regulations and each has been read back once (the batch is polling). */
  async function regulationsPolling(count: number): Promise<StoredRegulation[]> {
    await waitFor(
      async () => store().regulationsCreated >= count && (segmentStats().getRegulation?.calls ?? 0) >= count,
    );
    return store().listRegulations();
  }

  async function view(id: string) {
    const res = await service.api(`/v1/requests/${id}`);
    expect(res.status).to.equal(200);
    return res.body;
  }

  it('sends one regulation for 1,000 requests submitted within one window, and completes all of them when Segment finishes', async function () {
    // About 30 s on two cores at load average 4 (75 s at load 18); the margin is for slow machines.
    this.timeout(150_000);
    // The window outlasts the intake of all 1,000 on a slow machine; the batch is sent as soon as it
    // holds all of them (the size trigger), so the test does not sit out the rest of the window.
    service = await startSegmentService({
      subjects: 1000,
      segment: {
        batchWindowMs: 120_000,
        maxIdsPerRegulation: 1000,
        rateLimit: { max: 2000, durationMs: 1000 },
        concurrency: 20,
      },
    });
    const userIds = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    const ids: string[] = [];
    const max = service.config.intake.maxBulk;
    for (let at = 0; at < userIds.length; at += max) {
      const chunk = userIds.slice(at, at + max).map((userId) => ({ subject: { userId }, vendors: ['segment'] }));
      const res = await service.api('/v1/requests', { body: { requests: chunk } });
      expect(res.status, JSON.stringify(res.body)).to.equal(202);
      expect(res.body.summary.accepted).to.equal(chunk.length);
      ids.push(...res.body.results.map((r: { id: string }) => r.id));
    }

    const [regulation] = await regulationsPolling(1);
    expect(store().regulationsCreated, 'one regulation for the whole window').to.equal(1);
    expect(segmentStats().createWorkspaceRegulation?.calls).to.equal(1);
    // Exactly the people asked for: no guest, no neighbour, no one twice.
    expect([...regulation.subjectIds].sort()).to.deep.equal([...userIds].sort());
    expect(regulation.regulationType).to.equal('SUPPRESS_WITH_DELETE');
    expect(regulation.scope).to.deep.equal({ kind: 'workspace' });

    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await waitFor(async () => {
      const open = await service.ledger.requests.listRequests({ status: 'in_progress', limit: 1 });
      return open.requests.length === 0;
    }, 100_000);
    let completed = 0;
    for (let cursor: string | undefined, first = true; first || cursor; first = false) {
      // Segment answers FAILED when unsupported destinations (Mixpanel, Google Ads) could not take the
      // deletion, though it erased everywhere else (its documented answer, vendor-contracts §4.3).
      const page = await service.ledger.requests.listRequests({ status: 'completed_with_errors', limit: 500, cursor });
      completed += page.requests.length;
      cursor = page.nextCursor;
    }
    expect(completed).to.equal(1000);
    expect(store().regulationsCreated, 'still one regulation').to.equal(1);

    const sample = await view(ids[421]);
    expect(sample.tasks).to.have.length(1);
    const [task] = sample.tasks;
    expect(task.state).to.equal('succeeded');
    expect(task.evidence).to.include({
      regulateId: regulation.id,
      regulationType: 'SUPPRESS_WITH_DELETE',
      scope: 'workspace',
      overallStatus: 'FAILED',
      coverage: 'regulation-wide',
      partial: true,
    });
    expect(task.evidence.failedDestinations).to.have.members(['Mixpanel', 'Google Ads (Classic)']);
    expect(task.evidence.destinations.map((d: { name: string }) => d.name)).to.include.members([
      'Amplitude',
      'Webhooks',
      'Braze',
      'Mixpanel',
    ]);
    for (const d of task.evidence.destinations) expect(d).to.have.keys('name', 'id', 'status', 'sourceId');
    expect(task.evidence.unsupportedDestinations).to.include.members(['Mixpanel', 'Google Ads (Classic)']);
    expect(store().subjectData('USER_ID', 'user-421'), 'the person’s data is gone').to.equal(undefined);
    expect(store().subjectData('USER_ID', 'guest-421'), 'a guest beside them keeps theirs').to.not.equal(undefined);
  });

  it('regulates exactly the user ids submitted: user-42 is erased, user-421 is not', async () => {
    service = await startSegmentService();
    const id = await submit('user-42');
    const [regulation] = await regulationsPolling(1);
    expect(regulation.subjectIds).to.deep.equal(['user-42']);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);
    expect((await view(id)).status).to.equal('completed_with_errors');
    expect(store().subjectData('USER_ID', 'user-42')).to.equal(undefined);
    expect(store().subjectData('USER_ID', 'user-421')?.eventsBySource.size).to.be.greaterThan(0);
    expect(store().subjectData('USER_ID', 'user-4')?.eventsBySource.size).to.be.greaterThan(0);
  });

  it('marks the requests of a PARTIAL_SUCCESS regulation completed_with_errors, naming the failing destination', async () => {
    service = await startSegmentService();
    store().planOutcomes(1, { status: 'PARTIAL_SUCCESS', failingDestination: 'Braze' });
    const ids = await Promise.all(['user-1', 'user-2', 'user-3'].map((u) => submit(u)));
    await regulationsPolling(1);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    for (const id of ids) await service.waitForRequest(id);
    expect(store().regulationsCreated).to.equal(1);
    for (const id of ids) {
      const body = await view(id);
      expect(body.status).to.equal('completed_with_errors');
      const [task] = body.tasks;
      expect(task.state).to.equal('succeeded');
      expect(task.evidence.partial).to.equal(true);
      expect(task.evidence.overallStatus).to.equal('PARTIAL_SUCCESS');
      expect(task.evidence.failedDestinations).to.deep.equal(['Braze']);
      expect(task.evidence.destinations).to.deep.include({
        name: 'Braze',
        id: task.evidence.destinations.find((d: { name: string }) => d.name === 'Braze').id,
        status: 'FAILED',
        sourceId: SANDBOX_SEGMENT_SOURCES.ios,
      });
    }
  });

  it('fails the requests of a FAILED regulation with a reason naming the failing destination, keeping the evidence', async () => {
    service = await startSegmentService();
    // FAILED because a destination that cannot take deletions failed (vendor-contracts §4.3).
    store().planOutcomes(1, { status: 'FAILED', failingDestination: 'Mixpanel' });
    const id = await submit('user-6');
    await regulationsPolling(1);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);
    const body = await view(id);
    expect(body.status).to.equal('failed');
    const [task] = body.tasks;
    expect(task.state).to.equal('failed');
    expect(task.error).to.equal('segment regulation ended FAILED (failing destinations: Mixpanel)');
    expect(task.evidence).to.include({ overallStatus: 'FAILED', coverage: 'regulation-wide' });
    expect(task.evidence.failedDestinations).to.deep.equal(['Mixpanel']);
  });

  it('fails clearly, and does not report erasure, when Segment answers a status it does not document', async () => {
    service = await startSegmentService();
    const segment = store();
    const snapshot = segment.snapshot.bind(segment);
    segment.snapshot = (regulation, now) => {
      const real = snapshot(regulation, now);
      return real.overallStatus !== 'INITIALIZED' && real.overallStatus !== 'RUNNING'
        ? ({ ...real, overallStatus: 'ARCHIVED' } as unknown as RegulationSnapshot)
        : real;
    };
    const id = await submit('user-8');
    await regulationsPolling(1);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);
    const body = await view(id);
    expect(body.status).to.equal('failed');
    expect(body.tasks[0].state).to.equal('failed');
    expect(body.tasks[0].error).to.equal(
      'segment regulation reported status ARCHIVED, which is not a status Segment documents; the user ids are not counted as erased',
    );
    expect(body.tasks[0].evidence.overallStatus).to.equal('ARCHIVED');
  });

  it('keeps a request with a manual Segment task open until an operator completes it with a note', async () => {
    const instructions =
      'E-mail Segment support (friends@segment.com) to delete the person from the Unify space; attach the request id.';
    service = await startSegmentService({
      segment: { manualTasks: [{ action: 'request-unify-deletion', instructions, resource: 'unify/main' }] },
    });
    const id = await submit('user-9');
    const planned = await view(id);
    expect(planned.tasks.map((t: { action: string }) => t.action)).to.have.members([
      'regulate-user',
      'request-unify-deletion',
    ]);
    expect(planned.manualTasksOpen).to.equal(1);
    await regulationsPolling(1);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);

    const open = await view(id);
    expect(open.status, 'the regulation is done, the manual task is not').to.equal('in_progress');
    expect(open.manualTasksOpen).to.equal(1);
    const manual = open.tasks.find((t: { action: string }) => t.action === 'request-unify-deletion');
    expect(manual.state).to.equal('waiting_manual');
    expect(manual.waitingReason).to.equal(instructions);
    expect(open.tasks.find((t: { action: string }) => t.action === 'regulate-user').state).to.equal('succeeded');

    const done = await service.api(`/v1/requests/${id}/tasks/${manual.id}/complete`, {
      body: { note: 'Segment ticket 5521: Unify profile deleted' },
    });
    expect(done.status).to.equal(200);
    expect(done.body.status).to.equal('completed_with_errors');
    const completed = done.body.tasks.find((t: { id: string }) => t.id === manual.id);
    expect(completed.state).to.equal('succeeded');
    expect(completed.evidence.note).to.equal('Segment ticket 5521: Unify profile deleted');
    const receipt = await service.api(`/v1/requests/${id}/receipt`);
    expect(receipt.status).to.equal(200);
    expect(JSON.stringify(receipt.body)).to.include('Segment ticket 5521: Unify profile deleted');
  });

  it('waits the msBeforeNext of a 429 before creating the regulation, without spending an attempt', async () => {
    // Were msBeforeNext ignored, the configured delay (a minute) would outlast the test.
    service = await startSegmentService({ segment: { batchWindowMs: 200, throttleDelayMs: 60_000 } });
    service.sandbox!.faults.set('segment', { throttleForMs: 1500 });
    const stormEnds = Date.now() + 1500;
    const id = await submit('user-10');
    const [regulation] = await regulationsPolling(1);
    expect(regulation.createdAt, 'created after the storm').to.be.at.least(stormEnds);
    const creates = segmentStats().createWorkspaceRegulation;
    expect(creates.throttled, 'one 429, then it waited').to.equal(1);
    expect(creates.calls).to.equal(2);

    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);
    const body = await view(id);
    expect(body.status).to.equal('completed_with_errors');
    const batchJob = await service.queues.queue('segment').getJob(`batch__${body.tasks[0].evidence.batchId}`);
    // attemptsMade counts the final, successful run only: the throttled run and the polls cost nothing.
    expect(batchJob!.attemptsMade).to.equal(1);
  });

  it('puts the requests of a batch whose create call kept failing into a new batch, losing none', async () => {
    service = await startSegmentService({ segment: { batchWindowMs: 1000 } });
    service.sandbox!.faults.set('segment', { errorRate: 1 });
    const ids = await Promise.all(['user-11', 'user-12'].map((u) => submit(u)));
    // Three attempts (jobs.attempts), all answered 500: the batch fails for good.
    await waitFor(async () => (segmentStats().createWorkspaceRegulation?.errors ?? 0) >= service.config.jobs.attempts);
    service.sandbox!.faults.set('segment', { errorRate: 0 });
    const [regulation] = await regulationsPolling(1);
    expect([...regulation.subjectIds].sort()).to.deep.equal(['user-11', 'user-12']);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    for (const id of ids) await service.waitForRequest(id);
    const batchIds = new Set<string>();
    for (const id of ids) {
      const body = await view(id);
      expect(body.status).to.equal('completed_with_errors');
      batchIds.add(body.tasks[0].evidence.batchId);
    }
    expect(batchIds.size, 'both in the same, second batch').to.equal(1);
    expect(segmentStats().createWorkspaceRegulation).to.deep.include({
      calls: service.config.jobs.attempts + 1,
      errors: service.config.jobs.attempts,
    });
  });

  it('creates one source regulation per configured source, each with the request’s user id', async () => {
    const { web, ios } = SANDBOX_SEGMENT_SOURCES;
    service = await startSegmentService({ segment: { scope: { sourceIds: [web, ios] } } });
    const id = await submit('user-14');
    const regulations = await regulationsPolling(2);
    expect(regulations.map((r) => r.scope)).to.have.deep.members([
      { kind: 'source', sourceId: web },
      { kind: 'source', sourceId: ios },
    ]);
    for (const r of regulations) expect(r.subjectIds).to.deep.equal(['user-14']);
    expect(segmentStats().createSourceRegulation?.calls).to.equal(2);
    service.sandbox!.clock.advance(REGULATION_RUNS_MS);
    await service.waitForRequest(id);
    const body = await view(id);
    expect(body.status).to.equal('completed_with_errors');
    expect(body.tasks.map((t: { resource: string }) => t.resource)).to.have.members([`source/${web}`, `source/${ios}`]);
    expect(store().subjectData('USER_ID', 'user-14')).to.equal(undefined);
  });

  it('refuses Segment named for a person without a user id, and skips it with a reason otherwise', async () => {
    service = await startSegmentService();
    const refused = await service.api('/v1/requests', {
      body: { subject: { email: 'user3@example.com' }, vendors: ['segment'] },
    });
    expect(refused.status).to.equal(400);
    expect(JSON.stringify(refused.body))
      .to.include('segment')
      .and.include('userId')
      .and.not.include('user3@example.com');

    const byDefault = await service.api('/v1/requests', {
      body: { subject: { email: 'user3@example.com' }, gracePeriodSeconds: 3600 },
    });
    expect(byDefault.status).to.equal(202);
    const task = (await view(byDefault.body.id)).tasks.find((t: { vendor: string }) => t.vendor === 'segment');
    expect(task.state).to.equal('skipped');
    expect(task.waitingReason).to.equal('needs a userId: Segment regulations name people by user id');
  });
});
