import type { TaskSpec } from '../ledger/ledger-types.js';
import { createAmplitudeClient, type AmplitudeClient, type DeletionJob } from '../vendors/amplitude-client.js';
import { amplitudeSettingsKeys, type AmplitudeSettings } from '../vendors/amplitude-settings.js';
import { PermanentVendorError } from '../vendors/vendor-errors.js';
import { amplitudeQueue } from '../../queues/amplitude-queue.js';
import { amplitudeDeleteUser, DELETE_USER } from '../../jobs/amplitude-delete-user.js';
import { submitDeletions, SUBMIT_DELETIONS } from '../../jobs/amplitude-submit-deletions.js';
import { pollDeletions, POLL_DELETIONS } from '../../jobs/amplitude-poll-deletions.js';
import { requireVendorClient } from './processor-contract.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './task-id.js';

/** Manual tasks have no job; the name only fills the task record. */
const MANUAL_JOB = 'manual';
const DAY_MS = 86_400_000;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * Amplitude jobs are mostly per-request bookkeeping (joining a shared batch, no vendor call; three runs per request),
 * so the queue is not held to Amplitude's 1 call/s: the client paces every HTTP call to `requestsPerSecond` (1) and
 * `maxInFlight` (8) (docs/vendors/amplitude.md), and a 429 costs no attempt.
 */
const AMPLITUDE_QUEUE_DEFAULTS = { rateLimit: { max: 1000, durationMs: 1000 }, concurrency: 20, throttleDelayMs: 1000 };

const AMPLITUDE_JOBS: ConnectorJobs<AmplitudeClient> = {
  [DELETE_USER]: { kind: 'task', processor: amplitudeDeleteUser },
  [SUBMIT_DELETIONS]: { kind: 'batch', processor: submitDeletions },
  [POLL_DELETIONS]: { kind: 'batch', processor: pollDeletions },
};

/**
 * Amplitude (User Privacy API v1): one `amplitude-delete-user` task per request when the person
 * has a user id or an Amplitude ID; it shares a deletion call of ≤ 100 ids and then a poll by day
 * with every other request of the window. Plus the manual tasks the config lists (self-service
 * event deletion has no API). A cancel while the person's job is still `staging` withdraws them.
 */
export const amplitudeConnector: VendorConnector<AmplitudeSettings, AmplitudeClient> = {
  vendor: 'amplitude',
  queue: connectorQueue(amplitudeQueue, AMPLITUDE_JOBS),
  jobs: AMPLITUDE_JOBS,
  settingsKeys: amplitudeSettingsKeys,
  queueDefaults: AMPLITUDE_QUEUE_DEFAULTS,
  createClient: (settings, calls, clock, budget) => createAmplitudeClient(settings, calls, clock, budget),
  plan(input, settings) {
    const resource = `project/${settings.project}`;
    const erase: TaskSpec = {
      id: taskId(input.requestId, 'amplitude', DELETE_USER, resource),
      vendor: 'amplitude',
      resource,
      action: DELETE_USER,
      queue: amplitudeQueue.name,
      jobName: DELETE_USER,
    };
    const manual: TaskSpec[] = settings.manualTasks.map((m) => ({
      id: taskId(input.requestId, 'amplitude', m.action, resource),
      vendor: 'amplitude',
      resource,
      action: m.action,
      queue: amplitudeQueue.name,
      jobName: MANUAL_JOB,
      initialState: 'waiting_manual' as const,
      waitingReason: m.instructions,
    }));
    if (input.subject.userId || input.subject.amplitudeId) return [erase, ...manual];
    const reason = 'needs a userId or an amplitudeId: Amplitude deletes people by those only';
    if (input.vendorsExplicit) throw new UnplannableVendorError('amplitude', reason);
    return [{ ...erase, initialState: 'skipped', waitingReason: reason }, ...manual];
  },
  async cancelTask({ task, subject, clients }) {
    const amplitude = requireVendorClient(clients, 'amplitude');
    const day = typeof task.evidence.day === 'string' ? task.evidence.day : undefined;
    const amplitudeId = subject.amplitudeId;
    if (!day && !amplitudeId) {
      // Not sent yet (a user id is sent, and its Amplitude ID learnt, only with the shared call):
      // the shared call leaves out members whose task is cancelled.
      return { withdrawn: true, evidence: { withdrawn: 'before it was sent to Amplitude' } };
    }
    if (!amplitudeId) {
      return {
        withdrawn: false,
        evidence: {
          day,
          reason: `Amplitude did not report this person's Amplitude ID, which withdrawing from the job for ${day} needs`,
        },
      };
    }
    const found = await findJob(amplitude, amplitudeId, day);
    if (!found) {
      if (day) return { withdrawn: false, evidence: { day, reason: `Amplitude lists no deletion job for ${day}` } };
      return { withdrawn: true, evidence: { withdrawn: 'before it was sent to Amplitude' } };
    }
    const { job, holds } = found;
    if (job.status !== 'staging') return notWithdrawable(job);
    if (holds === false)
      return {
        withdrawn: true,
        evidence: {
          day: job.day,
          status: 'withdrawn',
          withdrawnFrom: 'staging',
          note: 'the job no longer held this person',
        },
      };
    try {
      await amplitude.cancelDeletion(amplitudeId, job.day);
    } catch (err) {
      // The job may have locked since we looked: say what it is now.
      if (!(err instanceof PermanentVendorError) || err.details.status !== 400) throw err;
      const now = await findJob(amplitude, amplitudeId, job.day);
      if (now && now.job.status !== 'staging') return notWithdrawable(now.job);
      throw err;
    }
    return {
      withdrawn: true,
      evidence: { day: job.day, status: 'withdrawn', withdrawnFrom: 'staging', withdrawnAt: new Date().toISOString() },
    };
  },
};

function notWithdrawable(job: DeletionJob) {
  return {
    withdrawn: false,
    evidence: {
      day: job.day,
      status: job.status,
      reason: `Amplitude job for ${job.day} is already ${job.status}; it can no longer be withdrawn`,
    },
  };
}

/**
 * The deletion job for this person: the job of `day` when the task knows it (`holds` says whether
 * it still lists the Amplitude ID; undefined when Amplitude's ids are too large to compare
 * exactly), else the job that lists the Amplitude ID, from yesterday to about five months ahead
 * (Amplitude lists at most six months at once).
 */
async function findJob(
  amplitude: AmplitudeClient,
  amplitudeId: string,
  day: string | undefined,
): Promise<{ job: DeletionJob; holds?: boolean } | undefined> {
  if (day) {
    const job = (await amplitude.listDeletions(day, day)).find((j) => j.day === day);
    if (!job) return undefined;
    const exact = job.amplitudeIds.length === job.entryCount;
    return { job, holds: job.amplitudeIds.includes(amplitudeId) ? true : exact ? false : undefined };
  }
  const now = Date.now();
  const jobs = await amplitude.listDeletions(dayOf(now - DAY_MS), dayOf(now + 150 * DAY_MS));
  const job = jobs.find((j) => j.amplitudeIds.includes(amplitudeId));
  return job ? { job, holds: true } : undefined;
}
