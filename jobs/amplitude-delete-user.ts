import type { AmplitudeClient } from '../src/vendors/amplitude-client.js';
import { unverifiable, vendorConfirmed } from '../src/receipts/verification.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import { identifierOf, SUBMIT_DELETIONS, type SubmittedMember } from './amplitude-submit-deletions.js';
import { POLL_DELETIONS, pollBatchScope } from './amplitude-poll-deletions.js';
import {
  memberFallbackPollMs,
  requireClient,
  type TaskInput,
  type TaskProcessor,
  type TaskResult,
} from '../src/connectors/processor-contract.js';

/** The member task's job name: one per request and Amplitude project. */
export const DELETE_USER = 'amplitude-delete-user';

/** The most members one poll batch serves (one GET per poll for all of them). */
const MAX_POLL_MEMBERS = 10_000;

/** A batch's failure reason as text: a string as it is, else `fallback` (never `[object Object]`). */
function reasonOf(reason: unknown, fallback: string): string {
  return typeof reason === 'string' ? reason : fallback;
}

function waiting(pollAfterMs: number, evidence: Record<string, unknown>, reason: string): TaskResult {
  return { outcome: 'waiting_vendor', evidence, pollAfterMs, reason };
}

/**
 * Joins the project's shared deletion call (≤ 100 ids per call, Invariant 7): the job day Amplitude
 * put the person in, checkpointed, or what this run answers now (waiting, or the id unknown).
 */
async function joinDeletionCall(
  input: TaskInput,
  settings: AmplitudeClient['settings'],
): Promise<{ day: string } | { result: TaskResult }> {
  const { project, batchWindowMs, maxIdsPerRequest } = settings;
  const submit = await input.awaitBatch({
    kind: SUBMIT_DELETIONS,
    scope: input.resource,
    windowMs: batchWindowMs,
    maxMembers: maxIdsPerRequest,
  });
  if (submit.state === 'waiting') {
    return {
      result: waiting(
        memberFallbackPollMs(batchWindowMs),
        { project, submitBatchId: submit.batchId },
        'in a shared Amplitude deletion call that has not been sent yet',
      ),
    };
  }
  if (submit.state === 'failed')
    throw new PermanentVendorError(
      { vendor: 'amplitude', operation: SUBMIT_DELETIONS },
      reasonOf(submit.result.reason, 'did not schedule the deletion'),
    );
  const sent = submit.result as unknown as SubmittedMember;
  const counts = {
    project,
    idKind: sent.idKind,
    submitBatchId: submit.batchId,
    idsInCall: sent.idsInCall,
    unknownInCall: sent.unknownInCall,
  };
  if (!sent.known || !sent.day) {
    if (sent.vendorAnswer) {
      return {
        result: {
          outcome: 'not_found',
          evidence: {
            ...counts,
            vendorAnswer: sent.vendorAnswer,
            reason: 'Amplitude refused a call holding only this id (400): it does not know the id',
            ...unverifiable('vendor_refused_id'),
          },
        },
      };
    }
    return {
      result: {
        outcome: 'not_found',
        evidence: {
          ...counts,
          reason: 'Amplitude reported the id as unknown (invalid_ids): it holds no data for it',
          ...vendorConfirmed(),
        },
      },
    };
  }
  const day = sent.day;
  // Saved now: a cancel needs the day to withdraw the person while the job is still staging.
  await input.checkpoint({
    ...counts,
    day,
    status: 'staging',
    ...(sent.requestedOnDay ? { requestedOnDay: sent.requestedOnDay } : {}),
  });
  return { day };
}

/**
 * Amplitude, one request: (1) joins the shared deletion call for its project (≤ 100 ids per call,
 * Invariant 7) and learns the deletion job (`day`) Amplitude put the person in, or that Amplitude
 * does not know the id (`not_found`); (2) joins the shared poll of that day and waits, without
 * holding a worker, until Amplitude reports the job `done`. Evidence: the job day, its status,
 * `requested_on_day`, `active_scrub_done_date` and counts: never the person's ids, Amplitude's
 * included (Invariant 1).
 */
export const amplitudeDeleteUser: TaskProcessor<AmplitudeClient> = async (input, deps) => {
  const amplitude = requireClient(deps, 'amplitude');
  const { project, pollIntervalMs } = amplitude.settings;
  const id = identifierOf(input.subject);
  if (!id) return { outcome: 'skipped', evidence: { project, reason: 'no user id or Amplitude ID for this person' } };

  let day = typeof input.previous.day === 'string' ? input.previous.day : undefined;
  if (!day) {
    const joined = await joinDeletionCall(input, amplitude.settings);
    if ('result' in joined) return joined.result;
    day = joined.day;
  }

  // One poll per day: a late member joins the day's poll even while it runs.
  const scope = pollBatchScope(input.resource, day);
  const poll = await input.awaitBatch({
    kind: POLL_DELETIONS,
    scope,
    windowMs: pollIntervalMs,
    maxMembers: MAX_POLL_MEMBERS,
    joinWhileRunning: true,
  });
  if (poll.state === 'waiting') {
    return waiting(
      memberFallbackPollMs(pollIntervalMs),
      { day, pollBatchId: poll.batchId },
      `waiting for Amplitude's deletion job for ${day} to be done`,
    );
  }
  if (poll.state === 'failed') {
    throw new PermanentVendorError(
      { vendor: 'amplitude', operation: 'listDeletions' },
      reasonOf(poll.result.reason, 'did not finish the deletion'),
    );
  }
  const { status, activeScrubDoneDate, listedInDoneJob } = poll.result;
  return {
    outcome: 'succeeded',
    evidence: {
      day,
      pollBatchId: poll.batchId,
      status,
      ...(typeof activeScrubDoneDate === 'string' ? { activeScrubDoneDate } : {}),
      ...(typeof listedInDoneJob === 'boolean' ? { listedInDoneJob } : {}),
      // Amplitude offers no lookup of a deleted user: its "done" is all there is (src/receipts/verification.ts).
      ...vendorConfirmed(),
      verifiedAt: new Date().toISOString(),
    },
  };
};
