import { requireClient, type BatchProcessor, type MemberResult } from './task-processor.js';

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

/**
 * Amplitude, shared by every request in one deletion job: `GET /api/2/deletions/users?start_day=
 * &end_day=` for the job's day, one call per poll for all members. While the job is `staging` or
 * `submitted` the batch job waits as a delayed job (days-long waits hold no worker); once it is
 * `done` each member gets the job's status and `active_scrub_done_date`. A member whose Amplitude
 * ID is known but no longer in the job (withdrawn at Amplitude) fails with that reason instead of
 * being counted as erased. Members whose task has already ended (cancelled and withdrawn) are not
 * given to this processor at all (the batch runner leaves settled tasks out).
 */
export const pollDeletions: BatchProcessor = async (input, deps) => {
  const amplitude = requireClient(deps, 'amplitude');
  const day = dayOfPollScope(input.scope);
  const polls = Number(input.previous.polls ?? 0) + 1;
  if (input.members.length === 0) return { outcome: 'done', evidence: { day, members: 0 }, members: new Map() };

  const job = (await amplitude.listDeletions(day, day, input.signal)).find((j) => j.day === day);
  const polledAt = new Date().toISOString();
  if (!job) {
    const reason = `Amplitude lists no deletion job for ${day}`;
    const members = new Map<string, MemberResult>(input.members.map((m) => [m.taskId, { state: 'failed', result: { day, reason } }]));
    return { outcome: 'done', evidence: { day, polls, polledAt, status: 'missing' }, members };
  }
  if (job.status !== 'done') {
    return {
      outcome: 'waiting_vendor',
      evidence: { day, status: job.status, entries: job.entryCount, polls, polledAt },
      pollAfterMs: withJitter(amplitude.settings.pollIntervalMs, amplitude.settings.pollJitter),
      reason: `Amplitude deletion job for ${day} is ${job.status}`,
    };
  }

  // Amplitude ids are compared only when the job listed every entry exactly (none above 2^53).
  const listed = job.amplitudeIds.length === job.entryCount ? new Set(job.amplitudeIds) : undefined;
  const done = { day, status: job.status, ...(job.activeScrubDoneDate ? { activeScrubDoneDate: job.activeScrubDoneDate } : {}) };
  const members = new Map<string, MemberResult>();
  let absent = 0;
  for (const member of input.members) {
    const amplitudeId = member.subject.amplitudeId;
    const checkable = listed && amplitudeId && Number.isSafeInteger(Number(amplitudeId));
    if (checkable && !listed.has(amplitudeId)) {
      absent += 1;
      members.set(member.taskId, { state: 'failed', result: { day, reason: `no longer in Amplitude's deletion job for ${day} (withdrawn at Amplitude)` } });
    } else {
      members.set(member.taskId, { state: 'done', result: { ...done, verification: checkable ? 'listed_in_done_job' : 'job_done' } });
    }
  }
  return { outcome: 'done', evidence: { ...done, entries: job.entryCount, members: input.members.length, absent, polls, polledAt }, members };
};
