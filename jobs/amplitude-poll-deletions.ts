import type { AmplitudeClient } from '../src/vendors/amplitude-client.js';
import { AMPLITUDE_BACKUP_CLEAR_DAYS } from '../src/vendors/amplitude-settings.js';
import { requireClient, type BatchProcessor, type MemberResult } from '../src/connectors/processor-contract.js';

/** The shared batch job that polls one deletion job (one day) for every member in it. */
export const POLL_DELETIONS = 'amplitude-poll-deletions';

/** Members in the same project and job day share one poll. */
export function pollBatchScope(resource: string, day: string): string {
  return `${resource}/day/${day}`;
}

export function dayOfPollScope(scope: string): string {
  const day = /\/day\/(\d{4}-\d{2}-\d{2})$/.exec(scope)?.[1];
  if (!day) throw new Error(`scope ${scope} names no job day`);
  return day;
}

/** The poll interval plus a random share of it, so polls spread out. */
export function withJitter(ms: number, jitter: number, random = Math.random): number {
  return Math.round(ms * (1 + random() * jitter));
}

const DAY_MS = 86_400_000;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/**
 * The first moment Amplitude can report a deletion job `done`: it clears backups about five days
 * after the data became inaccessible (`active_scrub_done_date`, docs/vendors/amplitude.md), and that
 * is never before the job's run day. Until then a poll could only answer "not yet".
 */
export function earliestDoneAt(day: string, activeScrubDoneDate?: string): number {
  const from = activeScrubDoneDate && DAY.test(activeScrubDoneDate) ? activeScrubDoneDate : day;
  return Date.parse(`${from}T00:00:00Z`) + AMPLITUDE_BACKUP_CLEAR_DAYS * DAY_MS;
}

/**
 * Amplitude, shared by every request in one deletion job: `GET /api/2/deletions/users?start_day=
 * &end_day=` for the job's day, one call per poll for all members. No call is made before the job
 * can be done (`earliestDoneAt`, on Amplitude's clock): a 16-day job costs two or three calls, not
 * one every poll interval. The clock is read again at each interval rather than slept to, as the
 * sandbox's can jump. While the job cannot be done or is not yet `done` the batch job waits as a
 * delayed job (days-long waits hold no worker) and takes late members of the same day, so a day
 * has one poll. Once it is `done` each member gets the job's status and `active_scrub_done_date`.
 * A member whose Amplitude ID is known but no longer in the job (withdrawn at Amplitude) fails with
 * that reason instead of being counted as erased. Members whose task has already ended (cancelled
 * and withdrawn) are not given to this processor at all (the batch runner leaves settled tasks out).
 */
export const pollDeletions: BatchProcessor<AmplitudeClient> = async (input, deps) => {
  const amplitude = requireClient(deps, 'amplitude');
  const day = dayOfPollScope(input.scope);
  if (input.members.length === 0) return { outcome: 'done', evidence: { day, members: 0 }, members: new Map() };
  const pollAfterMs = withJitter(amplitude.settings.pollIntervalMs, amplitude.settings.pollJitter);
  const scrubbedOn =
    typeof input.previous.activeScrubDoneDate === 'string' ? input.previous.activeScrubDoneDate : undefined;
  const notBefore = earliestDoneAt(day, scrubbedOn);
  if (amplitude.now() < notBefore) {
    const when = new Date(notBefore).toISOString().slice(0, 10);
    return {
      outcome: 'waiting_vendor',
      evidence: { day, notBefore: when },
      pollAfterMs,
      reason: `Amplitude's deletion job for ${day} cannot be done before ${when} (backups are cleared about ${AMPLITUDE_BACKUP_CLEAR_DAYS} days after the data is)`,
      openToLateMembers: true,
    };
  }

  const polls = Number(input.previous.polls ?? 0) + 1;
  const job = (await amplitude.listDeletions(day, day, input.signal)).find((j) => j.day === day);
  const polledAt = new Date().toISOString();
  if (!job) {
    const reason = `Amplitude lists no deletion job for ${day}`;
    const members = new Map<string, MemberResult>(
      input.members.map((m) => [m.taskId, { state: 'failed', result: { day, reason } }]),
    );
    return { outcome: 'done', evidence: { day, polls, polledAt, status: 'missing' }, members };
  }
  // The client lower-cases the status (Amplitude's case is not fixed by its docs); compared so here too.
  if (job.status.toLowerCase() !== 'done') {
    const scrub = job.activeScrubDoneDate ? { activeScrubDoneDate: job.activeScrubDoneDate } : {};
    return {
      outcome: 'waiting_vendor',
      evidence: { day, status: job.status, ...scrub, entries: job.entryCount, polls, polledAt },
      pollAfterMs,
      reason: `Amplitude deletion job for ${day} is ${job.status}`,
      openToLateMembers: true,
    };
  }

  // Amplitude ids are compared only when the job listed every entry exactly (none above 2^53).
  const listed = job.amplitudeIds.length === job.entryCount ? new Set(job.amplitudeIds) : undefined;
  const done = {
    day,
    status: job.status,
    ...(job.activeScrubDoneDate ? { activeScrubDoneDate: job.activeScrubDoneDate } : {}),
  };
  const members = new Map<string, MemberResult>();
  let absent = 0;
  for (const member of input.members) {
    const amplitudeId = member.subject.amplitudeId;
    const checkable = listed && amplitudeId && Number.isSafeInteger(Number(amplitudeId));
    if (checkable && !listed.has(amplitudeId)) {
      absent += 1;
      members.set(member.taskId, {
        state: 'failed',
        result: { day, reason: `no longer in Amplitude's deletion job for ${day} (withdrawn at Amplitude)` },
      });
    } else {
      members.set(member.taskId, {
        state: 'done',
        result: { ...done, listedInDoneJob: Boolean(checkable), verification: 'vendor_confirmed' },
      });
    }
  }
  return {
    outcome: 'done',
    evidence: { ...done, entries: job.entryCount, members: input.members.length, absent, polls, polledAt },
    members,
  };
};
