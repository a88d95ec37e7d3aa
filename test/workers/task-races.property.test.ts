import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { openDatabase, type Database } from '../../src/ledger/database.js';
import { migrate } from '../../src/ledger/migrations.js';
import { type Ledger, createLedger } from '../../src/ledger/ledger.js';
import { outcomeOf } from '../../src/ledger/requests-ledger.js';
import { createIdentityCipher } from '../../src/privacy/identity-cipher.js';
import {
  FINAL_REQUEST_STATUSES,
  SETTLED_TASK_STATES,
  TERMINAL_TASK_STATES,
  type RequestStatus,
  type StatusChange,
  type TaskSpec,
} from '../../src/ledger/ledger-types.js';
import { createTaskRunner } from '../../src/workers/task-runner.js';
import { openMembers } from '../../src/workers/batch-runner.js';
import type { BatchCoordinator } from '../../src/workers/batch-coordinator.js';
import type { TaskJobData } from '../../src/planner/build-flow.js';
import type { TaskProcessor, TaskResult } from '../../src/connectors/processor-contract.js';
import { PermanentVendorError, RateLimitedError, TransientVendorError } from '../../src/vendors/vendor-errors.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { InMemoryLedger } from '../support/in-memory-ledger.js';

/**
 * Issue 18: random interleavings of what touches a task — a job's begin and its defer, finish or
 * failure, a cancel and its withdrawals, an operator's retry, the reconciler, a shared batch's
 * wake, a stalled job delivered twice — through the real task runner, against the real ledger
 * (PGlite: its guarded SQL) and, for many more interleavings than PGlite runs in a minute, against
 * an in-memory model of the ledger whose guards read the same tables (test/support/in-memory-ledger.ts).
 * Jobs are modelled in memory (what BullMQ would do with each run's end: delay, retry, fail,
 * complete). Three properties:
 * 1. a cancelled or settled task is never revived (nor a cancelled request);
 * 2. every task reaches a final state once the jobs, the reconciler and the operators are done;
 * 3. every request settles exactly once (once more after each reopening: a retry).
 */

const ENDINGS = [
  'waiting_vendor',
  'succeeded',
  'not_found',
  'skipped',
  'throttled',
  'transient',
  'permanent',
  'checkpoint',
] as const;
type Ending = (typeof ENDINGS)[number];
const STEPS = [
  'deliver',
  'deliver',
  'end',
  'end',
  'redeliver',
  'cancel',
  'withdraw',
  'retry',
  'reconcile',
  'wake',
  'failedHandler',
  'completeManual',
] as const;
type StepKind = (typeof STEPS)[number];
interface Step {
  kind: StepKind;
  pick: number;
  ending: Ending;
  withdrawable: boolean;
}
interface Shape {
  requests: Array<Array<'queued' | 'waiting_manual' | 'skipped'>>;
}

const ATTEMPTS = 3;
/** Interleavings per world: together over 1,000 in well under a minute on CI's machine. */
const REAL_RUNS = 300;
const MODEL_RUNS = 1000;
/** More rounds than any run needs to drain: each round ends every run and job there is. */
const MAX_DRAIN_ROUNDS = 12;

/** A ledger to run interleavings against, and a look at the states of some requests and their tasks. */
interface World {
  ledger: Ledger;
  states(requestIds: string[]): Promise<Map<string, string>>;
}

interface Run {
  taskId: string;
  release: (ending: Ending) => void;
  ended: Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }>;
}

describe('Task and request state machines under random interleavings (property)', function () {
  this.timeout(120_000);
  let db: Database;
  let pglite: World;
  let model: World;
  let logger: Logger;
  /** Status changes per request, in commit order (the runs are sequential: one step at a time). */
  const changes = new Map<string, Array<{ from: RequestStatus; to: RequestStatus }>>();
  /** The gate of the run about to start, for the processor to pick up. */
  let nextGate: { entered: () => void; ending: Promise<Ending> } | undefined;

  const processor: TaskProcessor = async (input) => {
    const gate = nextGate!;
    nextGate = undefined;
    gate.entered();
    const ending = await gate.ending;
    switch (ending) {
      case 'waiting_vendor':
        return {
          outcome: 'waiting_vendor',
          evidence: { polled: true },
          pollAfterMs: 1000,
          reason: 'the vendor is working',
        };
      case 'throttled':
        throw new RateLimitedError({ vendor: 'pinpoint', operation: 'race', status: 429 }, 1000);
      case 'transient':
        throw new TransientVendorError({ vendor: 'pinpoint', operation: 'race', status: 503 });
      case 'permanent':
        throw new PermanentVendorError({ vendor: 'pinpoint', operation: 'race', status: 400 });
      case 'checkpoint':
        await input.checkpoint({ intent: 'delete' });
        return { outcome: 'succeeded', evidence: { deleted: 1 } } satisfies TaskResult;
      default:
        return { outcome: ending, evidence: { ending } };
    }
  };

  const record = (change: StatusChange) => {
    const list = changes.get(change.request.id) ?? [];
    list.push({ from: change.from, to: change.to });
    changes.set(change.request.id, list);
  };

  before(async () => {
    logger = createLogger({ logLevel: 'error' }, { silentConsole: true });
    db = await openDatabase({ pgliteDir: 'memory://' });
    await migrate(db);
    const ledger = createLedger(db, createIdentityCipher(randomBytes(32)), { publish: record });
    pglite = {
      ledger,
      async states(requestIds) {
        const { rows } = await db.query<{ id: string; state: string }>(
          `SELECT id::text AS id, status AS state FROM requests WHERE id = ANY($1::uuid[]) UNION ALL SELECT id, state FROM tasks WHERE request_id = ANY($1::uuid[])`,
          [requestIds],
        );
        return new Map(rows.map((r) => [r.id, r.state]));
      },
    };
    const inMemory = new InMemoryLedger();
    inMemory.onStatusChange(record);
    model = {
      ledger: inMemory.asLedger(),
      async states(requestIds) {
        const states = new Map<string, string>();
        for (const id of requestIds) {
          states.set(id, (await inMemory.getRequest(id))!.status);
          for (const t of await inMemory.getTasks(id)) states.set(t.id, t.state);
        }
        return states;
      },
    };
  });
  after(async () => db?.close());

  /** One interleaving: a world of requests, the steps in order, then every job, withdrawal and operator done. */
  async function interleave(world: World, shape: Shape, steps: Step[]): Promise<void> {
    const { ledger } = world;
    const runner = createTaskRunner({
      ledger,
      batches: {} as BatchCoordinator, // the processor never joins a batch
      processors: { race: processor },
      clients: {},
      logger,
    });
    const requestIds: string[] = [];
    const tasks: Array<{ id: string; requestId: string }> = [];
    for (const states of shape.requests) {
      const id = randomUUID();
      const specs: TaskSpec[] = states.map((initialState, n) => ({
        id: `${id}__pinpoint__t${n}`,
        vendor: 'pinpoint',
        resource: `app/a${n}`,
        action: 'race',
        queue: 'pinpoint',
        jobName: 'race',
        initialState,
        ...(initialState === 'queued' ? {} : { waitingReason: 'set up so' }),
      }));
      await ledger.requests.createRequest({
        id,
        regulation: 'gdpr',
        vendors: ['pinpoint'],
        subject: { userId: 'user-1' },
        submittedAt: new Date(),
        dueAt: new Date(Date.now() + 86_400_000),
        tasks: specs,
        actor: 'test',
      });
      await ledger.requests.markEnqueued(id);
      await ledger.requests.settleRequest(id);
      requestIds.push(id);
      tasks.push(...specs.map((t) => ({ id: t.id, requestId: id })));
    }

    // The jobs, as BullMQ would hold them: deliveries due (waiting, delayed), runs in progress,
    // jobs failed (for the failed handler and the reconciler), attempts made per job.
    const pending: string[] = tasks.filter((_, i) => shape.requests.flat()[i] === 'queued').map((t) => t.id);
    const active: Run[] = [];
    const failedJobs = new Set<string>();
    const failedEvents: string[] = [];
    const attemptsMade = new Map<string, number>();
    const withdrawals: string[] = [];
    const requestOf = new Map(tasks.map((t) => [t.id, t.requestId]));

    const fakeJob = (taskId: string): Job<TaskJobData> =>
      ({
        id: taskId,
        name: 'race',
        queueName: 'pinpoint',
        data: { requestId: requestOf.get(taskId)!, taskId },
        attemptsMade: attemptsMade.get(taskId) ?? 0,
        opts: { attempts: ATTEMPTS },
        moveToDelayed: async () => undefined,
      }) as unknown as Job<TaskJobData>;

    /** What BullMQ does with a run's end. A job runs again only for a task still open (the runner stops on a lost write). */
    async function jobEnded(taskId: string, end: Awaited<Run['ended']>): Promise<void> {
      if (end.ok) return; // completed: never run again
      const attempts = (attemptsMade.get(taskId) ?? 0) + (end.error instanceof DelayedError ? 0 : 1);
      attemptsMade.set(taskId, attempts);
      if (!(end.error instanceof DelayedError) && (end.error instanceof UnrecoverableError || attempts >= ATTEMPTS)) {
        failedJobs.add(taskId);
        failedEvents.push(taskId);
        return;
      }
      const state = (await ledger.tasks.taskStates([taskId])).get(taskId);
      expect(TERMINAL_TASK_STATES, `the job of a ${state} task was put back to run again`).to.not.include(state);
      pending.push(taskId);
    }

    /** Delivers a job: the runner begins its task; returns once the processor is in, or the run has ended. */
    async function deliver(index: number): Promise<void> {
      if (pending.length === 0) return;
      const [taskId] = pending.splice(index % pending.length, 1) as [string];
      failedJobs.delete(taskId);
      let entered!: () => void;
      let release!: (ending: Ending) => void;
      const inside = new Promise<'entered'>(
        (resolve) =>
          (entered = () => {
            resolve('entered');
          }),
      );
      nextGate = { entered, ending: new Promise<Ending>((resolve) => (release = resolve)) };
      const ended: Run['ended'] = runner(fakeJob(taskId)).then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
      if ((await Promise.race([inside, ended])) === 'entered') active.push({ taskId, release, ended });
      else {
        nextGate = undefined;
        await jobEnded(taskId, await ended);
      }
    }

    async function end(index: number, ending: Ending): Promise<void> {
      if (active.length === 0) return;
      const [run] = active.splice(index % active.length, 1) as [Run];
      run.release(ending);
      await jobEnded(run.taskId, await run.ended);
    }

    /** The worker's `failed` handler (src/workers/start-workers.ts). */
    async function failedHandler(index: number): Promise<void> {
      if (failedEvents.length === 0) return;
      const [taskId] = failedEvents.splice(index % failedEvents.length, 1) as [string];
      const task = await ledger.tasks.getTask(taskId);
      if (task && task.state !== 'failed' && (await ledger.tasks.failTask(taskId, 'job ended')).applied)
        await ledger.requests.settleRequest(task.requestId);
    }

    /** The cancel operation (src/operations/cancel-request.ts): the withdrawals are steps of their own, as vendor calls take time. */
    async function cancel(index: number): Promise<void> {
      const result = await ledger.requests.cancelRequest(
        requestIds[index % requestIds.length],
        'operator:test',
        'withdrawn',
      );
      if (result) withdrawals.push(...result.started.map((t) => t.id));
    }

    async function withdraw(index: number, withdrawable: boolean): Promise<void> {
      if (withdrawals.length === 0) return;
      const [taskId] = withdrawals.splice(index % withdrawals.length, 1) as [string];
      if (withdrawable) await ledger.tasks.cancelStartedTask(taskId, { withdrawnAfterCancel: true });
      else await ledger.tasks.checkpointTask(taskId, { reason: 'the vendor no longer allows withdrawing it' });
      await ledger.requests.settleRequest(requestOf.get(taskId)!);
    }

    /** On-call's retry (src/operations/retry-tasks.ts): the failed jobs run again. */
    async function retry(index: number): Promise<void> {
      for (const task of await ledger.tasks.reopenFailedTasks(
        requestIds[index % requestIds.length],
        'operator:test',
        'try again',
      )) {
        attemptsMade.set(task.id, 0);
        failedJobs.delete(task.id);
        pending.push(task.id);
      }
    }

    const hasJob = (taskId: string) =>
      pending.includes(taskId) || active.some((r) => r.taskId === taskId) || failedJobs.has(taskId);

    /** The reconciler's sweep (src/workers/reconciler.ts), every task stale. */
    async function reconcile(): Promise<void> {
      const states = await ledger.tasks.taskStates(tasks.map((t) => t.id));
      for (const { id: taskId, requestId } of tasks) {
        const state = states.get(taskId);
        if (!state || TERMINAL_TASK_STATES.includes(state) || state === 'waiting_manual') continue;
        if (failedJobs.has(taskId)) {
          if ((await ledger.tasks.failTask(taskId, 'job failed')).applied)
            await ledger.requests.settleRequest(requestId);
        } else if (!hasJob(taskId)) pending.push(taskId); // a lost job is re-created
      }
      for (const requestId of await ledger.queries.unsettledRequests(500))
        if (requestIds.includes(requestId)) await ledger.requests.settleRequest(requestId);
    }

    /** A shared batch ends and wakes its members (src/workers/batch-runner.ts): their delayed jobs run now. */
    async function wake(index: number): Promise<void> {
      const members = tasks.filter((t) => t.requestId === requestIds[index % requestIds.length]).map((t) => t.id);
      for (const taskId of await openMembers(ledger, members)) {
        const at = pending.indexOf(taskId);
        if (at >= 0) await deliver(at);
      }
    }

    async function completeManual(index: number): Promise<void> {
      const { id, requestId } = tasks[index % tasks.length];
      if (await ledger.tasks.completeManualTask(requestId, id, 'operator:test', 'done by hand'))
        await ledger.requests.settleRequest(requestId);
    }

    // Property 1, after every step: nothing left a settled state, no cancelled request was reopened.
    let seen = new Map<string, string>();
    async function look(after: string): Promise<void> {
      const now = await world.states(requestIds);
      for (const [id, before] of seen) {
        // SETTLED_TASK_STATES has `cancelled`, a request's status too.
        if ((SETTLED_TASK_STATES as readonly string[]).includes(before))
          expect(now.get(id), `${id} was ${before}, then ${after}`).to.equal(before);
      }
      seen = now;
    }

    await look('setup');
    for (const step of steps) {
      switch (step.kind) {
        case 'deliver':
          await deliver(step.pick);
          break;
        case 'end':
          await end(step.pick, step.ending);
          break;
        case 'redeliver': // a stalled job is delivered again while its first run goes on
          if (active.length) pending.push(active[step.pick % active.length].taskId);
          break;
        case 'cancel':
          await cancel(step.pick);
          break;
        case 'withdraw':
          await withdraw(step.pick, step.withdrawable);
          break;
        case 'retry':
          await retry(step.pick);
          break;
        case 'reconcile':
          await reconcile();
          break;
        case 'wake':
          await wake(step.pick);
          break;
        case 'failedHandler':
          await failedHandler(step.pick);
          break;
        case 'completeManual':
          await completeManual(step.pick);
          break;
      }
      await look(step.kind);
    }

    // Everything still in flight runs to its end: runs succeed, jobs run, handlers fire, operators act.
    for (let round = 0; round < MAX_DRAIN_ROUNDS; round++) {
      while (active.length) await end(0, 'succeeded');
      while (withdrawals.length) await withdraw(0, true);
      while (failedEvents.length) await failedHandler(0);
      while (pending.length) {
        await deliver(0);
        while (active.length) await end(0, 'succeeded');
      }
      for (let i = 0; i < tasks.length; i++) await completeManual(i);
      await reconcile();
      await look('drain');
      if (pending.length === 0 && active.length === 0 && failedEvents.length === 0 && withdrawals.length === 0) break;
    }

    // Property 2: every task has ended, every request is final.
    for (const requestId of requestIds) {
      const request = (await ledger.requests.getRequest(requestId))!;
      const states = (await ledger.tasks.getTasks(requestId)).map((t) => t.state);
      for (const state of states)
        expect(TERMINAL_TASK_STATES, `a task of ${requestId} left ${state}`).to.include(state);
      expect(FINAL_REQUEST_STATUSES, `request left ${request.status}`).to.include(request.status);
      if (request.status !== 'cancelled') expect(request.status).to.equal(outcomeOf(states));

      // Property 3: settled once, and once more after each reopening; never from one outcome to another.
      const history = changes.get(requestId) ?? [];
      const isFinal = (s: RequestStatus) => FINAL_REQUEST_STATUSES.includes(s);
      const settlements = history.filter((c) => !isFinal(c.from) && isFinal(c.to)).length;
      const reopenings = history.filter((c) => isFinal(c.from) && !isFinal(c.to)).length;
      expect(
        history.filter((c) => isFinal(c.from) && isFinal(c.to)),
        'moved from one outcome to another',
      ).to.deep.equal([]);
      expect(
        history.filter((c) => c.from === 'cancelled'),
        'a cancelled request was reopened',
      ).to.deep.equal([]);
      expect(settlements, `settlements of ${JSON.stringify(history)}`).to.equal(reopenings + 1);
    }
  }

  const step: fc.Arbitrary<Step> = fc.record({
    kind: fc.constantFrom(...STEPS),
    pick: fc.nat({ max: 7 }),
    ending: fc.constantFrom(...ENDINGS),
    withdrawable: fc.boolean(),
  });
  const shape: fc.Arbitrary<Shape> = fc.record({
    requests: fc.array(
      fc.array(
        fc.constantFrom<'queued' | 'waiting_manual' | 'skipped'>(
          'queued',
          'queued',
          'queued',
          'waiting_manual',
          'skipped',
        ),
        { minLength: 1, maxLength: 3 },
      ),
      { minLength: 1, maxLength: 2 },
    ),
  });

  const interleavings = (world: () => World) =>
    fc.asyncProperty(shape, fc.array(step, { maxLength: 24 }), (s, steps) => interleave(world(), s, steps));

  it(`on the real ledger's SQL (PGlite), ${REAL_RUNS} interleavings: never revives a cancelled or settled task, ends every task, settles every request exactly once`, async () => {
    await fc.assert(
      interleavings(() => pglite),
      { numRuns: REAL_RUNS },
    );
  });

  it(`on the in-memory model of the ledger (same transition tables), ${MODEL_RUNS} interleavings: the same three properties`, async () => {
    await fc.assert(
      interleavings(() => model),
      { numRuns: MODEL_RUNS },
    );
  });
});
