import { UnrecoverableError, type Job } from 'bullmq';
import type { BatchLedger, BatchMember, BatchRecord } from '../ledger/batch-ledger.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Logger } from '../logger.js';
import {
  processorDeps,
  type BatchMemberInput,
  type BatchProcessor,
  type MemberResult,
  type WorkerClients,
} from '../connectors/processor-contract.js';
import type { Subject } from '../privacy/subject.js';
import { SETTLED_TASK_STATES } from '../ledger/ledger-types.js';
import { isOpenTaskState } from '../ledger/task-transitions.js';
import { addBatchJob, type BatchJobData } from './batch-coordinator.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { delayJob, firstLedgerStep, settleFailure, waitIfLedgerDown, type FailureHooks } from './job-outcome.js';
import { eachConcurrently } from './each-concurrently.js';
import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';

/** Members looked at in parallel: waking a 5,000-member Segment batch one by one took seconds. */
const WAKE_CONCURRENCY = 16;

/**
 * How soon a batch that must run alone in its scope (`oneRunPerScope`) looks again while another
 * batch of the scope runs: one ledger read a second, so it starts about as soon as the other ends.
 */
const BUSY_SCOPE_LOOK_AGAIN_MS = 1000;

/**
 * Closes the batch to new members and counts an attempt; undefined when it already ended. A batch
 * that must run alone in its scope (`oneRunPerScope`) while another of the scope runs, in any
 * process, stays open instead and keeps taking members: the answer is when its job looks again.
 */
async function startBatch(
  batches: BatchLedger,
  processor: BatchProcessor,
  batchId: string,
): Promise<BatchRecord | Date | undefined> {
  if (!processor.oneRunPerScope) return batches.start(batchId);
  const started = await batches.startAlone(batchId, BUSY_SCOPE_LOOK_AGAIN_MS);
  return started && ('busyUntil' in started ? started.busyUntil : started.batch);
}

/**
 * The tasks among `taskIds` still open, in their order: the only members a wake may hand work to.
 * A member whose task ended meanwhile (withdrawn by a cancel) has no work left for its job.
 */
export async function openMembers(ledger: Pick<Ledger, 'tasks'>, taskIds: string[]): Promise<string[]> {
  const states = await ledger.tasks.taskStates(taskIds);
  return taskIds.filter((taskId) => isOpenTaskState(states.get(taskId)));
}

export interface BatchRunnerDeps {
  ledger: Ledger;
  batches: BatchLedger;
  queues: QueueSet;
  processors: Readonly<Partial<Record<string, BatchProcessor>>>;
  /** The worker's vendor clients; a processor gets its own vendor's only. */
  clients: WorkerClients;
  logger: Logger;
  /** The vendors' circuit breakers; without it a configuration fault fails the batch. */
  breaker?: VendorBreaker;
}

/**
 * Hands the batch's end on to its members: each open member's job that is parked (delayed) is
 * promoted, once, so it carries on at once. No member is waited for: one still active, about to
 * park itself, looks at its batch again once parked and promotes itself when the batch has ended
 * (src/workers/batch-hand-off.ts). Only open members are woken (`openMembers`).
 */
async function wakeMembers(deps: BatchRunnerDeps, queueName: string, taskIds: string[]): Promise<void> {
  const queue = deps.queues.queue(queueName);
  await eachConcurrently(await openMembers(deps.ledger, taskIds), WAKE_CONCURRENCY, async (taskId) => {
    const member = await queue.getJob(taskId);
    if (member && (await member.isDelayed())) await member.promote().catch(() => undefined);
  });
}

/**
 * A rolling key rotation: members sealed with a key this process does not hold are set aside
 * (they join a new batch when their task runs again) and woken; the others go on without them.
 */
async function openSubjects(
  deps: BatchRunnerDeps,
  job: Job<BatchJobData>,
  unsettled: BatchMember[],
  log: Logger,
): Promise<{ members: BatchMemberInput[]; setAside: string[] }> {
  const { batchId } = job.data;
  const { subjects, unreadable } = await deps.ledger.vault.loadReadableSubjects(unsettled.map((m) => m.requestId));
  const setAside = await deps.batches.setAside(
    batchId,
    unsettled.filter((m) => unreadable.has(m.requestId)).map((m) => m.taskId),
  );
  if (setAside.length > 0) {
    log.warn('members sealed with a key this process does not hold were set aside (key_not_loaded)', {
      setAside: setAside.length,
      keyIds: [...new Set(unreadable.values())],
    });
    await wakeMembers(deps, job.queueName, setAside);
  }
  const members = unsettled
    .filter((m) => !setAside.includes(m.taskId))
    .map((m) => ({ taskId: m.taskId, requestId: m.requestId, subject: subjectOf(subjects, m.requestId) }));
  return { members, setAside };
}

/** What the ledger records when a batch run ends without finishing (the error taxonomy in job-outcome.ts). */
function failureHooks(deps: BatchRunnerDeps, job: Job<BatchJobData>, batch: BatchRecord): FailureHooks {
  const batchId = batch.id;
  return {
    paused: async (reason) => {
      await deps.batches.checkpoint(batchId, { lastError: reason });
      await deps.ledger.tasks.deferVendorTasks(batch.vendor, reason);
    },
    rateLimited: () => Promise.resolve(),
    willRetry: (reason) => deps.batches.checkpoint(batchId, { lastError: reason }),
    failed: async (reason) => {
      // Every member, those that joined during this run included, joins a new batch.
      await wakeMembers(deps, job.queueName, await deps.batches.fail(batchId, reason));
    },
  };
}

/**
 * The batch's members, and those among them whose task has not settled. A member whose task has
 * settled (e.g. its request was cancelled and the task withdrawn) takes no part: it must not be
 * sent to the vendor, nor counted.
 */
async function unsettledMembers(
  deps: BatchRunnerDeps,
  batchId: string,
): Promise<{ joined: BatchMember[]; unsettled: BatchMember[] }> {
  const joined = await deps.batches.members(batchId);
  const states = await deps.ledger.tasks.taskStates(joined.map((m) => m.taskId));
  const unsettled = joined.filter((m) => {
    const state = states.get(m.taskId);
    return state === undefined || !SETTLED_TASK_STATES.includes(state);
  });
  return { joined, unsettled };
}

/**
 * Members whose request was cancelled before the batch first ran are sent to no vendor: they
 * leave the batch, and their task ends `cancelled` through the guarded `withdraw` transition
 * (src/ledger/task-transitions.ts), as nothing was done for them at the vendor. Their withdrawal
 * job (src/operations/withdrawal-job.ts) then finds the task ended and calls no vendor either. A
 * batch that ran before (its evidence says so) may already have sent them: it runs as it is.
 */
async function withholdCancelled(
  deps: BatchRunnerDeps,
  batch: BatchRecord,
  members: { joined: BatchMember[]; unsettled: BatchMember[] },
  log: Logger,
): Promise<{ joined: BatchMember[]; unsettled: BatchMember[]; withheld: string[] }> {
  if (Object.keys(batch.evidence).length > 0) return { ...members, withheld: [] };
  const cancelled = await deps.batches.membersOfCancelledRequests(batch.id);
  const withheld = await deps.batches.setAside(
    batch.id,
    members.unsettled.filter((m) => cancelled.has(m.taskId)).map((m) => m.taskId),
  );
  if (withheld.length === 0) return { ...members, withheld };
  // The words a connector's own withdrawal uses (e.g. src/connectors/amplitude-connector.ts).
  const vendorLabel = batch.vendor.charAt(0).toUpperCase() + batch.vendor.slice(1);
  for (const member of members.unsettled.filter((m) => withheld.includes(m.taskId))) {
    await deps.ledger.tasks.cancelStartedTask(member.taskId, {
      withdrawn: `before it was sent to ${vendorLabel}`,
      withdrawnAfterCancel: true,
      notSentToVendor: true,
      batchId: batch.id,
    });
    await deps.ledger.requests.settleRequest(member.requestId);
  }
  log.info('members whose request was cancelled before the batch ran were withheld from the vendor call', {
    withheld: withheld.length,
  });
  const kept = (m: BatchMember) => !withheld.includes(m.taskId);
  return { joined: members.joined.filter(kept), unsettled: members.unsettled.filter(kept), withheld };
}

/**
 * Ends the batch with its members' results (the first run to finish wins), carries members that
 * joined during the run into a batch of their own, due now, and hands the others on.
 */
async function finish(
  deps: BatchRunnerDeps,
  job: Job<BatchJobData>,
  end: { evidence: Record<string, unknown>; results: Map<string, MemberResult>; ranWith: string[]; woken: string[] },
  log: Logger,
): Promise<{ outcome: string; members: number }> {
  const { completed, carriedTo } = await deps.batches.complete(
    job.data.batchId,
    end.evidence,
    end.results,
    end.ranWith,
  );
  if (!completed) {
    log.warn('batch had already ended (it ran twice); this run’s results are discarded');
    return { outcome: 'already_ended', members: 0 };
  }
  if (carriedTo) {
    await addBatchJob(deps.queues.queue(job.queueName), carriedTo);
    log.info('members that joined during the run carried into a new batch', {
      carriedTo: carriedTo.id,
      members: carriedTo.memberCount,
    });
  }
  await wakeMembers(deps, job.queueName, end.woken);
  log.info('batch done', { members: end.woken.length });
  return { outcome: 'done', members: end.woken.length };
}

/**
 * Runs one shared batch job: closes the batch to new members, opens the members' identifiers,
 * calls the batch processor once for all of them, writes each member's result, and wakes the
 * members' task jobs so they carry on at once. A batch waiting for the vendor reopens to new
 * members when its processor says nothing so far is particular to its members; members that
 * joined during its last run are carried into a new batch. A batch that fails for good detaches
 * its members, which then join a new batch: no request in a failed batch is lost.
 */
export function createBatchRunner(deps: BatchRunnerDeps) {
  const { batches, ledger } = deps;
  return async (
    job: Job<BatchJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<{ outcome: string; members: number }> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ batchId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = deps.processors[job.name];
    if (!processor) throw new UnrecoverableError(`no batch processor for job ${job.name}`);
    // A ledger outage is not the vendor's fault: wait it out without spending an attempt.
    const outage = { job, token, log, ping: () => ledger.ping() };
    const batch = await firstLedgerStep(outage, () => startBatch(batches, processor, batchId));
    // Ended already, or (a Date) another batch of its scope runs and this one looks again then.
    if (!batch || batch instanceof Date)
      return batch
        ? await delayJob(job, token, batch.getTime() - Date.now())
        : { outcome: 'already_ended', members: 0 };
    const { joined, unsettled, withheld } = await withholdCancelled(
      deps,
      batch,
      await unsettledMembers(deps, batchId),
      log,
    );
    try {
      const { members, setAside } = await openSubjects(deps, job, unsettled, log);
      if (setAside.length + withheld.length > 0 && members.length === 0) {
        // Nobody left to work for: no vendor call. Members that joined meanwhile are carried on.
        const { carriedTo } = await batches.complete(
          batchId,
          { setAside: setAside.length, withheld: withheld.length },
          new Map(),
          [],
        );
        if (carriedTo) await addBatchJob(deps.queues.queue(job.queueName), carriedTo);
        return { outcome: 'set_aside', members: 0 };
      }
      const result = await processor(
        {
          batchId,
          scope: batch.scope,
          members,
          attempt: job.attemptsMade + 1,
          previous: batch.evidence,
          checkpoint: (evidence) => batches.checkpoint(batchId, evidence),
          rememberIdentifier: (requestId, kind, value) => ledger.vault.addIdentifier(requestId, kind, value),
          signal,
        },
        processorDeps(deps.clients, batch.vendor),
      );
      if (result.outcome === 'waiting_vendor') {
        if (result.openToLateMembers)
          await batches.reopen(batchId, result.evidence, new Date(Date.now() + result.pollAfterMs));
        else await batches.checkpoint(batchId, result.evidence);
        log.info('batch waiting for the vendor', { pollAfterMs: result.pollAfterMs, members: members.length });
        return await delayJob(job, token, result.pollAfterMs);
      }
      await deps.breaker?.recordSuccess(batch.vendor).catch(() => undefined);
      const ranWith = joined.map((m) => m.taskId).filter((id) => !setAside.includes(id));
      return await finish(
        deps,
        job,
        { evidence: result.evidence, results: result.members, ranWith, woken: members.map((m) => m.taskId) },
        log,
      );
    } catch (err) {
      await waitIfLedgerDown(err, outage);
      const stopped = await settleFailure(err, {
        job,
        token,
        vendor: batch.vendor,
        log,
        breaker: deps.breaker,
        hooks: failureHooks(deps, job, batch),
      });
      return { ...stopped, members: 0 };
    }
  };
}

/** A member's opened identifiers; `loadReadableSubjects` returns one for every member it did not set aside. */
function subjectOf(subjects: Map<string, Subject>, requestId: string): Subject {
  const subject = subjects.get(requestId);
  if (!subject) throw new Error('a batch member’s identifiers were not opened');
  return subject;
}
