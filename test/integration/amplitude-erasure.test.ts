import { expect } from 'chai';
import got from 'got';
import type { Job } from 'bullmq';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { neighbourAmplitudeId, SANDBOX_AMPLITUDE_PROJECT } from '../../src/sandbox/amplitude/amplitude-seed.js';
import type { AmplitudeSandboxOptions } from '../../src/sandbox/amplitude/amplitude-sandbox.js';
import type { AmplitudeSettings } from '../../src/vendors/amplitude-settings.js';
import { SUBMIT_DELETIONS } from '../../jobs/amplitude-submit-deletions.js';
import type { TaskRecord } from '../../src/ledger/ledger-types.js';
import { withdrawalJobId } from '../../src/operations/withdrawal-job.js';
import { reconcile } from '../../src/workers/reconciler.js';
import { createRequestEnqueuer } from '../../src/planner/request-enqueuer.js';

const DAY_MS = 86_400_000;
const MAIN = SANDBOX_AMPLITUDE_PROJECT.appId;
const amplitudeIdOf = (i: number) => seedPerson(i).amplitudeId;

interface AmplitudeTestOptions {
  subjects?: number;
  amplitude?: Partial<AmplitudeSettings>;
  sandbox?: AmplitudeSandboxOptions;
}

/**
 * A service whose simulated Amplitude batches for `batchWindowMs` and polls every 200 ms, on a
 * sandbox clock at real speed. The service paces its calls to Amplitude's 1/s; the simulator's own
 * limit is raised so that the test's reads through the API do not take the service's turn.
 */
function startAmplitudeService(options: AmplitudeTestOptions = {}): Promise<TestService> {
  const subjects = options.subjects ?? 50;
  return startTestService({
    subjects,
    sandbox: { amplitude: { requestsPerSecond: 50, ...options.sandbox } },
    file: {
      sandbox: {
        subjects,
        clockSpeed: 1,
        vendorOverrides: {
          amplitude: { batchWindowMs: 300, pollIntervalMs: 200, pollJitter: 0, ...options.amplitude },
        },
      },
    },
  });
}

interface ListedJob {
  day: string;
  status: string;
  amplitude_ids: Array<{ amplitude_id: number }>;
}

/** Test helpers over one running service. */
function helpers(current: () => TestService) {
  const store = () => current().sandbox!.amplitude.store;
  const amplitudeCalls = (operation: string) => current().sandbox!.stats.calls('amplitude', operation);

  async function submit(subject: Record<string, string>): Promise<string> {
    const res = await current().api('/v1/requests', { body: { subject, vendors: ['amplitude'] } });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    return res.body.id as string;
  }

  const task = async (requestId: string): Promise<TaskRecord> =>
    (await current().ledger.tasks.getTasks(requestId)).find((t) => t.action === 'amplitude-delete-user')!;

  /** Waits until the request's task knows its Amplitude job day (the shared call was sent). */
  async function jobDayOf(requestId: string): Promise<string> {
    return waitFor(async () => {
      const evidence = (await task(requestId)).evidence;
      return typeof evidence.day === 'string' ? evidence.day : undefined;
    });
  }

  /** The deletion job of `day`, read through Amplitude's own API (GET by day). */
  async function listedJob(day: string): Promise<ListedJob | undefined> {
    const { baseUrl } = current().sandbox!.vendors.amplitude;
    const { apiKey, secretKey } = current().sandbox!.amplitude;
    const jobs = await got
      .get(`${baseUrl}/api/2/deletions/users`, {
        searchParams: { start_day: day, end_day: day },
        username: apiKey,
        password: secretKey,
        retry: { limit: 0 },
      })
      .json<ListedJob[]>();
    return jobs.find((j) => j.day === day);
  }

  /** Moves the sandbox clock until Amplitude reports the job of `day` done (its day + scrub + five days of clearing backups). */
  function runJobToCompletion(day: string): void {
    const doneAt = Date.parse(`${day}T00:00:00Z`) + 7 * DAY_MS;
    current().sandbox!.clock.advance(Math.max(0, doneAt - current().sandbox!.clock.now()));
  }

  return { store, amplitudeCalls, submit, task, jobDayOf, listedJob, runJobToCompletion };
}

describe('Erasing people from Amplitude with shared deletion calls', () => {
  let service: TestService;
  const { store, amplitudeCalls, submit, task, jobDayOf, listedJob, runJobToCompletion } = helpers(() => service);

  describe('1,000 requests in one window', () => {
    afterEach(async () => service?.close());

    it('sends 1,000 requests of one window in 10 calls of 100 ids within Amplitude’s limits, and completes all of them when Amplitude is done', async function () {
      // Most of the time goes into intake (1,000 requests committed one by one) and starting the service.
      this.timeout(300_000);
      // Amplitude's real limits in the simulator (1 call/s per key, 8 in flight); the service's own pacing keeps to them.
      service = await startAmplitudeService({
        subjects: 1000,
        sandbox: { requestsPerSecond: 1, maxInFlight: 8 },
        amplitude: { batchWindowMs: 600_000, pollIntervalMs: 4000 },
      });
      const ids: string[] = [];
      const max = service.config.intake.maxBulk;
      const people = Array.from({ length: 1000 }, (_, i) => ({
        subject: { userId: `user-${i}` },
        vendors: ['amplitude'],
      }));
      for (let at = 0; at < people.length; at += max) {
        const res = await service.api('/v1/requests', { body: { requests: people.slice(at, at + max) } });
        expect(res.status, JSON.stringify(res.body).slice(0, 500)).to.equal(202);
        expect(res.body.summary.accepted).to.equal(Math.min(max, people.length - at));
        ids.push(...res.body.results.map((r: { id: string }) => r.id));
      }

      // Amplitude holds all 1,000 in its staging job once every call has been sent.
      const project = store().project(MAIN);
      const jobs = await waitFor(
        async () => {
          const listed = store().listJobs(project, '2000-01-01', '2999-12-31');
          return listed.reduce((n, job) => n + job.amplitude_ids.length, 0) === 1000 ? listed : undefined;
        },
        120_000,
        100,
      );
      expect(amplitudeCalls('createDeletion'), 'one call per 100 ids').to.equal(10);
      expect(jobs, 'all in one Amplitude job').to.have.length(1);
      const day = jobs[0].day;
      // The day's poll has looked at Amplitude's clock, and called nothing: the job cannot be done yet.
      await waitFor(
        async () => {
          const { rows } = await service.db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM batches WHERE kind = 'amplitude-poll-deletions' AND evidence ? 'notBefore'`,
          );
          return rows[0].n > 0 || undefined;
        },
        60_000,
        200,
      );
      expect(amplitudeCalls('listDeletions'), 'no poll call before the job can be done').to.equal(0);

      runJobToCompletion(day);
      for (const id of ids) await service.waitForRequest(id, 60_000);
      const statuses = new Set(
        (await Promise.all(ids.map((id) => service.ledger.requests.getRequest(id)))).map((r) => r!.status),
      );
      expect([...statuses]).to.deep.equal(['completed']);
      expect(amplitudeCalls('createDeletion'), 'still 10: polling shares the job too').to.equal(10);
      expect(amplitudeCalls('listDeletions'), 'one poll for the day, called once the job could be done').to.equal(1);
      // Calls are paced to 1/s; under a loaded machine an odd one can still arrive early, and a 429 costs no attempt.
      const { calls, throttled } = service.sandbox!.stats.snapshot().amplitude.total;
      expect(throttled / calls, `${throttled} of ${calls} calls throttled`).to.be.below(0.1);

      const evidence = (await task(ids[421])).evidence;
      expect(evidence).to.include({
        day,
        status: 'done',
        idKind: 'user_id',
        idsInCall: 100,
        unknownInCall: 0,
        listedInDoneJob: true,
        verification: 'vendor_confirmed',
      });
      expect(evidence.activeScrubDoneDate).to.be.a('string');
      expect(JSON.stringify(evidence), 'no Amplitude ID in the evidence').to.not.include(String(amplitudeIdOf(421)));
      for (const i of [0, 421, 999]) {
        expect(store().user(MAIN, amplitudeIdOf(i)), `user-${i} is erased`).to.equal(undefined);
        expect(store().user(MAIN, neighbourAmplitudeId(i)), `other-${i} is not`).to.not.equal(undefined);
      }
    });
  });

  describe('one request at a time', () => {
    before(async function () {
      this.timeout(120_000);
      service = await startAmplitudeService({ subjects: 500, amplitude: { throttleDelayMs: 400 } });
    });
    after(async () => service?.close());
    beforeEach(() => {
      service.sandbox!.stats.reset();
    });
    afterEach(() => {
      service.sandbox!.faults.clear('amplitude');
    });

    it('records an id Amplitude does not know as not_found, while the others in the same call are erased', async function () {
      this.timeout(30_000);
      const [known, ghost, other] = await Promise.all([
        submit({ userId: 'user-3' }),
        submit({ userId: 'user-9999' }),
        submit({ amplitudeId: String(amplitudeIdOf(4)) }),
      ]);

      await service.waitForRequest(ghost);
      const unknown = await task(ghost);
      expect(unknown.state).to.equal('not_found');
      expect(unknown.evidence).to.include({ idKind: 'user_id', idsInCall: 3, unknownInCall: 1 });
      expect(unknown.evidence.reason).to.match(/unknown/);
      expect((await service.ledger.requests.getRequest(ghost))!.status).to.equal('completed');
      expect(amplitudeCalls('createDeletion'), 'one call for all three').to.equal(1);

      const day = await jobDayOf(known);
      expect(await jobDayOf(other)).to.equal(day);
      expect((await listedJob(day))!.amplitude_ids.map((e) => e.amplitude_id)).to.have.members([
        amplitudeIdOf(3),
        amplitudeIdOf(4),
      ]);
      runJobToCompletion(day);
      await Promise.all([service.waitForRequest(known), service.waitForRequest(other)]);
      expect((await task(known)).state).to.equal('succeeded');
      expect((await task(other)).state).to.equal('succeeded');
      expect((await task(other)).evidence.idKind).to.equal('amplitude_id');
      expect(store().user(MAIN, amplitudeIdOf(3))).to.equal(undefined);
      expect(store().user(MAIN, amplitudeIdOf(4))).to.equal(undefined);
    });

    it('erases exactly the person: user-421 and other-42 stay when user-42 is erased', async function () {
      this.timeout(30_000);
      const id = await submit({ userId: 'user-42' });
      const day = await jobDayOf(id);
      expect((await listedJob(day))!.amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([amplitudeIdOf(42)]);
      runJobToCompletion(day);
      await service.waitForRequest(id);
      expect((await service.ledger.requests.getRequest(id))!.status).to.equal('completed');
      expect(store().user(MAIN, amplitudeIdOf(42))).to.equal(undefined);
      expect(store().user(MAIN, amplitudeIdOf(421)), 'user-421 survives').to.not.equal(undefined);
      expect(store().amplitudeIdOf(MAIN, 'user-421')).to.equal(amplitudeIdOf(421));
      expect(store().user(MAIN, neighbourAmplitudeId(42)), 'other-42 survives').to.not.equal(undefined);
    });

    it('honours a 429 without spending an attempt', async function () {
      this.timeout(30_000);
      // A storm: Amplitude answers 429 (without Retry-After) to everything until the deletion call has been throttled.
      service.sandbox!.faults.set('amplitude', { throttleForMs: 60_000 });
      const id = await submit({ userId: 'user-5' });
      await waitFor(
        async () => (service.sandbox!.stats.snapshot().amplitude?.operations.createDeletion?.throttled ?? 0) >= 1,
      );
      service.sandbox!.faults.set('amplitude', { throttleForMs: 0 });
      const day = await jobDayOf(id);
      const batchId = (await task(id)).evidence.submitBatchId as string;
      const job = await service.queues.queue('amplitude').getJob(`batch__${batchId}`);
      expect(job!.name).to.equal(SUBMIT_DELETIONS);
      await waitFor(async () => (await job!.getState()) === 'completed' || undefined);
      const finished = await service.queues.queue('amplitude').getJob(`batch__${batchId}`);
      // BullMQ counts the successful run in attemptsMade: 1 means the throttled runs cost nothing.
      expect(finished!.attemptsMade, 'a throttled run costs no attempt').to.equal(1);
      expect(finished!.attemptsStarted, 'it did run more than once').to.be.at.least(2);
      expect(
        amplitudeCalls('createDeletion') -
          service.sandbox!.stats.snapshot().amplitude.operations.createDeletion.throttled,
      ).to.equal(1);
      runJobToCompletion(day);
      await service.waitForRequest(id);
      expect((await service.ledger.requests.getRequest(id))!.status).to.equal('completed');
    });

    it('puts the requests of a call that failed for good into a new call, losing none', async function () {
      this.timeout(30_000);
      const worker = service.workers!.workers.find((w) => w.name === 'amplitude')!;
      const attempts = service.config.jobs.attempts;
      service.sandbox!.faults.set('amplitude', { errorRate: 1 });
      let failedBatch: string | undefined;
      const onFailed = (job: Job | undefined) => {
        if (job?.name === SUBMIT_DELETIONS && job.attemptsMade >= attempts) {
          failedBatch = job.data.batchId;
          service.sandbox!.faults.set('amplitude', { errorRate: 0 });
        }
      };
      worker.on('failed', onFailed);
      const ids = await Promise.all([submit({ userId: 'user-6' }), submit({ userId: 'user-7' })]);
      const days = await Promise.all(ids.map(jobDayOf)).finally(() => worker.off('failed', onFailed));
      expect(failedBatch, 'the first call failed for good').to.be.a('string');
      expect(service.sandbox!.stats.snapshot().amplitude.operations.createDeletion).to.deep.include({
        calls: attempts + 1,
        errors: attempts,
      });
      for (const id of ids) {
        const evidence = (await task(id)).evidence;
        expect(evidence.submitBatchId, 'sent in a new batch').to.be.a('string').and.not.equal(failedBatch);
        expect(evidence.idsInCall, 'both in the new call').to.equal(2);
      }
      runJobToCompletion(days[0]);
      await Promise.all(ids.map((id) => service.waitForRequest(id)));
      for (const id of ids) expect((await service.ledger.requests.getRequest(id))!.status).to.equal('completed');
      expect(store().user(MAIN, amplitudeIdOf(6))).to.equal(undefined);
      expect(store().user(MAIN, amplitudeIdOf(7))).to.equal(undefined);
    });

    it('withdraws a cancelled request from a job that is still staging, and says why it cannot once the job is submitted', async function () {
      this.timeout(30_000);
      const [cancelled, kept] = await Promise.all([submit({ userId: 'user-11' }), submit({ userId: 'user-12' })]);
      const day = await jobDayOf(cancelled);
      expect(await jobDayOf(kept)).to.equal(day);
      expect((await listedJob(day))!.amplitude_ids.map((e) => e.amplitude_id)).to.have.members([
        amplitudeIdOf(11),
        amplitudeIdOf(12),
      ]);

      // The withdrawal is a job in Amplitude's queue: held here, so the answer is seen before it can run.
      const amplitudeQueue = service.queues.queue('amplitude');
      await amplitudeQueue.pause();
      const callsBefore = service.sandbox!.stats.snapshot().amplitude.total.calls;
      const res = await service.api(`/v1/requests/${cancelled}/cancel`, {
        body: { reason: 'the person withdrew the request' },
      });
      expect(res.status).to.equal(200);
      expect(service.sandbox!.stats.snapshot().amplitude.total.calls, 'no vendor call inside the cancel').to.equal(
        callsBefore,
      );
      const taskId = (await task(cancelled)).id;
      expect(res.body.cancel.withdrawals).to.deep.equal({ pending: 1, taskIds: [taskId] });
      expect(res.body.cancel.notWithdrawn).to.deep.equal([]);
      expect(res.body.status).to.equal('cancelled');
      expect(
        res.body.tasks.find((t: { id: string }) => t.id === taskId).state,
        'still started: its withdrawal is pending',
      ).to.equal('waiting_vendor');
      await amplitudeQueue.resume();
      const cancelledTask = await waitFor(async () =>
        (await task(cancelled)).state === 'cancelled' ? task(cancelled) : undefined,
      );
      expect(cancelledTask.evidence).to.include({
        day,
        status: 'withdrawn',
        withdrawnFrom: 'staging',
        withdrawnAfterCancel: true,
      });
      const status = await service.api(`/v1/requests/${cancelled}`);
      expect(
        status.body.tasks.find((t: { id: string }) => t.id === taskId).state,
        'the status reports the withdrawal',
      ).to.equal('cancelled');
      const trail = await service.ledger.audit.auditTrail(cancelled);
      expect(trail.filter((e) => e.action === 'task.withdrawal').map((e) => e.detail)).to.deep.equal([
        { taskId, vendor: 'amplitude', withdrawn: true },
      ]);
      expect(
        (await service.ledger.requests.getRequest(cancelled))!.finishedAt,
        'the cancelled request ends with its last started task',
      ).to.not.equal(null);
      expect(
        (await listedJob(day))!.amplitude_ids.map((e) => e.amplitude_id),
        'gone from the Amplitude job',
      ).to.deep.equal([amplitudeIdOf(12)]);
      expect(amplitudeCalls('cancelDeletion')).to.equal(1);

      // A request whose job has locked (three days before its day) can no longer be withdrawn.
      const late = await submit({ userId: 'user-13' });
      const lateDay = await jobDayOf(late);
      expect(lateDay).to.equal(day);
      service.sandbox!.clock.advance(Date.parse(`${day}T00:00:00Z`) - 2 * DAY_MS - service.sandbox!.clock.now());
      expect((await listedJob(day))!.status).to.equal('submitted');
      const refused = await service.api(`/v1/requests/${late}/cancel`, { body: { reason: 'too late' } });
      expect(refused.status).to.equal(200);
      const lateTaskId = (await task(late)).id;
      expect(refused.body.cancel.withdrawals).to.deep.equal({ pending: 1, taskIds: [lateTaskId] });
      const refusal = await waitFor(async () =>
        (await service.ledger.audit.auditTrail(late)).find((e) => e.action === 'task.withdrawal'),
      );
      expect(refusal.detail).to.deep.include({
        taskId: lateTaskId,
        vendor: 'amplitude',
        withdrawn: false,
        reason: `Amplitude job for ${day} is already submitted; it can no longer be withdrawn`,
      });

      runJobToCompletion(day);
      await Promise.all([service.waitForRequest(kept), service.waitForRequest(late)]);
      expect((await service.ledger.requests.getRequest(kept))!.status).to.equal('completed');
      expect((await task(late)).state, 'the submitted job ran to its end').to.equal('succeeded');
      expect((await service.ledger.requests.getRequest(late))!.status).to.equal('cancelled');
      expect((await task(cancelled)).state, 'the withdrawn task is not counted as erased').to.equal('cancelled');
      expect(store().user(MAIN, amplitudeIdOf(11)), 'the withdrawn person keeps their data').to.not.equal(undefined);
      expect(store().user(MAIN, amplitudeIdOf(12))).to.equal(undefined);
      expect(store().user(MAIN, amplitudeIdOf(13))).to.equal(undefined);
    });

    it('leaves a request that is cancelled before its shared call out of the call', async function () {
      this.timeout(30_000);
      const [cancelled, kept] = await Promise.all([submit({ userId: 'user-21' }), submit({ userId: 'user-22' })]);
      await waitFor(async () => (await task(cancelled)).state === 'waiting_vendor' || undefined);
      const res = await service.api(`/v1/requests/${cancelled}/cancel`, { body: { reason: 'changed their mind' } });
      expect(res.body.cancel.withdrawals.pending).to.equal(1);
      await waitFor(async () => ((await task(cancelled)).state === 'cancelled' ? true : undefined));
      expect((await task(cancelled)).evidence.withdrawn).to.equal('before it was sent to Amplitude');
      const day = await jobDayOf(kept);
      expect((await listedJob(day))!.amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([amplitudeIdOf(22)]);
      expect((await task(kept)).evidence.idsInCall).to.equal(1);
    });
  });

  describe('a withdrawal job lost with Redis', () => {
    before(async function () {
      this.timeout(120_000);
      service = await startAmplitudeService();
    });
    after(async () => service?.close());

    it('is re-created by the reconciler from the ledger, once, and the withdrawal then completes', async function () {
      this.timeout(30_000);
      const cancelled = await submit({ userId: 'user-41' });
      await jobDayOf(cancelled);
      const amplitudeQueue = service.queues.queue('amplitude');
      await amplitudeQueue.pause();
      const res = await service.api(`/v1/requests/${cancelled}/cancel`, {
        body: { reason: 'the person withdrew the request' },
      });
      const taskId = (await task(cancelled)).id;
      expect(res.body.cancel.withdrawals).to.deep.equal({ pending: 1, taskIds: [taskId] });
      // Lost as in a Redis wipe (or its add failed after the cancel committed).
      await (await amplitudeQueue.getJob(withdrawalJobId(taskId)))!.remove();
      const deps = {
        ledger: service.ledger,
        queues: service.queues,
        enqueue: createRequestEnqueuer({ ledger: service.ledger, queues: service.queues }),
        logger: service.logger,
      };
      const options = { enqueueGraceMs: 10_000, staleAfterMs: 60_000, identityRetentionDays: 30 };
      expect((await reconcile(deps, options)).withdrawalsRecreated).to.equal(1);
      expect(await amplitudeQueue.getJob(withdrawalJobId(taskId)), 'the job is back').to.not.equal(undefined);
      expect((await reconcile(deps, options)).withdrawalsRecreated, 'a job in Redis is left alone').to.equal(0);
      await amplitudeQueue.resume();
      // The runner records the task's end, then the audit entry: wait for the latter.
      const outcome = await waitFor(async () =>
        (await service.ledger.audit.auditTrail(cancelled)).find((e) => e.action === 'task.withdrawal'),
      );
      expect(outcome.detail).to.include({ taskId, vendor: 'amplitude' });
      expect((await task(cancelled)).state).to.equal('cancelled');
      expect(amplitudeCalls('cancelDeletion'), 'the re-created job withdrew the person at Amplitude').to.equal(1);
      expect((await service.ledger.requests.getRequest(cancelled))!.finishedAt).to.not.equal(null);
      expect((await reconcile(deps, options)).withdrawalsRecreated, 'a recorded withdrawal is not run again').to.equal(
        0,
      );
    });
  });

  describe('manual tasks', () => {
    afterEach(async () => service?.close());

    it('plans a manual task for self-service event deletion, which keeps the request open until an operator completes it', async function () {
      this.timeout(120_000);
      const instructions =
        'In Amplitude, Organization settings → Self Service Data Deletion: delete the events of the erased user ids (see the run book)';
      service = await startAmplitudeService({
        amplitude: { manualTasks: [{ action: 'self-service-event-deletion', instructions }] },
      });
      const id = await submit({ userId: 'user-31' });
      const day = await jobDayOf(id);
      runJobToCompletion(day);
      await waitFor(async () => (await task(id)).state === 'succeeded' || undefined);
      const open = await service.api(`/v1/requests/${id}`);
      expect(open.body.status).to.equal('in_progress');
      const manual = open.body.tasks.find((t: { action: string }) => t.action === 'self-service-event-deletion');
      expect(manual).to.include({ state: 'waiting_manual', waitingReason: instructions });
      const done = await service.api(`/v1/requests/${id}/tasks/${manual.id}/complete`, {
        body: { note: 'Deleted in the Amplitude UI, task 77' },
      });
      expect(done.status).to.equal(200);
      expect(done.body.status).to.equal('completed');
    });
  });
});
