import type { Subject } from '../src/privacy/subject.js';
import type {
  AmplitudeClient,
  AmplitudeIdentifier,
  DeletionEntry,
  DeletionResult,
} from '../src/vendors/amplitude-client.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import { requireClient, type BatchProcessor, type MemberResult } from '../src/connectors/processor-contract.js';

/** The shared batch job that sends the deletion call (job name in the `amplitude` queue). */
export const SUBMIT_DELETIONS = 'amplitude-submit-deletions';

/**
 * What the submit batch tells each member, and keeps per member in its evidence so a re-run after
 * a crash does not call again: the job day and counts, never an id of the person.
 */
export interface SubmittedMember {
  /** False when Amplitude listed the member's id in `invalid_ids`: it holds no data for it. */
  known: boolean;
  idKind: AmplitudeIdentifier['kind'];
  /** The deletion job (`day`) Amplitude put the person in. */
  day?: string;
  requestedOnDay?: string;
  /** Ids in the call that carried this member, and how many of them Amplitude did not know. */
  idsInCall: number;
  unknownInCall: number;
  /**
   * Set when Amplitude refused a call holding only this id with a 400 (it ignored the
   * ignore-invalid-ids flag and the id is unknown to it): its answer, status and code only.
   */
  vendorAnswer?: { status: number; code?: string };
}

/** One call that Amplitude accepted, with the ids it carried. */
interface AcceptedCall<T> {
  sent: T[];
  answer: DeletionResult;
}

/**
 * Sends `items` in one call; when Amplitude answers 400 (it did not honour the ignore-invalid-ids
 * flag, and at least one id is unknown: it then schedules nothing, docs/vendors/amplitude.md), splits
 * the call in halves until each unknown id stands alone, so the valid ids go on. A lone id that is
 * refused comes back in `refused` with Amplitude's answer. Other errors propagate (the taxonomy).
 */
export async function requestSplittingRefusals<T>(
  amplitude: Pick<AmplitudeClient, 'requestDeletions'>,
  items: T[],
  idOf: (item: T) => AmplitudeIdentifier,
  signal?: AbortSignal,
): Promise<{
  accepted: Array<AcceptedCall<T>>;
  refused: Array<{ item: T; status: number; code?: string }>;
  calls: number;
}> {
  const accepted: Array<AcceptedCall<T>> = [];
  const refused: Array<{ item: T; status: number; code?: string }> = [];
  let calls = 0;
  const send = async (part: T[]): Promise<void> => {
    if (part.length === 0) return;
    calls += 1;
    try {
      accepted.push({ sent: part, answer: await amplitude.requestDeletions(part.map(idOf), signal) });
    } catch (err) {
      if (!(err instanceof PermanentVendorError) || err.details.status !== 400) throw err;
      if (part.length === 1) {
        refused.push({ item: part[0], status: 400, ...(err.details.code ? { code: err.details.code } : {}) });
        return;
      }
      const half = Math.ceil(part.length / 2);
      await send(part.slice(0, half));
      await send(part.slice(half));
    }
  };
  await send(items);
  return { accepted, refused, calls };
}

/** The id a member is sent by: its Amplitude ID when the request gave one (or Amplitude told us), else its user id. */
export function identifierOf(subject: Subject): AmplitudeIdentifier | undefined {
  if (subject.amplitudeId) return { kind: 'amplitude_id', value: subject.amplitudeId };
  if (subject.userId) return { kind: 'user_id', value: subject.userId };
  return undefined;
}

/**
 * Amplitude, shared by up to 100 requests (Invariant 7): one `POST /api/2/deletions/users` for all
 * members' ids with `ignore_invalid_id`, so one unknown id does not block the others; ids Amplitude
 * reports in `invalid_ids` come back to their members as unknown (`not_found`); a 400 (the flag not
 * honoured) splits the call until the unknown ids stand alone, and they end `not_found` with
 * Amplitude's answer while the others go on. The Amplitude ID a
 * user id maps to is sealed into the member's vault (never into evidence), so a cancel can still
 * withdraw it. Members then poll their job's day (`amplitude-poll-deletions`).
 */
export const submitDeletions: BatchProcessor<AmplitudeClient> = async (input, deps) => {
  const amplitude = requireClient(deps, 'amplitude');
  const earlier = (input.previous.submitted ?? {}) as Partial<Record<string, SubmittedMember>>;
  const submitted: Partial<Record<string, SubmittedMember>> = { ...earlier };
  const results = new Map<string, MemberResult>();
  const pending: Array<{ taskId: string; requestId: string; id: AmplitudeIdentifier }> = [];
  for (const member of input.members) {
    const done = earlier[member.taskId];
    if (done) {
      results.set(member.taskId, { state: 'done', result: { ...done } });
      continue;
    }
    const id = identifierOf(member.subject);
    if (!id)
      results.set(member.taskId, { state: 'failed', result: { reason: 'no user id or Amplitude ID for this person' } });
    else pending.push({ taskId: member.taskId, requestId: member.requestId, id });
  }

  let calls = 0;
  let unknown = 0;
  const days = new Set<string>();
  for (let start = 0; start < pending.length; start += amplitude.settings.maxIdsPerRequest) {
    const chunk = pending.slice(start, start + amplitude.settings.maxIdsPerRequest);
    const sent = await requestSplittingRefusals(amplitude, chunk, (p) => p.id, input.signal);
    calls += sent.calls;
    for (const { item, ...vendorAnswer } of sent.refused) {
      unknown += 1;
      const result: SubmittedMember = {
        known: false,
        idKind: item.id.kind,
        idsInCall: 1,
        unknownInCall: 1,
        vendorAnswer,
      };
      submitted[item.taskId] = result;
      results.set(item.taskId, { state: 'done', result: { ...result } });
    }
    for (const { sent: part, answer } of sent.accepted) {
      unknown += answer.invalid.length;
      const invalid = new Set(answer.invalid.map((i) => `${i.kind}:${i.value}`));
      const byUserId = new Map<string, DeletionEntry[]>();
      const byAmplitudeId = new Map<string, DeletionEntry>();
      for (const entry of answer.entries) {
        if (entry.userId !== undefined) byUserId.set(entry.userId, [...(byUserId.get(entry.userId) ?? []), entry]);
        if (entry.amplitudeId) byAmplitudeId.set(entry.amplitudeId, entry);
      }
      for (const { taskId, requestId, id } of part) {
        // Exact matches only (Invariant 2): Amplitude's mapping of this very user id, or this very Amplitude ID.
        const known = !invalid.has(`${id.kind}:${id.value}`);
        const byId = id.kind === 'amplitude_id' ? byAmplitudeId.get(id.value) : undefined;
        const entries = id.kind === 'user_id' ? (byUserId.get(id.value) ?? []) : byId ? [byId] : [];
        const mapped = entries.length === 1 ? entries[0].amplitudeId : undefined;
        if (known && id.kind === 'user_id' && mapped)
          await input.rememberIdentifier?.(requestId, 'amplitudeId', mapped);
        const result: SubmittedMember = {
          known,
          idKind: id.kind,
          ...(known
            ? { day: answer.day, ...(entries[0]?.requestedOnDay ? { requestedOnDay: entries[0].requestedOnDay } : {}) }
            : {}),
          idsInCall: part.length,
          unknownInCall: answer.invalid.length,
        };
        if (known) days.add(answer.day);
        submitted[taskId] = result;
        results.set(taskId, { state: 'done', result: { ...result } });
      }
    }
    // Before the next call: a re-run after a crash must not send these ids again.
    await input.checkpoint({ submitted });
  }

  return {
    outcome: 'done',
    evidence: {
      members: input.members.length,
      calls,
      idsSent: pending.length,
      idsUnknown: unknown,
      days: [...days].sort(),
    },
    members: results,
  };
};
