import { UnrecoverableError, type Job } from 'bullmq';
import type { BatchLedger } from '../ledger/batch-ledger.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import { processorDeps, type BatchProcessor, type WorkerClients } from '../connectors/processor-contract.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { SETTLED_TASK_STATES } from '../ledger/ledger-types.js';
import { isOpenTaskState } from '../ledger/task-transitions.js';
import { addBatchJob, type BatchJobData } from './batch-coordinator.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import { delayJob, firstLedgerStep, settleFailure, waitIfLedgerDown } from './job-outcome.js';
import { eachConcurrently } from './each-concurrently.js';
import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';

/**
 * How long the wake keeps looking at members still active when their batch ended. Members wait
 * for the wake, not on a timer, so it must reach one that is just parking itself. One still active
 * after this (its run held up, e.g. by a ledger outage) sleeps until its fallback poll
 * (`memberFallbackPollMs`, src/connectors/processor-contract.ts).
 */
const WAKE_WITHIN_MS = 30_000;
/** Members looked at in parallel: waking a 5,000-member Segment batch one by one took seconds. */
const WAKE_CONCURRENCY = 16;

/**
 * The tasks among `taskIds` still open, in their order: the only members a wake may hand work to.
 * A member whose task ended meanwhile (withdrawn by a cancel) has no work left for its job.
 */
export async function openMembers(ledger: Pick<RequestLedger, 'taskStates'>, taskIds: string[]): Promise<string[]> {
  const states = await ledger.taskStates(taskIds);
  return taskIds.filter((taskId) => isOpenTaskState(states.get(taskId)));
}

export interface BatchRunnerDeps {
  ledger: RequestLedger;
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
 * Runs one shared batch job: closes the batch to new members, opens the members' identifiers,
 * calls the batch processor once for all of them, writes each member's result, and wakes the
 * members' task jobs so they carry on at once. A batch waiting for the vendor reopens to new
 * members when its processor says nothing so far is particular to its members; members that
 * joined during its last run are carried into a new batch. A batch that fails for good detaches
 * its members, which then join a new batch: no request in a failed batch is lost.
 */
export function createBatchRunner(deps: BatchRunnerDeps) {
  const { batches, ledger } = deps;

  /**
   * Promotes each member's delayed job so it carries on at once. A member that joined just before
   * the batch ran may still be active, about to park itself as delayed: it is looked at again until
   * it is not (up to WAKE_WITHIN_MS), as members sleep until this wake. Only open members are
   * woken (`openMembers`).
   */
  async function wakeMembers(queueName: string, taskIds: string[]): Promise<void> {
    const queue = deps.queues.queue(queueName);
    const giveUpAt = Date.now() + WAKE_WITHIN_MS;
    let pending = await openMembers(ledger, taskIds);
    for (let round = 0; pending.length > 0; round++) {
      if (round > 0) {
        if (Date.now() >= giveUpAt) return;
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 100 * round)));
      }
      const active: string[] = [];
      await eachConcurrently(pending, WAKE_CONCURRENCY, async (taskId) => {
        const state = await queue.getJobState(taskId);
        if (state === 'delayed') await (await queue.getJob(taskId))?.promote().catch(() => undefined);
        else if (state === 'active') active.push(taskId);
      });
      pending = active;
    }
  }

  return async (job: Job<BatchJobData>, token?: string, signal?: AbortSignal): Promise<{ outcome: string; members: number }> => {
    const { batchId } = job.data;
    const log = deps.logger.child({ batchId, jobId: job.id, queue: job.queueName, job: job.name });
    const processor = deps.processors[job.name];
    if (!processor) throw new UnrecoverableError(`no batch processor for job ${job.name}`);
    // A ledger outage is not the vendor's fault: wait it out without spending an attempt.
    const outage = { job, token, log, ping: () => ledger.ping() };
    const batch = await firstLedgerStep(outage, () => batches.start(batchId));
    if (!batch) return { outcome: 'already_ended', members: 0 };
    // A member whose task has already settled (e.g. its request was cancelled and the task withdrawn)
    // takes no part: it must not be sent to the vendor, nor counted.
    const joined = await batches.members(batchId);
    const states = await ledger.taskStates(joined.map((m) => m.taskId));
    const unsettled = joined.filter((m) => !SETTLED_TASK_STATES.includes(states.get(m.taskId)!));
    try {
      // A rolling key rotation: members sealed with a key this process does not hold are set aside
      // (they join a new batch when their task runs again), and the others go on without them.
      const { subjects, unreadable } = await ledger.loadReadableSubjects(unsettled.map((m) => m.requestId));
      const setAside = await batches.setAside(batchId, unsettled.filter((m) => unreadable.has(m.requestId)).map((m) => m.taskId));
      const members = unsettled.filter((m) => !setAside.includes(m.taskId));
      if (setAside.length > 0) {
        log.warn('members sealed with a key this process does not hold were set aside (key_not_loaded)', { setAside: setAside.length, keyIds: [...new Set(unreadable.values())] });
        await wakeMembers(job.queueName, setAside);
        if (members.length === 0) {
          // Nobody left to work for: no vendor call. Members that joined meanwhile are carried on.
          const { carriedTo } = await batches.complete(batchId, { setAside: setAside.length }, new Map(), []);
          if (carriedTo) await addBatchJob(deps.queues.queue(job.queueName), carriedTo);
          return { outcome: 'set_aside', members: 0 };
        }
      }
      const withSubjects = members.map((m) => ({ taskId: m.taskId, requestId: m.requestId, subject: subjects.get(m.requestId)! }));
      const result = await processor(
        {
          batchId,
          scope: batch.scope,
          members: withSubjects,
          attempt: job.attemptsMade + 1,
          previous: batch.evidence,
          checkpoint: (evidence) => batches.checkpoint(batchId, evidence),
          rememberIdentifier: (requestId, kind, value) => ledger.addIdentifier(requestId, kind, value),
          signal,
        },
        processorDeps(deps.clients, batch.vendor),
      );
      if (result.outcome === 'waiting_vendor') {
        if (result.openToLateMembers) await batches.reopen(batchId, result.evidence, new Date(Date.now() + result.pollAfterMs));
        else await batches.checkpoint(batchId, result.evidence);
        log.info('batch waiting for the vendor', { pollAfterMs: result.pollAfterMs, members: members.length });
        return await delayJob(job, token, result.pollAfterMs);
      }
      await deps.breaker?.recordSuccess(batch.vendor).catch(() => undefined);
      const { completed, carriedTo } = await batches.complete(batchId, result.evidence, result.members, joined.map((m) => m.taskId).filter((id) => !setAside.includes(id)));
      if (!completed) {
        log.warn('batch had already ended (it ran twice); this run’s results are discarded');
        return { outcome: 'already_ended', members: 0 };
      }
      if (carriedTo) {
        // Members that joined during this run: their own batch, due now.
        await addBatchJob(deps.queues.queue(job.queueName), carriedTo);
        log.info('members that joined during the run carried into a new batch', { carriedTo: carriedTo.id, members: carriedTo.memberCount });
      }
      await wakeMembers(job.queueName, members.map((m) => m.taskId));
      log.info('batch done', { members: members.length });
      return { outcome: 'done', members: members.length };
    } catch (err) {
      await waitIfLedgerDown(err, outage);
      const stopped = await settleFailure(err, {
        job,
        token,
        vendor: batch.vendor,
        log,
        breaker: deps.breaker,
        hooks: {
          paused: async (reason) => {
            await batches.checkpoint(batchId, { lastError: reason });
            await ledger.deferVendorTasks(batch.vendor, reason);
          },
          rateLimited: async () => undefined,
          willRetry: async (reason) => batches.checkpoint(batchId, { lastError: reason }),
          failed: async (reason) => {
            // Every member, those that joined during this run included, joins a new batch.
            await wakeMembers(job.queueName, await batches.fail(batchId, reason));
          },
        },
      });
      return { ...stopped, members: 0 };
    }
  };
}
