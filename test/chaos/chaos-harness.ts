import { expect } from 'chai';
import type { Ledger } from '../../src/ledger/ledger.js';
import { FINAL_REQUEST_STATUSES, type RequestStatus, type TaskRecord } from '../../src/ledger/ledger-types.js';
import type { PinpointStore } from '../../src/sandbox/pinpoint/pinpoint-store.js';

/**
 * The chaos suite's common parts: a client that submits Pinpoint-by-user-id requests the way an
 * upstream system would (idempotency key, retry on 503), and the tally that decides, from the
 * ledger and the simulator's own deletion log, whether anything was lost or erased harmfully.
 */

export const userIdOf = (i: number) => `user-${i}`;

/** Which seeded people a scenario erases: all but every eleventh, who stays as the neighbours that must not be touched. */
export function chaosPeople(subjects: number): { submitted: number[]; neighbours: number[] } {
  const all = Array.from({ length: subjects }, (_, i) => i);
  return { submitted: all.filter((i) => i % 11 !== 10), neighbours: all.filter((i) => i % 11 === 10) };
}

export interface Submissions {
  /** userId → request id, for every request the API accepted (202, or 200 for the same idempotency key). */
  accepted: Map<string, string>;
  /** Ids that came with a 202 (the API says it committed them). */
  answered202: string[];
  answered503: number;
  /** People whose request was never accepted before the client gave up. */
  gaveUp: string[];
  /** Answers other than 202, 200 and 503: always a failure. */
  unexpected: string[];
}

export interface SubmitOptions {
  url: string;
  token: string;
  scenario: string;
  people: number[];
  /** Submissions started per second (the load is spread over the chaos). */
  perSecond: number;
  /** How long a client keeps retrying one request on 503, a timeout or a network error. @defaultValue 120000 */
  giveUpAfterMs?: number;
  /** Pause before retrying after a network error, or a 503 without Retry-After. @defaultValue 1000 */
  retryAfterMs?: number;
  /** What the request asks for, per person. @defaultValue Pinpoint by user id */
  request?: (person: number) => { subject: Record<string, string>; vendors: string[] };
}

/**
 * Submits one request per person, paced, each with an idempotency key, and retries a 503 (after
 * its Retry-After) or a connection error with the same key until the API accepts it: what a
 * well-behaved upstream does.
 */
export async function submitPaced(options: SubmitOptions): Promise<Submissions> {
  const result: Submissions = { accepted: new Map(), answered202: [], answered503: 0, gaveUp: [], unexpected: [] };
  const giveUpAfterMs = options.giveUpAfterMs ?? 120_000;
  const retryAfterMs = options.retryAfterMs ?? 1000;
  // With jitter, so the retries of many clients do not arrive together.
  const backOff = (ms: number) => pause(ms * (0.8 + Math.random() * 0.4));
  const started = Date.now();
  await Promise.all(
    options.people.map(async (person, n) => {
      await pause(started + (n * 1000) / options.perSecond - Date.now());
      const userId = userIdOf(person);
      const asked = options.request?.(person) ?? { subject: { userId }, vendors: ['pinpoint'] };
      const body = JSON.stringify({ requestId: `chaos-${options.scenario}-${person}`, ...asked });
      const deadline = Date.now() + giveUpAfterMs;
      while (Date.now() < deadline) {
        let status: number;
        let retryAfter: number | undefined;
        let answer: { id?: string };
        try {
          const res = await fetch(`${options.url}/v1/requests`, {
            method: 'POST',
            headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
            body,
            signal: AbortSignal.timeout(30_000),
          });
          status = res.status;
          retryAfter = Number(res.headers.get('retry-after')) * 1000 || undefined;
          answer = (await res.json().catch(() => ({}))) as { id?: string };
        } catch {
          await backOff(retryAfterMs);
          continue;
        }
        if ((status === 202 || status === 200) && answer.id) {
          result.accepted.set(userId, answer.id);
          if (status === 202) result.answered202.push(answer.id);
          return;
        }
        if (status === 503) {
          // As an upstream should: wait as long as Retry-After says.
          result.answered503 += 1;
          await backOff(retryAfter ?? retryAfterMs);
          continue;
        }
        result.unexpected.push(`${userId}: HTTP ${status}`);
        return;
      }
      result.gaveUp.push(userId);
    }),
  );
  return result;
}

/**
 * Waits until every accepted request is final (completed, completed_with_errors, failed,
 * cancelled) or the time is up; returns what is still open. Polls the ledger: the work happens
 * in other processes and in a server that was just restarted, so there is no single event to await.
 */
export async function awaitFinal(ledger: Ledger, ids: Iterable<string>, timeoutMs: number): Promise<string[]> {
  let open = [...ids];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const still: string[] = [];
    for (const id of open) {
      try {
        const request = await ledger.requests.getRequest(id);
        if (!request || !FINAL_REQUEST_STATUSES.includes(request.status)) still.push(id);
      } catch {
        still.push(id);
      }
    }
    open = still;
    if (open.length === 0 || Date.now() > deadline) return open;
    await pause(250);
  }
}

export interface ChaosSummary {
  scenario: string;
  submitted: number;
  completed: number;
  failedWithReason: number;
  lost: number;
  harmfulDuplicates: number;
  /** Requests whose recorded endpointsDeleted differs from what the simulator deleted for that person. */
  evidenceMismatches: number;
  answered503: number;
  /** One line per problem found (which request, what is wrong), for the assertion message. */
  problems: string[];
  /** Why the failed requests failed (task error → how many). */
  failureReasons: Map<string, number>;
  line: string;
}

export interface TallyInput {
  scenario: string;
  ledger: Ledger;
  pinpoint: { store: PinpointStore; appId: string };
  submissions: Submissions;
  /** People never submitted, with how many endpoints each had before the run. */
  neighbourEndpoints: Map<string, number>;
  /** Everyone the client sent a request for (accepted or not). */
  sent: number[];
  /** Extra `key=value` words for the summary line (e.g. how long a storm lasted). */
  notes?: Record<string, string | number>;
}

/** Endpoints per person before the run, to show afterwards that neighbours kept theirs. */
export function endpointCounts(
  pinpoint: { store: PinpointStore; appId: string },
  people: number[],
): Map<string, number> {
  return new Map(people.map((i) => [userIdOf(i), pinpoint.store.userEndpoints(pinpoint.appId, userIdOf(i)).length]));
}

/**
 * Counts what the chaos did to the requests and to the people:
 * - lost: accepted (202/200) but not final, or failed without a reason, or a 202 for a request
 *   the ledger does not have;
 * - harmful duplicate: a second deletion that removed something for the same person, or any
 *   deletion of someone the client never sent (a neighbour, an anonymous endpoint);
 * - evidence mismatch: the ledger's endpointsDeleted is not what the simulator deleted.
 * Prints the one-line summary and returns it.
 */
export async function tally(input: TallyInput): Promise<ChaosSummary> {
  const { ledger, submissions } = input;
  const { store, appId } = input.pinpoint;
  const problems: string[] = [
    ...submissions.unexpected.map((u) => `unexpected answer ${u}`),
    ...submissions.gaveUp.map((u) => `never accepted: ${u}`),
  ];
  let completed = 0;
  let failedWithReason = 0;
  let lost = 0;
  let evidenceMismatches = 0;
  const failureReasons = new Map<string, number>();

  for (const id of submissions.answered202) {
    if (!(await ledger.requests.getRequest(id))) {
      lost += 1;
      problems.push(`answered 202 but not in the ledger: ${id}`);
    }
  }

  const sent = new Set(input.sent.map(userIdOf));
  const deletedFor = new Map<string, number[]>();
  for (const d of store.deletions) {
    if (d.appId !== appId) continue;
    const key = d.userId ?? '(anonymous)';
    deletedFor.set(key, [...(deletedFor.get(key) ?? []), d.count]);
  }
  let harmfulDuplicates = 0;
  for (const [userId, counts] of deletedFor) {
    const removing = counts.filter((c) => c > 0);
    if (!sent.has(userId)) {
      if (removing.length > 0) {
        harmfulDuplicates += removing.length;
        problems.push(`endpoints of ${userId}, who was never submitted, were deleted`);
      }
      continue;
    }
    if (removing.length > 1) {
      harmfulDuplicates += removing.length - 1;
      problems.push(`${userId}: ${removing.length} deletions removed endpoints (${removing.join(', ')})`);
    }
  }
  for (const [userId, before] of input.neighbourEndpoints) {
    const now = store.userEndpoints(appId, userId).length;
    if (now !== before) {
      harmfulDuplicates += 1;
      problems.push(`neighbour ${userId} had ${before} endpoints, now ${now}`);
    }
  }

  for (const [userId, id] of submissions.accepted) {
    const request = await ledger.requests.getRequest(id);
    const tasks = await ledger.tasks.getTasks(id);
    const status: RequestStatus | undefined = request?.status;
    if (!status || !FINAL_REQUEST_STATUSES.includes(status) || status === 'cancelled') {
      lost += 1;
      problems.push(`${id} (${userId}) is ${status ?? 'missing'}: ${describeTasks(tasks)}`);
      continue;
    }
    if (status === 'failed') {
      const unexplained = tasks.filter((t) => t.state === 'failed' && !t.error);
      if (unexplained.length > 0) {
        lost += 1;
        problems.push(`${id} failed without a reason`);
      } else failedWithReason += 1;
      for (const t of tasks.filter((t) => t.state === 'failed'))
        failureReasons.set(t.error ?? '', (failureReasons.get(t.error ?? '') ?? 0) + 1);
      continue;
    }
    completed += 1;
    const removed = (deletedFor.get(userId) ?? []).reduce((a, b) => a + b, 0);
    for (const task of tasks.filter(
      (t) => t.vendor === 'pinpoint' && (t.state === 'succeeded' || t.state === 'not_found'),
    )) {
      if (task.evidence.endpointsDeleted !== removed) {
        evidenceMismatches += 1;
        problems.push(
          `${id}: evidence says ${String(task.evidence.endpointsDeleted)} endpoints deleted, the vendor deleted ${removed}`,
        );
      }
      if (store.userEndpoints(appId, userId).length > 0) {
        problems.push(`${id}: ${task.state} but the vendor still holds endpoints of ${userId}`);
      }
    }
  }

  const notes = Object.entries(input.notes ?? {})
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  const line =
    `scenario=${input.scenario} submitted=${submissions.accepted.size} completed=${completed} failed_with_reason=${failedWithReason} ` +
    `lost=${lost} harmful_duplicates=${harmfulDuplicates} evidence_mismatches=${evidenceMismatches} answered_503=${submissions.answered503}${notes}`;
  console.log(`      ${line}`);
  for (const [reason, n] of failureReasons) console.log(`        failed ${n}× with: ${reason}`);
  return {
    scenario: input.scenario,
    submitted: submissions.accepted.size,
    completed,
    failedWithReason,
    lost,
    harmfulDuplicates,
    evidenceMismatches,
    answered503: submissions.answered503,
    problems,
    failureReasons,
    line,
  };
}

/**
 * What every chaos scenario must end with: every request the client sent was accepted and ended
 * final, nothing was lost, nobody was erased harmfully, and the evidence matches the vendor.
 */
export function expectNothingLost(summary: ChaosSummary, open: string[], sent: number[]): void {
  expect(summary.problems).to.deep.equal([]);
  expect(open, 'requests still open at the end').to.have.length(0);
  expect(summary.lost).to.equal(0);
  expect(summary.harmfulDuplicates).to.equal(0);
  expect(summary.evidenceMismatches).to.equal(0);
  expect(summary.submitted).to.equal(sent.length);
}

function describeTasks(tasks: TaskRecord[]): string {
  return (
    tasks.map((t) => `${t.vendor} ${t.state}${t.waitingReason ? ` (${t.waitingReason})` : ''}`).join('; ') || 'no tasks'
  );
}

export function pause(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

export { startWorkerProcess } from '../support/worker-process.js';

/** A random whole number of milliseconds in [min, max). */
export const randomMs = (min: number, max: number) => Math.floor(min + Math.random() * (max - min));
