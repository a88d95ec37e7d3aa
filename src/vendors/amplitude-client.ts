import got, { RequestError, type Got, type Response } from 'got';
import type { AmplitudeSettings } from './amplitude-settings.js';
import { withCallMetrics } from './got-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import { REAL_TIME, type VendorClock } from './vendor-clock.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import { TransientVendorError } from './vendor-errors.js';
import { DAY, DIGITS, parse, readEntries, readStatus, toVendorError } from './amplitude-answers.js';

export { readStatus, toVendorError } from './amplitude-answers.js';

const DELETIONS = 'api/2/deletions/users';

/** One id in a deletion call: the app's user id, or Amplitude's own numeric id (as digits, exact). */
export type AmplitudeIdentifier = { kind: 'user_id'; value: string } | { kind: 'amplitude_id'; value: string };

/**
 * One entry of a deletion job. `amplitudeId` is undefined when Amplitude's number is too large to
 * read exactly in JavaScript (above 2^53); matching on a rounded number could name a neighbour.
 */
export interface DeletionEntry {
  amplitudeId?: string;
  /** The user id Amplitude mapped the entry from (`include_mapped_user_ids`), when it has one. */
  userId?: string;
  requestedOnDay?: string;
}

/** What a create-deletion call answers: the job day it joined, its entries, and the ids Amplitude did not know. */
export interface DeletionResult {
  day: string;
  status: string;
  entries: DeletionEntry[];
  /** Ids Amplitude reported unknown (`invalid_ids`), in our identifier form. */
  invalid: AmplitudeIdentifier[];
}

/** A deletion job as `GET /api/2/deletions/users` lists it. */
export interface DeletionJob {
  day: string;
  /**
   * `staging` (can change), `submitted` (locked) or `done` (docs/vendors/amplitude.md),
   * lower-cased whatever case Amplitude sent.
   */
  status: string;
  /** Amplitude ids of the entries, as exact digit strings (entries above 2^53 are counted but not listed). */
  amplitudeIds: string[];
  entryCount: number;
  activeScrubDoneDate?: string;
}

/** What the Amplitude jobs need from settings, carried by the client (processors get clients, not settings). */
export interface AmplitudeJobSettings {
  project: string;
  batchWindowMs: number;
  maxIdsPerRequest: number;
  pollIntervalMs: number;
  pollJitter: number;
}

/**
 * The Amplitude User Privacy API v1 calls the erasure jobs use, over `got`: Basic auth with the
 * project's API key and secret key, JSON in and out, no retries of its own (the queue retries,
 * visibly). Every call is paced to `requestsPerSecond` and `maxInFlight` (Amplitude: 1/s, 8 in
 * flight). Failures become the error taxonomy from the HTTP status only: Amplitude's error text can
 * echo an id back.
 */
export interface AmplitudeClient {
  readonly settings: Readonly<AmplitudeJobSettings>;
  /** Amplitude's time (epoch ms): when a deletion job can be done is counted in its days. */
  now(): number;
  /**
   * POST: schedules the ids for deletion with `ignore_invalid_id` and `ignore_invalid_ids` (one
   * unknown id does not block the rest). A 400 is a PermanentVendorError with status 400: Amplitude
   * answers so when it did not honour the flag and an id is unknown (the submit job then splits the call).
   */
  requestDeletions(ids: AmplitudeIdentifier[], signal?: AbortSignal): Promise<DeletionResult>;
  /** GET: the project's deletion jobs whose day lies in the range (at most 6 months). */
  listDeletions(startDay: string, endDay: string, signal?: AbortSignal): Promise<DeletionJob[]>;
  /** DELETE: takes one Amplitude id out of a job that is still `staging`. A refusal (400) is a PermanentVendorError. */
  cancelDeletion(amplitudeId: string, day: string, signal?: AbortSignal): Promise<void>;
  close(): void;
}

/** How long, and for how many days, a `done` job's listing is kept to answer later polls of its day. */
const DONE_JOB_MEMORY_MS = 10 * 60_000;
const DONE_JOBS_KEPT = 32;
/**
 * Amplitude refuses a list range over six months (docs/vendors/amplitude.md);
 * shared polls stay well inside it.
 */
const MAX_LIST_RANGE_DAYS = 150;
const minDay = (a: string, b: string) => (a < b ? a : b);
const maxDay = (a: string, b: string) => (a > b ? a : b);
const daysBetween = (start: string, end: string) =>
  (Date.parse(`${end}T00:00:00Z`) - Date.parse(`${start}T00:00:00Z`)) / 86_400_000;

interface PendingList {
  startDay: string;
  endDay: string;
  jobs: Promise<DeletionJob[]>;
}

/** What the client's calls share, built once in createAmplitudeClient. */
interface AmplitudeContext {
  settings: AmplitudeSettings;
  api: Got;
  call(operation: string, send: () => Promise<Response<string>>, signal?: AbortSignal): Promise<Response<string>>;
  /**
   * Jobs Amplitude reported `done`, by day: done is final (docs/vendors/amplitude.md), so a poll of
   * that day from members that arrive later is answered without another call. In memory only, for
   * DONE_JOB_MEMORY_MS, and at most DONE_JOBS_KEPT days.
   */
  doneJobs: Map<string, { job: DeletionJob; until: number }>;
  /** The list call still waiting for its turn, which later polls can join. */
  lists: { pending?: PendingList };
}

/** `budget`: where the 1 call/s and the 8 in flight are kept (Redis in the service, so they hold across processes). */
export function createAmplitudeClient(
  settings: AmplitudeSettings,
  calls?: VendorCallObserver,
  clock: VendorClock = REAL_TIME,
  budget: CallBudget = createInMemoryCallBudget(),
): AmplitudeClient {
  const api: Got = withCallMetrics(
    got.extend({
      prefixUrl: settings.baseUrl,
      username: settings.apiKey,
      password: settings.secretKey,
      headers: { accept: 'application/json' },
      responseType: 'text',
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: settings.requestTimeoutMs },
    }),
    'amplitude',
    calls,
  );
  const paced = createPacing(settings, budget);
  const ctx: AmplitudeContext = {
    settings,
    api,
    async call(operation, send, signal) {
      try {
        return await paced(send, signal);
      } catch (err) {
        // Timeouts, resets, refused connections, aborts: the call may not have reached Amplitude.
        const code = err instanceof RequestError ? err.code : ((err as Error | undefined)?.name ?? 'Error');
        throw new TransientVendorError({ vendor: 'amplitude', operation, code }, 'did not complete');
      }
    },
    doneJobs: new Map(),
    lists: {},
  };

  return {
    settings: Object.freeze({
      project: settings.project,
      batchWindowMs: settings.batchWindowMs,
      maxIdsPerRequest: settings.maxIdsPerRequest,
      pollIntervalMs: settings.pollIntervalMs,
      pollJitter: settings.pollJitter,
    }),
    now: clock,
    requestDeletions: (ids, signal) => requestDeletions(ctx, ids, signal),
    listDeletions: (startDay, endDay, signal) => listDeletions(ctx, startDay, endDay, signal),
    cancelDeletion: (amplitudeId, day, signal) => cancelDeletion(ctx, amplitudeId, day, signal),
    close: () => undefined,
  };
}

function createPacing(
  settings: AmplitudeSettings,
  budget: CallBudget,
): <T>(send: () => Promise<T>, signal?: AbortSignal) => Promise<T> {
  // Calls start at most `requestsPerSecond` a second, one spacing apart plus 10 % (arrival jitter
  // would otherwise trip Amplitude's per-second limit), with at most `maxInFlight` running.
  const rate = { max: settings.requestsPerSecond, durationMs: 1100, burst: 1 };
  const spacingMs = Number.isFinite(settings.requestsPerSecond) ? 1100 / settings.requestsPerSecond : 0;
  // A holder waits for at most maxInFlight turns, then runs one request: past that its process is gone.
  const leaseMs = settings.maxInFlight * spacingMs + settings.requestTimeoutMs + 5000;
  return async function paced<T>(send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await budget.hold('amplitude', settings.maxInFlight, leaseMs, signal);
    try {
      await budget.pace('amplitude', rate, signal);
      return await send();
    } finally {
      release();
    }
  };
}

function rememberDone(doneJobs: AmplitudeContext['doneJobs'], jobs: DeletionJob[]): void {
  const until = Date.now() + DONE_JOB_MEMORY_MS;
  for (const job of jobs) {
    if (job.status !== 'done') continue;
    doneJobs.delete(job.day);
    doneJobs.set(job.day, { job, until });
    if (doneJobs.size > DONE_JOBS_KEPT) {
      const oldest = doneJobs.keys().next();
      if (oldest.done !== true) doneJobs.delete(oldest.value);
    }
  }
}

async function fetchDeletions(ctx: AmplitudeContext, group: PendingList, signal?: AbortSignal): Promise<DeletionJob[]> {
  const operation = 'listDeletions';
  const res = await ctx
    .call(
      operation,
      () => {
        // From here on the range is fixed: later polls start a new group. (The first poll's signal
        // governs the shared call; if it aborts, the others fail transiently and their jobs retry.)
        if (ctx.lists.pending === group) ctx.lists.pending = undefined;
        return ctx.api.get(DELETIONS, {
          searchParams: { start_day: group.startDay, end_day: group.endDay },
          signal,
          context: { operation },
        });
      },
      signal,
    )
    .finally(() => {
      if (ctx.lists.pending === group) ctx.lists.pending = undefined;
    });
  if (res.statusCode !== 200) throw toVendorError(operation, res, ctx.settings.throttleDelayMs);
  const jobs = parse(operation, res);
  if (!Array.isArray(jobs))
    throw new TransientVendorError(
      { vendor: 'amplitude', operation, status: res.statusCode },
      'answered with something other than a list of jobs',
    );
  return jobs
    .filter(
      (job): job is Record<string, unknown> =>
        typeof job === 'object' && job !== null && typeof (job as { day?: unknown }).day === 'string',
    )
    .map((job) => {
      const entries = readEntries(job.amplitude_ids);
      return {
        day: job.day as string,
        status: readStatus(job.status),
        amplitudeIds: entries.flatMap((e) => (e.amplitudeId ? [e.amplitudeId] : [])),
        entryCount: entries.length,
        ...(typeof job.active_scrub_done_date === 'string' ? { activeScrubDoneDate: job.active_scrub_done_date } : {}),
      };
    });
}

async function requestDeletions(
  ctx: AmplitudeContext,
  ids: AmplitudeIdentifier[],
  signal?: AbortSignal,
): Promise<DeletionResult> {
  const operation = 'createDeletion';
  const userIds = ids.filter((id) => id.kind === 'user_id').map((id) => id.value);
  const amplitudeIds = ids.filter((id) => id.kind === 'amplitude_id').map((id) => id.value);
  for (const id of amplitudeIds) if (!DIGITS.test(id)) throw new Error('an Amplitude id must be a positive integer');
  // Amplitude ids go out as JSON numbers written digit for digit, so ids above 2^53 stay exact.
  const body = JSON.stringify({
    user_ids: userIds,
    amplitude_ids: '__AMPLITUDE_IDS__',
    requester: ctx.settings.requester,
    // Amplitude's doc spells the flag both ways (table: ignore_invalid_id, prose: ignore_invalid_ids,
    // docs/vendors/amplitude.md), and does not say which one it reads: both are sent.
    ignore_invalid_id: true,
    ignore_invalid_ids: true,
    include_mapped_user_ids: true,
  }).replace('"__AMPLITUDE_IDS__"', `[${amplitudeIds.join(',')}]`);
  const res = await ctx.call(
    operation,
    () =>
      ctx.api.post(DELETIONS, {
        body,
        headers: { 'content-type': 'application/json' },
        signal,
        context: { operation },
      }),
    signal,
  );
  if (res.statusCode !== 200) throw toVendorError(operation, res, ctx.settings.throttleDelayMs);
  const answer = parse(operation, res) as {
    day?: unknown;
    status?: unknown;
    amplitude_ids?: unknown;
    invalid_ids?: unknown;
  };
  if (typeof answer.day !== 'string' || !DAY.test(answer.day)) {
    throw new TransientVendorError(
      { vendor: 'amplitude', operation, status: res.statusCode },
      'answered without a job day',
    );
  }
  const invalid: AmplitudeIdentifier[] = [];
  for (const id of Array.isArray(answer.invalid_ids) ? answer.invalid_ids : []) {
    if (typeof id === 'string') invalid.push({ kind: 'user_id', value: id });
    else if (typeof id === 'number' && Number.isSafeInteger(id))
      invalid.push({ kind: 'amplitude_id', value: String(id) });
  }
  return {
    day: answer.day,
    status: typeof answer.status === 'string' ? readStatus(answer.status) : 'staging',
    entries: readEntries(answer.amplitude_ids),
    invalid,
  };
}

async function listDeletions(
  ctx: AmplitudeContext,
  startDay: string,
  endDay: string,
  signal?: AbortSignal,
): Promise<DeletionJob[]> {
  if (!DAY.test(startDay) || !DAY.test(endDay)) throw new Error('days must be YYYY-MM-DD');
  const done = startDay === endDay ? ctx.doneJobs.get(startDay) : undefined;
  if (done && done.until > Date.now()) return [done.job];
  // Polls still waiting for their turn share one call over the union of their days: at 1 call/s,
  // one poll per job day would otherwise crowd out the creates (and cost a call each).
  const waiting = ctx.lists.pending;
  if (
    waiting &&
    daysBetween(minDay(waiting.startDay, startDay), maxDay(waiting.endDay, endDay)) <= MAX_LIST_RANGE_DAYS
  ) {
    waiting.startDay = minDay(waiting.startDay, startDay);
    waiting.endDay = maxDay(waiting.endDay, endDay);
    return (await waiting.jobs).filter((job) => job.day >= startDay && job.day <= endDay);
  }
  const group: PendingList = { startDay, endDay, jobs: Promise.resolve([]) };
  group.jobs = fetchDeletions(ctx, group, signal).then((jobs) => {
    rememberDone(ctx.doneJobs, jobs);
    return jobs;
  });
  ctx.lists.pending = group;
  return group.jobs;
}

async function cancelDeletion(
  ctx: AmplitudeContext,
  amplitudeId: string,
  day: string,
  signal?: AbortSignal,
): Promise<void> {
  const operation = 'cancelDeletion';
  if (!DIGITS.test(amplitudeId) || !DAY.test(day))
    throw new Error('cancelDeletion takes an Amplitude id and a YYYY-MM-DD day');
  const res = await ctx.call(
    operation,
    () => ctx.api.delete(`${DELETIONS}/${amplitudeId}/${day}`, { signal, context: { operation } }),
    signal,
  );
  if (res.statusCode !== 200) throw toVendorError(operation, res, ctx.settings.throttleDelayMs);
}
