/** Where a project's data lives; each region has its own host (vendor-contracts §5.1). */
export type AmplitudeRegion = 'us' | 'eu';

/** One end user as a project knows them: Amplitude's numeric id, and the app's user id once set. */
export interface AmplitudeUser {
  amplitudeId: number;
  userId?: string;
  deviceId?: string;
  /** Events tracked for the user, so tests can see whose data exists. */
  events: number;
}

/** One Amplitude ID in a deletion job, as the API shows it (`user_id` only on POST with `include_mapped_user_ids`). */
export interface DeletionEntryView {
  amplitude_id: number;
  requested_on_day: string;
  requester: string | null;
  user_id?: string;
}

interface DeletionEntry {
  amplitudeId: number;
  requestedOnDay: string;
  requester: string | null;
  /** The user id the Amplitude ID was mapped to when it was requested. */
  userId?: string;
}

export type DeletionJobStatus = 'staging' | 'submitted' | 'done';

/** A batch of deletions in one project, scheduled to run on `day`. */
export interface DeletionJob {
  day: string;
  /** Set once an org-wide request (`delete_from_org`) put users into this job. */
  app?: number;
  entries: Map<number, DeletionEntry>;
  /** Whether its users' data has been removed yet (applied lazily, on the next read after the scrub). */
  scrubbed: boolean;
}

/** A job as `GET /api/2/deletions/users` lists it. */
export interface DeletionJobView {
  day: string;
  amplitude_ids: DeletionEntryView[];
  status: DeletionJobStatus;
  app?: number;
  active_scrub_done_date?: string;
}

/** What a create-deletion call answers for one project. */
export interface DeletionResult {
  day: string;
  status: 'staging';
  amplitude_ids: DeletionEntryView[];
  app?: number;
  invalid_ids?: Array<number | string>;
}

export interface AmplitudeProject {
  /** Amplitude's numeric project ("app") id. */
  appId: number;
  name: string;
  orgId: string;
  region: AmplitudeRegion;
  apiKey: string;
  secretKey: string;
  users: Map<number, AmplitudeUser>;
  /** Live user id → Amplitude ID. */
  userIds: Map<string, number>;
  /** Keyed by the job's `day`. */
  jobs: Map<string, DeletionJob>;
}

/** A create-deletion request after the wire format has been parsed. */
export interface DeletionRequest {
  amplitudeIds: number[];
  userIds: string[];
  requester: string | null;
  ignoreInvalidIds: boolean;
  deleteFromOrg: boolean;
  includeMappedUserIds: boolean;
}

/** How deletion batches move through their states, in days of the sandbox clock. */
export interface AmplitudeSchedule {
  /**
   * Days from a batch's first request to the day it runs. Older docs say "10–13 days after".
   * Must exceed the 3-day lock, or new batches would be born locked. @defaultValue 10
   */
  leadDays: number;
  /** Days from the run day until `active_scrub_done_date` (the data is gone). @defaultValue 1 */
  scrubDays: number;
}

/** Amplitude's documented rules (vendor-contracts §5.2, §5.5). */
export const MAX_IDS_PER_REQUEST = 100;
export const LOCK_DAYS_BEFORE_RUN = 3;
export const BACKUP_CLEAR_DAYS = 5;
const DAY_MS = 86_400_000;

/** Why a request failed, so the simulator can pick the wire answer (some codes are options). */
export type AmplitudeFaultReason =
  'bad-request' | 'invalid-ids' | 'job-not-found' | 'entry-not-found' | 'job-not-staging';

/** An Amplitude answer other than success: the simulator turns it into the wire error. */
export class AmplitudeFault extends Error {
  constructor(
    readonly status: number,
    readonly reason: AmplitudeFaultReason,
    message: string,
  ) {
    super(message);
    this.name = 'AmplitudeFault';
  }
}

const badRequest = (message: string, reason: AmplitudeFaultReason = 'bad-request') =>
  new AmplitudeFault(400, reason, message);

/** `YYYY-MM-DD` of an epoch millisecond, in UTC (Amplitude schedules in whole days). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Epoch millisecond of a `YYYY-MM-DD` day's start, or undefined when it is not a real date in that format. */
export function parseDay(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return undefined;
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isFinite(ms) && dayOf(ms) === text ? ms : undefined;
}

/**
 * The simulator's state: projects, their users and their deletion jobs, with Amplitude's rules
 * for scheduling. Job status is computed from the sandbox clock on every read, and a job's users
 * are removed on the first read after its scrub date, so tests move it all with `clock.advance`.
 */
export class AmplitudeStore {
  readonly projects = new Map<number, AmplitudeProject>();
  private readonly schedule: AmplitudeSchedule;
  /** Far above the seeded ranges, so re-ingested users never collide with seeded ones. */
  private nextAmplitudeId = 900_000_000;

  constructor(
    private readonly now: () => number,
    schedule: Partial<AmplitudeSchedule> = {},
  ) {
    this.schedule = { leadDays: schedule.leadDays ?? 10, scrubDays: schedule.scrubDays ?? 1 };
    if (!Number.isInteger(this.schedule.leadDays) || this.schedule.leadDays <= LOCK_DAYS_BEFORE_RUN) {
      throw new RangeError(`leadDays must be an integer above ${LOCK_DAYS_BEFORE_RUN}`);
    }
    if (!Number.isInteger(this.schedule.scrubDays) || this.schedule.scrubDays < 0)
      throw new RangeError('scrubDays must be a non-negative integer');
  }

  createProject(
    input: Pick<AmplitudeProject, 'appId' | 'name' | 'orgId' | 'apiKey' | 'secretKey'> & { region?: AmplitudeRegion },
  ): AmplitudeProject {
    const project: AmplitudeProject = { region: 'us', ...input, users: new Map(), userIds: new Map(), jobs: new Map() };
    this.projects.set(project.appId, project);
    return project;
  }

  project(appId: number): AmplitudeProject {
    const project = this.projects.get(appId);
    if (!project) throw new RangeError(`no Amplitude project ${appId}`);
    return project;
  }

  /** The project an API key + secret key pair belongs to in a region, if the pair is right. */
  authenticate(apiKey: string, secretKey: string, region: AmplitudeRegion): AmplitudeProject | undefined {
    for (const project of this.projects.values()) {
      if (project.region === region && project.apiKey === apiKey && project.secretKey === secretKey) return project;
    }
    return undefined;
  }

  /** Seeds a user with a known Amplitude ID. */
  addUser(appId: number, user: Omit<AmplitudeUser, 'events'> & { events?: number }): AmplitudeUser {
    const project = this.project(appId);
    const stored: AmplitudeUser = { events: 1, ...user };
    project.users.set(stored.amplitudeId, stored);
    if (stored.userId !== undefined) project.userIds.set(stored.userId, stored.amplitudeId);
    return stored;
  }

  /** A live user by Amplitude ID (undefined once a deletion job has scrubbed them). */
  user(appId: number, amplitudeId: number): AmplitudeUser | undefined {
    this.settle();
    return this.project(appId).users.get(amplitudeId);
  }

  /** The live Amplitude ID a user id maps to in a project. */
  amplitudeIdOf(appId: number, userId: string): number | undefined {
    this.settle();
    return this.project(appId).userIds.get(userId);
  }

  /**
   * An event arrives for `userId`. Deletion does not block tracking (vendor-contracts §5.5): once a
   * job has scrubbed the user, the event creates a NEW user with a new Amplitude ID. Returns the
   * Amplitude ID the event landed on. Defaults to the first project created (the seeded one).
   */
  ingest(userId: string, appId: number = this.projects.keys().next().value ?? -1): number {
    this.settle();
    const project = this.project(appId);
    const existing = project.userIds.get(userId);
    const user = existing === undefined ? undefined : project.users.get(existing);
    if (user) {
      user.events += 1;
      return user.amplitudeId;
    }
    return this.addUser(appId, { amplitudeId: this.nextAmplitudeId++, userId }).amplitudeId;
  }

  /**
   * `POST /api/2/deletions/users`: one result for the caller's project, or with `deleteFromOrg`
   * one result per project of the organisation that has data for any of the users.
   */
  requestDeletion(caller: AmplitudeProject, request: DeletionRequest): DeletionResult | DeletionResult[] {
    this.settle();
    const total = request.amplitudeIds.length + request.userIds.length;
    if (total === 0) throw badRequest('amplitude_ids or user_ids is required');
    // Whether the cap counts both arrays together is unconfirmed (§5.2); together is the safe reading.
    if (total > MAX_IDS_PER_REQUEST) throw badRequest(`at most ${MAX_IDS_PER_REQUEST} ids per request`);
    if (!request.deleteFromOrg) {
      const resolved = resolveIds(caller, request);
      if (resolved.invalid.length > 0 && !request.ignoreInvalidIds) {
        throw badRequest('some ids were not found in the project; nothing was scheduled', 'invalid-ids');
      }
      const result = this.enqueue(caller, resolved.found, request, false);
      return request.ignoreInvalidIds ? { ...result, invalid_ids: resolved.invalid } : result;
    }
    // Org-wide deletes ignore invalid ids regardless of the flag (§5.2) and skip projects without the users.
    const results: DeletionResult[] = [];
    for (const project of this.projects.values()) {
      if (project.orgId !== caller.orgId || project.region !== caller.region) continue;
      const resolved = resolveIds(project, request);
      if (resolved.found.length === 0) continue;
      results.push({ ...this.enqueue(project, resolved.found, request, true), invalid_ids: resolved.invalid });
    }
    return results;
  }

  /** `GET /api/2/deletions/users`: the project's jobs whose `day` lies in the range, oldest first. */
  listJobs(project: AmplitudeProject, startDay: string, endDay: string): DeletionJobView[] {
    this.settle();
    return [...project.jobs.values()]
      .filter((job) => job.day >= startDay && job.day <= endDay)
      .sort((a, b) => a.day.localeCompare(b.day))
      .map((job) => this.jobView(job));
  }

  /**
   * `DELETE /api/2/deletions/users/{id}/{day}`: takes one Amplitude ID out of a staging job.
   * `byUserId` also accepts a user id in place of the Amplitude ID (the older doc's reading).
   */
  cancel(project: AmplitudeProject, id: string, day: string, byUserId = false): DeletionEntryView {
    this.settle();
    const job = project.jobs.get(day);
    if (!job) throw badRequest(`no deletion job on ${day}`, 'job-not-found');
    if (this.status(job) !== 'staging')
      throw badRequest(`the job on ${day} is ${this.status(job)} and can no longer change`, 'job-not-staging');
    let entry = /^\d+$/.test(id) ? job.entries.get(Number(id)) : undefined;
    if (!entry && byUserId) entry = [...job.entries.values()].find((e) => e.userId === id);
    if (!entry) throw badRequest(`${id} is not in the job on ${day}`, 'entry-not-found');
    job.entries.delete(entry.amplitudeId);
    return entryView(entry, false);
  }

  /** A job's status now: staging until `day` − 3, submitted until its backups are cleared, then done. */
  status(job: DeletionJob): DeletionJobStatus {
    const now = this.now();
    const run = jobDay(job);
    if (now < run - LOCK_DAYS_BEFORE_RUN * DAY_MS) return 'staging';
    return now < this.scrubDoneAt(job) + BACKUP_CLEAR_DAYS * DAY_MS ? 'submitted' : 'done';
  }

  /** The job new requests join now: the project's staging job, or a new batch `leadDays` ahead. */
  private stagingJob(project: AmplitudeProject): DeletionJob {
    for (const job of project.jobs.values()) if (this.status(job) === 'staging') return job;
    const job: DeletionJob = {
      day: dayOf(this.now() + this.schedule.leadDays * DAY_MS),
      entries: new Map(),
      scrubbed: false,
    };
    project.jobs.set(job.day, job);
    return job;
  }

  private enqueue(
    project: AmplitudeProject,
    users: AmplitudeUser[],
    request: DeletionRequest,
    orgWide: boolean,
  ): DeletionResult {
    // Nothing valid to delete: answer with the day a job would run, without creating an empty job.
    const job = users.length > 0 ? this.stagingJob(project) : undefined;
    const entries: DeletionEntryView[] = [];
    for (const user of users) {
      if (!job) break;
      let entry = job.entries.get(user.amplitudeId);
      if (!entry) {
        entry = {
          amplitudeId: user.amplitudeId,
          requestedOnDay: dayOf(this.now()),
          requester: request.requester,
          userId: user.userId,
        };
        job.entries.set(user.amplitudeId, entry);
      }
      entries.push(entryView(entry, request.includeMappedUserIds));
    }
    if (job && orgWide) job.app = project.appId;
    const result: DeletionResult = {
      day: job?.day ?? this.currentStagingDay(project),
      status: 'staging',
      amplitude_ids: entries,
    };
    return orgWide ? { ...result, app: project.appId } : result;
  }

  private currentStagingDay(project: AmplitudeProject): string {
    for (const job of project.jobs.values()) if (this.status(job) === 'staging') return job.day;
    return dayOf(this.now() + this.schedule.leadDays * DAY_MS);
  }

  private scrubDoneAt(job: DeletionJob): number {
    return jobDay(job) + this.schedule.scrubDays * DAY_MS;
  }

  private jobView(job: DeletionJob): DeletionJobView {
    const view: DeletionJobView = {
      day: job.day,
      amplitude_ids: [...job.entries.values()].map((e) => entryView(e, false)),
      status: this.status(job),
    };
    if (job.app !== undefined) view.app = job.app;
    const scrubDone = this.scrubDoneAt(job);
    if (this.now() >= scrubDone) view.active_scrub_done_date = dayOf(scrubDone);
    return view;
  }

  /** Removes the users of every job whose scrub is done: from then on their ids are unknown. */
  private settle(): void {
    const now = this.now();
    for (const project of this.projects.values()) {
      for (const job of project.jobs.values()) {
        if (job.scrubbed || now < this.scrubDoneAt(job)) continue;
        for (const entry of job.entries.values()) {
          const user = project.users.get(entry.amplitudeId);
          if (!user) continue;
          project.users.delete(entry.amplitudeId);
          if (user.userId !== undefined && project.userIds.get(user.userId) === entry.amplitudeId)
            project.userIds.delete(user.userId);
        }
        job.scrubbed = true;
      }
    }
  }
}

function resolveIds(
  project: AmplitudeProject,
  request: DeletionRequest,
): { found: AmplitudeUser[]; invalid: Array<number | string> } {
  const found = new Map<number, AmplitudeUser>();
  const invalid: Array<number | string> = [];
  for (const id of request.amplitudeIds) {
    const user = project.users.get(id);
    if (user) found.set(id, user);
    else invalid.push(id);
  }
  for (const userId of request.userIds) {
    const amplitudeId = project.userIds.get(userId);
    const user = amplitudeId === undefined ? undefined : project.users.get(amplitudeId);
    if (user) found.set(user.amplitudeId, user);
    else invalid.push(userId);
  }
  return { found: [...found.values()], invalid };
}

function entryView(entry: DeletionEntry, withUserId: boolean): DeletionEntryView {
  const view: DeletionEntryView = {
    amplitude_id: entry.amplitudeId,
    requested_on_day: entry.requestedOnDay,
    requester: entry.requester,
  };
  if (withUserId && entry.userId !== undefined) view.user_id = entry.userId;
  return view;
}

/** A job's run day in ms; jobs are only ever created with a day from dayOf(), so it parses. */
function jobDay(job: DeletionJob): number {
  const run = parseDay(job.day);
  if (run === undefined) throw new Error(`deletion job day '${job.day}' does not parse`);
  return run;
}
