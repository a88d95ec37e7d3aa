import type { Database, Queryable } from './database.js';
import { KeyNotLoadedError, type IdentityCipher } from '../privacy/identity-cipher.js';
import { IDENTIFIER_KINDS, type IdentifierKind, type Subject } from '../privacy/subject.js';
import {
  FINAL_REQUEST_STATUSES,
  TERMINAL_TASK_STATES,
  type Regulation,
  type RequestRecord,
  type RequestStatus,
  type StatusChange,
  type TaskRecord,
  type TaskSpec,
  type TaskState,
} from './ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { SHREDDED_TEXT, type ChainEntry } from '../receipts/audit-chain.js';
import { appendAuditEvent, appendFirstAuditEvents, auditChainLock, freeTextOf, insertAuditEvent } from './audit-log.js';
import { FREE_TEXT_FIELDS, digestKey } from '../privacy/free-text.js';
import { atRiskCondition } from './deadline-risk-ledger.js';
import { canonicalJson } from '../privacy/canonical-json.js';
import type { DurationEstimate } from '../deadlines/at-risk.js';
import {
  TASK_EVIDENCE_STATES,
  checkTaskTarget,
  mayRequestMove,
  requestGuard,
  stateIn,
  taskGuard,
  type TaskTransitionName,
  type TaskWriteResult,
} from './task-transitions.js';

/** What on-call decided about a failed task that will never succeed. */
export type OperatorDecision = 'skipped' | 'resolved';

export interface NewRequest {
  id: string;
  /**
   * The client the request belongs to: the submitting token's name (DESIGN.md Invariant 10). Unset,
   * it is the actor's name without its `token:` / `opendsr:` prefix.
   */
  client?: string;
  /**
   * The client's idempotency key, hashed before it is stored (it could be anything, even an
   * address). Unique per client, and bound to a keyed fingerprint of subject, vendors and regulation.
   */
  idempotencyKey?: string;
  regulation: Regulation;
  vendors: VendorName[];
  subject: Subject;
  callbackUrl?: string;
  /** 'native' unless set (e.g. 'opendsr'). */
  origin?: string;
  submittedAt: Date;
  dueAt: Date;
  notBefore?: Date;
  tasks: TaskSpec[];
  actor: string;
  /** Runs inside the creating transaction (only when the request is new): rows that belong with it. */
  afterInsert?: (tx: Queryable, request: RequestRecord) => Promise<void>;
}

export interface ListRequestsFilter {
  status?: RequestStatus;
  /** Only this client's requests (a submitter's own, or a staff filter). */
  client?: string;
  overdue?: boolean;
  /** Only requests at risk (true) or not at risk (false) under these duration estimates (src/deadlines/at-risk.ts). */
  atRisk?: { value: boolean; estimates: readonly DurationEstimate[] };
  /** Page size, 1..500. */
  limit: number;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  now?: Date;
}

export interface TaskDeferral {
  state: Extract<TaskState, 'queued' | 'rate_limited' | 'waiting_vendor' | 'waiting_manual'>;
  reason: string;
  nextActionAt?: Date;
  error?: string;
  /** What the task has learnt so far, merged into its evidence (as `checkpointTask` does). */
  evidence?: Record<string, unknown>;
}

/**
 * Outcome of settling a request whose tasks have all ended. `partial` counts tasks that
 * succeeded only in part (e.g. a Segment regulation that ended PARTIAL_SUCCESS): they make
 * the outcome completed_with_errors, never completed.
 */
export function outcomeOf(states: TaskState[], partial = 0): RequestStatus {
  if (states.includes('cancelled') && states.every((s) => s === 'cancelled' || s === 'skipped')) return 'cancelled';
  const failed = states.filter((s) => s === 'failed').length;
  if (failed === 0) return partial > 0 ? 'completed_with_errors' : 'completed';
  return failed === states.length ? 'failed' : 'completed_with_errors';
}

/** SQL: the task is a manual step an operator has recorded as sent to the vendor (markManualTaskSent). */
const SENT_MANUAL_STEP = `(job_name = 'manual' AND evidence ? 'sent')`;
const SENT_CANNOT_CANCEL = 'sent to the vendor before the cancel; it cannot be cancelled: record the vendor’s confirmation when it comes';
const SENT_CANNOT_CANCEL_WHY = 'the request was cancelled after this manual step had been sent to the vendor, which cannot take it back';

const inList = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/**
 * What creating a request answered. `created: false` with `reusedKey` means the client's idempotency
 * key already belongs to one of its requests with another subject, vendors or regulation: nothing
 * was created or changed, and the caller must refuse (422), never answer with `request`.
 */
export interface CreateRequestResult {
  request: RequestRecord;
  created: boolean;
  reusedKey?: boolean;
}

/** The client a request belongs to when none is given: the actor without its `token:` / `opendsr:` prefix (as migration 7). */
export function clientOfActor(actor: string): string {
  return actor.replace(/^(token|opendsr):/, '');
}

/**
 * What settling a request `r` reads of its tasks: their states, and how many succeeded only in part
 * or were closed by an operator's decision (skip, resolve: never verified, so never a clean `completed`).
 */
const TASK_OUTCOME_COLUMNS = `(SELECT array_agg(state) FROM tasks WHERE request_id = r.id) AS states,
  (SELECT count(*)::int FROM tasks WHERE request_id = r.id AND ((evidence->>'partial') = 'true' OR evidence ? 'operatorDecision')) AS partial`;

/**
 * The system of record (Postgres or PGlite): requests, their tasks, the sealed identity vault and
 * the audit trail. Every write the service makes about a request goes through here.
 */
export class RequestLedger {
  private readonly statusListeners: Array<(change: StatusChange) => Promise<void> | void> = [];
  private readonly statusWriters: Array<(tx: Queryable, change: StatusChange) => Promise<void>> = [];

  constructor(
    private readonly db: Database,
    private readonly cipher: IdentityCipher,
  ) {}

  /**
   * Called after every committed status change of a request (not its creation), in the process
   * that made it; status callbacks are queued from here (src/callbacks/callback-outbox.ts). A listener's
   * failure never fails the change.
   */
  onStatusChange(listener: (change: StatusChange) => Promise<void> | void): void {
    this.statusListeners.push(listener);
  }

  /**
   * Called inside the transaction of every status change of a request, so what it writes commits
   * (or rolls back) with the change: the callback outbox (src/callbacks/callback-outbox.ts). A
   * writer's failure fails the change.
   */
  onStatusChangeInTransaction(writer: (tx: Queryable, change: StatusChange) => Promise<void>): void {
    this.statusWriters.push(writer);
  }

  private async recordStatusChange(tx: Queryable, row: RequestRow | undefined, from: RequestStatus | undefined): Promise<void> {
    if (!row || !from || row.status === from) return;
    const change: StatusChange = { request: toRequest(row), from, to: row.status };
    for (const writer of this.statusWriters) await writer(tx, change);
  }

  private async emitStatusChange(row: RequestRow | undefined, from: RequestStatus | undefined): Promise<void> {
    if (!row || !from || row.status === from || this.statusListeners.length === 0) return;
    const change: StatusChange = { request: toRequest(row), from, to: row.status };
    await Promise.allSettled(this.statusListeners.map(async (listener) => listener(change)));
  }

  /** Keyed hash of a client idempotency key, or of an identifier (`kind` tells which). */
  hash(kind: string, value: string): string {
    return this.cipher.lookupHash(kind, value);
  }

  /**
   * Commits a request with its sealed identities and planned tasks in one transaction.
   * The same client's idempotency key twice returns the first request with `created: false`, and
   * `reusedKey` when the payload differs (DESIGN.md Invariant 10).
   */
  async createRequest(input: NewRequest): Promise<CreateRequestResult> {
    return this.db.transaction((tx) => this.insertRequest(tx, input));
  }

  /** Keyed fingerprint of what an idempotency key is bound to: the normalised subject, the vendors (as a set) and the regulation. */
  private fingerprint(input: NewRequest): string {
    return this.cipher.lookupHash('request-fingerprint', canonicalJson({ subject: input.subject, vendors: [...input.vendors].sort(), regulation: input.regulation }));
  }

  /**
   * Whether a repeat of a key carries the payload the key's request was made with. A row from
   * before fingerprints (migration 7) is compared by its identities' lookup hashes, vendors and regulation.
   */
  private async samePayload(tx: Queryable, existing: RequestRow, input: NewRequest, fingerprint: string): Promise<boolean> {
    if (existing.idempotency_fingerprint) return existing.idempotency_fingerprint === fingerprint;
    if (existing.regulation !== input.regulation || [...existing.vendors].sort().join(',') !== [...input.vendors].sort().join(',')) return false;
    const { rows } = await tx.query<{ kind: string; lookup_hash: string }>(`SELECT kind, lookup_hash FROM request_identities WHERE request_id = $1`, [existing.id]);
    const kinds = IDENTIFIER_KINDS.filter((k) => input.subject[k] !== undefined);
    return rows.length === kinds.length && kinds.every((k) => rows.some((r) => r.kind === k && r.lookup_hash === this.cipher.lookupHash(k, input.subject[k]!)));
  }

  private async insertRequest(tx: Queryable, input: NewRequest): Promise<CreateRequestResult> {
    const idempotencyHash = input.idempotencyKey ? this.cipher.lookupHash('idempotency-key', input.idempotencyKey) : null;
    const kinds = IDENTIFIER_KINDS.filter((k) => input.subject[k] !== undefined);
    if (kinds.length === 0) throw new Error('a request needs at least one identifier');
    const firstKind = kinds[0];
    const subjectHash = this.cipher.lookupHash(firstKind, input.subject[firstKind]!);
    const client = input.client ?? clientOfActor(input.actor);
    const fingerprint = idempotencyHash ? this.fingerprint(input) : null;
    // A second transaction with the same (client, key) waits here for the first to commit, then
    // finds its row: concurrent repeats are answered as repeats, never as a second request.
    const inserted = await tx.query<RequestRow>(
      `INSERT INTO requests (id, idempotency_hash, regulation, status, vendors, subject_hash, callback_url, submitted_at, due_at, not_before, origin, client, idempotency_fingerprint)
       VALUES ($1, $2, $3, 'received', $4, $5, $6, $7, $8, $9, $10, $11, $12)
       ON CONFLICT (client, idempotency_hash) DO NOTHING
       RETURNING *`,
      [input.id, idempotencyHash, input.regulation, input.vendors, subjectHash, input.callbackUrl ?? null, input.submittedAt, input.dueAt, input.notBefore ?? null, input.origin ?? 'native', client, fingerprint],
    );
    if (inserted.rows.length === 0) {
      const { rows } = await tx.query<RequestRow>(`SELECT * FROM requests WHERE client = $1 AND idempotency_hash = $2`, [client, idempotencyHash]);
      const existing = rows[0];
      return { request: toRequest(existing), created: false, ...((await this.samePayload(tx, existing, input, fingerprint!)) ? {} : { reusedKey: true }) };
    }
    for (const kind of kinds) {
      const value = input.subject[kind]!;
      await tx.query(`INSERT INTO request_identities (request_id, kind, lookup_hash, sealed) VALUES ($1, $2, $3, $4)`, [
        input.id,
        kind,
        this.cipher.lookupHash(kind, value),
        this.cipher.seal(value),
      ]);
    }
    for (const task of input.tasks) {
      await tx.query(
        `INSERT INTO tasks (id, request_id, vendor, resource, action, queue, job_name, state, waiting_reason, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8 = 'skipped' THEN now() END)`,
        [task.id, input.id, task.vendor, task.resource, task.action, task.queue, task.jobName, task.initialState ?? 'queued', task.waitingReason ?? null],
      );
    }
    await this.auditWith(tx, input.id, input.actor, 'request.received', { vendors: input.vendors, tasks: input.tasks.length, identifiers: kinds });
    const request = toRequest(inserted.rows[0]);
    if (input.afterInsert) await input.afterInsert(tx, request);
    return { request, created: true };
  }

  /**
   * Commits many native requests in one transaction with set-based inserts (bulk intake): the
   * same rows, audit entries and per-input answer as `createRequest` once per input, in a handful
   * of statements instead of a dozen per request. Inputs with `afterInsert` are refused.
   */
  async createRequests(inputs: NewRequest[]): Promise<CreateRequestResult[]> {
    if (inputs.some((i) => i.afterInsert)) throw new Error('createRequests takes requests without afterInsert; use createRequest');
    if (inputs.length === 0) return [];
    const prepared = inputs.map((input) => {
      const kinds = IDENTIFIER_KINDS.filter((k) => input.subject[k] !== undefined);
      if (kinds.length === 0) throw new Error('a request needs at least one identifier');
      const idempotencyHash = input.idempotencyKey ? this.cipher.lookupHash('idempotency-key', input.idempotencyKey) : null;
      return {
        input,
        kinds,
        idempotencyHash,
        client: input.client ?? clientOfActor(input.actor),
        fingerprint: idempotencyHash ? this.fingerprint(input) : null,
        subjectHash: this.cipher.lookupHash(kinds[0], input.subject[kinds[0]]!),
      };
    });
    return this.db.transaction(async (tx) => {
      const column = <T>(pick: (p: (typeof prepared)[number]) => T) => prepared.map(pick);
      const { rows: inserted } = await tx.query<RequestRow>(
        `INSERT INTO requests (id, idempotency_hash, regulation, status, vendors, subject_hash, callback_url, submitted_at, due_at, not_before, origin, client, idempotency_fingerprint)
         SELECT id, idempotency_hash, regulation, 'received', string_to_array(vendors, ','), subject_hash, callback_url, submitted_at, due_at, not_before, 'native', client, fingerprint
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::text[], $11::text[])
           AS t(id, idempotency_hash, regulation, vendors, subject_hash, callback_url, submitted_at, due_at, not_before, client, fingerprint)
         ON CONFLICT (client, idempotency_hash) DO NOTHING
         RETURNING *`,
        [
          column((p) => p.input.id),
          column((p) => p.idempotencyHash),
          column((p) => p.input.regulation),
          column((p) => p.input.vendors.join(',')),
          column((p) => p.subjectHash),
          column((p) => p.input.callbackUrl ?? null),
          column((p) => p.input.submittedAt),
          column((p) => p.input.dueAt),
          column((p) => p.input.notBefore ?? null),
          column((p) => p.client),
          column((p) => p.fingerprint),
        ],
      );
      const byId = new Map(inserted.map((row) => [row.id, row]));
      const created = prepared.filter((p) => byId.has(p.input.id));
      const duplicates = prepared.filter((p) => !byId.has(p.input.id));
      const existing = new Map<string, RequestRow>();
      const keyOf = (client: string, hash: string | null) => `${client}\u0000${hash}`;
      if (duplicates.length) {
        const { rows } = await tx.query<RequestRow>(
          `SELECT r.* FROM requests r JOIN unnest($1::text[], $2::text[]) AS k(client, idempotency_hash) ON r.client = k.client AND r.idempotency_hash = k.idempotency_hash`,
          [duplicates.map((p) => p.client), duplicates.map((p) => p.idempotencyHash)],
        );
        for (const row of rows) existing.set(keyOf(row.client, row.idempotency_hash), row);
      }
      const reused = new Set<(typeof prepared)[number]>();
      for (const p of duplicates) if (!(await this.samePayload(tx, existing.get(keyOf(p.client, p.idempotencyHash))!, p.input, p.fingerprint!))) reused.add(p);

      const identities = created.flatMap((p) => p.kinds.map((kind) => ({ id: p.input.id, kind, value: p.input.subject[kind]! })));
      await tx.query(
        `INSERT INTO request_identities (request_id, kind, lookup_hash, sealed) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])`,
        [identities.map((i) => i.id), identities.map((i) => i.kind), identities.map((i) => this.cipher.lookupHash(i.kind, i.value)), identities.map((i) => this.cipher.seal(i.value))],
      );
      const tasks = created.flatMap((p) => p.input.tasks.map((task) => ({ ...task, requestId: p.input.id })));
      await tx.query(
        `INSERT INTO tasks (id, request_id, vendor, resource, action, queue, job_name, state, waiting_reason, finished_at)
         SELECT id, request_id, vendor, resource, action, queue, job_name, state, waiting_reason, CASE WHEN state = 'skipped' THEN now() END
         FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
           AS t(id, request_id, vendor, resource, action, queue, job_name, state, waiting_reason)`,
        [
          tasks.map((t) => t.id),
          tasks.map((t) => t.requestId),
          tasks.map((t) => t.vendor),
          tasks.map((t) => t.resource),
          tasks.map((t) => t.action),
          tasks.map((t) => t.queue),
          tasks.map((t) => t.jobName),
          tasks.map((t) => t.initialState ?? 'queued'),
          tasks.map((t) => t.waitingReason ?? null),
        ],
      );
      // Each new request starts its own audit chain: nothing to lock or read, the first entry has no predecessor.
      await appendFirstAuditEvents(
        tx,
        created.map((p) => ({ chainId: p.input.id, actor: p.input.actor, action: 'request.received', detail: { vendors: p.input.vendors, tasks: p.input.tasks.length, identifiers: p.kinds } })),
      );
      return prepared.map((p) => {
        const row = byId.get(p.input.id);
        if (row) return { request: toRequest(row), created: true };
        return { request: toRequest(existing.get(keyOf(p.client, p.idempotencyHash))!), created: false, ...(reused.has(p) ? { reusedKey: true } : {}) };
      });
    });
  }

  async getRequest(id: string): Promise<RequestRecord | undefined> {
    const { rows } = await this.db.query<RequestRow>(`SELECT * FROM requests WHERE id = $1`, [id]);
    return rows[0] ? toRequest(rows[0]) : undefined;
  }

  async getTasks(requestId: string): Promise<TaskRecord[]> {
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE request_id = $1 ORDER BY vendor, id`, [requestId]);
    return rows.map(toTask);
  }

  async getTask(taskId: string): Promise<TaskRecord | undefined> {
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE id = $1`, [taskId]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /** Newest first, keyset-paged: `nextCursor` is set when there may be more. */
  async listRequests(filter: ListRequestsFilter): Promise<{ requests: RequestRecord[]; nextCursor?: string }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status) {
      params.push(filter.status);
      where.push(`status = $${params.length}`);
    }
    if (filter.client !== undefined) {
      params.push(filter.client);
      where.push(`client = $${params.length}`);
    }
    if (filter.overdue !== undefined) {
      params.push(filter.now ?? new Date());
      where.push(filter.overdue ? `finished_at IS NULL AND due_at < $${params.length}` : `NOT (finished_at IS NULL AND due_at < $${params.length})`);
    }
    if (filter.atRisk) {
      const condition = atRiskCondition(params, filter.atRisk.estimates, filter.now ?? new Date());
      where.push(filter.atRisk.value ? condition : `NOT ${condition}`);
    }
    if (filter.cursor) {
      const [createdAt, id] = decodeCursor(filter.cursor);
      params.push(createdAt, id);
      where.push(`(created_at, id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(filter.limit + 1);
    const { rows } = await this.db.query<RequestRow>(
      `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, filter.limit).map(toRequest);
    const last = page[page.length - 1];
    return rows.length > filter.limit && last ? { requests: page, nextCursor: encodeCursor(last) } : { requests: page };
  }

  /** Opens the vault for one request, in memory only, just in time for a worker. */
  async loadSubject(requestId: string): Promise<Subject> {
    const { rows } = await this.db.query<SealedIdentity>(`SELECT kind, sealed FROM request_identities WHERE request_id = $1`, [requestId]);
    return this.openSubject(rows);
  }

  private openSubject(identities: readonly SealedIdentity[]): Subject {
    const subject: Subject = {};
    for (const { kind, sealed } of identities) if (sealed) subject[kind as keyof Subject] = this.cipher.open(sealed);
    return subject;
  }

  /**
   * Seals an identifier a vendor revealed for the person (e.g. the Amplitude ID its user id maps
   * to) into an open request's vault, so a later step (withdrawing after a cancel) can use it.
   * Keeps an identifier of that kind the request already has; does nothing once the request ended.
   */
  async addIdentifier(requestId: string, kind: IdentifierKind, value: string): Promise<void> {
    await this.db.query(
      `INSERT INTO request_identities (request_id, kind, lookup_hash, sealed)
       SELECT id, $2, $3, $4 FROM requests WHERE id = $1 AND finished_at IS NULL
       ON CONFLICT (request_id, kind) DO NOTHING`,
      [requestId, kind, this.cipher.lookupHash(kind, value), this.cipher.seal(value)],
    );
  }

  /** Opens the vault for many requests at once (a shared batch's members), in memory only. */
  async loadSubjects(requestIds: string[]): Promise<Map<string, Subject>> {
    const subjects = new Map<string, Subject>(requestIds.map((id) => [id, {}]));
    if (requestIds.length === 0) return subjects;
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string | null }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE request_id = ANY($1::uuid[])`,
      [requestIds],
    );
    for (const row of rows) if (row.sealed) subjects.get(row.request_id)![row.kind as keyof Subject] = this.cipher.open(row.sealed);
    return subjects;
  }

  /**
   * `loadSubjects` for a shared batch in a rolling key rotation: a request sealed with a key this
   * process does not hold is listed in `unreadable` (with that key's id) instead of failing the
   * whole batch, so the batch can set aside only those members.
   */
  async loadReadableSubjects(requestIds: string[]): Promise<{ subjects: Map<string, Subject>; unreadable: Map<string, string> }> {
    const subjects = new Map<string, Subject>(requestIds.map((id) => [id, {}]));
    const unreadable = new Map<string, string>();
    if (requestIds.length === 0) return { subjects, unreadable };
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string | null }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE request_id = ANY($1::uuid[])`,
      [requestIds],
    );
    for (const row of rows) {
      if (!row.sealed) continue;
      try {
        subjects.get(row.request_id)![row.kind as keyof Subject] = this.cipher.open(row.sealed);
      } catch (err) {
        if (!(err instanceof KeyNotLoadedError)) throw err;
        unreadable.set(row.request_id, err.keyId);
      }
    }
    for (const requestId of unreadable.keys()) subjects.delete(requestId);
    return { subjects, unreadable };
  }

  /** The states of many tasks at once; a task that does not exist is absent. */
  async taskStates(taskIds: string[]): Promise<Map<string, TaskState>> {
    if (taskIds.length === 0) return new Map();
    const { rows } = await this.db.query<{ id: string; state: TaskState }>(`SELECT id, state FROM tasks WHERE id = ANY($1::text[])`, [taskIds]);
    return new Map(rows.map((r) => [r.id, r.state]));
  }

  /** After the flow is in Redis: `received` → `in_progress` (or `scheduled` while a grace period runs). */
  async markEnqueued(requestId: string, now = new Date()): Promise<void> {
    const row = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<RequestRow>(
        `UPDATE requests SET status = CASE WHEN not_before IS NOT NULL AND not_before > $2 THEN 'scheduled' ELSE 'in_progress' END, updated_at = now()
         WHERE id = $1 AND ${requestGuard('enqueue')} RETURNING *`,
        [requestId, now],
      );
      await this.recordStatusChange(tx, rows[0], 'received');
      return rows[0];
    });
    await this.emitStatusChange(row, 'received');
  }

  /** `markEnqueued` for many requests in one transaction (bulk intake). */
  async markEnqueuedMany(requestIds: string[], now = new Date()): Promise<void> {
    if (requestIds.length === 0) return;
    const rows = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<RequestRow>(
        `UPDATE requests SET status = CASE WHEN not_before IS NOT NULL AND not_before > $2 THEN 'scheduled' ELSE 'in_progress' END, updated_at = now()
         WHERE id = ANY($1::uuid[]) AND ${requestGuard('enqueue')} RETURNING *`,
        [requestIds, now],
      );
      for (const row of rows) await this.recordStatusChange(tx, row, 'received');
      return rows;
    });
    for (const row of rows) await this.emitStatusChange(row, 'received');
  }

  /** Tasks of many requests, by request id (bulk intake). */
  async getTasksOf(requestIds: string[]): Promise<Map<string, TaskRecord[]>> {
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE request_id = ANY($1::uuid[]) ORDER BY vendor, id`, [requestIds]);
    const out = new Map<string, TaskRecord[]>(requestIds.map((id) => [id, []]));
    for (const row of rows) out.get(row.request_id)?.push(toTask(row));
    return out;
  }

  /**
   * Marks a task running for one more attempt and opens the person's identifiers for it (in
   * memory only). Returns undefined when the task already settled (a re-delivered job): the caller
   * must then do nothing.
   */
  async beginTask(taskId: string): Promise<{ task: TaskRecord; subject: Subject } | undefined> {
    // The common case, its request already in progress, needs no reopening: one statement, no
    // transaction, and the sealed identifiers come back with the task.
    const { rows: begunAlone } = await this.db.query<TaskRow & { identities: SealedIdentity[] | null }>(
      `WITH begun AS (
         UPDATE tasks t SET state = 'running', attempts = t.attempts + 1, started_at = COALESCE(t.started_at, now()), error = NULL,
           waiting_reason = NULL, next_action_at = NULL, finished_at = NULL, updated_at = now()
         FROM requests r
         WHERE t.id = $1 AND ${taskGuard('begin', 't.state')} AND r.id = t.request_id AND r.status = 'in_progress'
         RETURNING t.*)
       SELECT begun.*, (SELECT json_agg(json_build_object('kind', i.kind, 'sealed', i.sealed)) FROM request_identities i WHERE i.request_id = begun.request_id) AS identities
         FROM begun`,
      [taskId],
    );
    if (begunAlone[0]) {
      const { identities, ...row } = begunAlone[0];
      return { task: toTask(row), subject: this.openSubject(identities ?? []) };
    }
    let changed: { row?: RequestRow; from?: RequestStatus } = {};
    const begun = await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), error = NULL,
           waiting_reason = NULL, next_action_at = NULL, finished_at = NULL, updated_at = now()
         WHERE id = $1 AND ${taskGuard('begin')} RETURNING *`,
        [taskId],
      );
      const task = rows[0];
      if (!task) return undefined;
      changed = await this.reopenRequest(tx, task.request_id);
      return toTask(task);
    });
    await this.emitStatusChange(changed.row, changed.from);
    return begun ? { task: begun, subject: await this.loadSubject(begun.requestId) } : undefined;
  }

  /** Sets a request back to in_progress when REQUEST_TRANSITIONS allows it (never a cancelled one), returning the change. */
  private async reopenRequest(tx: Queryable, requestId: string): Promise<{ row?: RequestRow; from?: RequestStatus }> {
    const { rows } = await tx.query<RequestRow & { old_status: RequestStatus }>(
      `UPDATE requests r SET status = 'in_progress', finished_at = NULL, updated_at = now()
       FROM (SELECT id, status FROM requests WHERE id = $1 FOR UPDATE) old
       WHERE r.id = old.id AND ${requestGuard('reopen', 'old.status')}
       RETURNING r.*, old.status AS old_status`,
      [requestId],
    );
    if (!rows[0]) return {};
    await this.recordStatusChange(tx, rows[0], rows[0].old_status);
    return { row: rows[0], from: rows[0].old_status };
  }

  /**
   * Saves what a task has learnt so far, so a re-run after a crash can pick up from it. Refused
   * (`applied: false`) once the task has ended: a run that lost its task to a cancel or to another
   * run must stop, not add to evidence that is already final.
   */
  async checkpointTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    const { rows } = await this.db.query<{ state: TaskState }>(
      `UPDATE tasks SET evidence = evidence || $2::jsonb, updated_at = now() WHERE id = $1 AND ${stateIn(TASK_EVIDENCE_STATES)} RETURNING state`,
      [taskId, JSON.stringify(evidence)],
    );
    return rows[0] ? { applied: true, state: rows[0].state } : { applied: false, state: await this.taskState(taskId) };
  }

  /**
   * The one guarded write of a task's state: moves it to `to` only from a state the transition
   * allows (TASK_TRANSITIONS in src/ledger/task-transitions.ts), setting the columns in `set`
   * (parameters from $3). A write that finds the task in another state (another writer won the
   * race: a cancel, another run) changes nothing and reports that state.
   */
  private async moveTask(name: TaskTransitionName, taskId: string, to: TaskState, set: string, params: unknown[]): Promise<TaskWriteResult> {
    checkTaskTarget(name, to);
    const { rows } = await this.db.query<{ state: TaskState }>(
      `UPDATE tasks SET state = $2, ${set}, updated_at = now() WHERE id = $1 AND ${taskGuard(name)} RETURNING state`,
      [taskId, to, ...params],
    );
    return rows[0] ? { applied: true, state: rows[0].state } : { applied: false, state: await this.taskState(taskId) };
  }

  private async taskState(taskId: string): Promise<TaskState | undefined> {
    const { rows } = await this.db.query<{ state: TaskState }>(`SELECT state FROM tasks WHERE id = $1`, [taskId]);
    return rows[0]?.state;
  }

  /**
   * A vendor's circuit breaker opened (src/infrastructure/vendor-breaker.ts): every open task of the
   * vendor that is not running says why it waits. Only waiting states change; nothing settled or
   * cancelled is touched. `reason` must be free of identifiers. Returns how many tasks it marked.
   */
  async deferVendorTasks(vendor: VendorName, reason: string): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `WITH marked AS (
         UPDATE tasks SET state = 'waiting_vendor', waiting_reason = $2, next_action_at = NULL, updated_at = now()
          WHERE vendor = $1 AND ${taskGuard('pause')} AND waiting_reason IS DISTINCT FROM $2
          RETURNING 1)
       SELECT count(*)::int AS n FROM marked`,
      [vendor, reason],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /** The running task's outcome. Lost (`applied: false`) when the task is no longer running, e.g. withdrawn by a cancel. */
  async finishTask(taskId: string, state: 'succeeded' | 'not_found' | 'skipped', evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    return this.moveTask('finish', taskId, state, `evidence = evidence || $3::jsonb, error = NULL, waiting_reason = NULL, next_action_at = NULL, finished_at = now()`, [
      JSON.stringify(evidence),
    ]);
  }

  /** The running task parks itself. Lost when the task is no longer running: its job must then not be delayed or retried. */
  async deferTask(taskId: string, deferral: TaskDeferral): Promise<TaskWriteResult> {
    return this.moveTask('defer', taskId, deferral.state, `waiting_reason = $3, next_action_at = $4, error = COALESCE($5, error), evidence = evidence || $6::jsonb`, [
      deferral.reason,
      deferral.nextActionAt ?? null,
      deferral.error ?? null,
      JSON.stringify(deferral.evidence ?? {}),
    ]);
  }

  /** Final failure (until an operator retries). `error` must already be free of identifiers. Lost when the task has already ended. */
  async failTask(taskId: string, error: string): Promise<TaskWriteResult> {
    return this.moveTask('fail', taskId, 'failed', `error = $3, waiting_reason = NULL, next_action_at = NULL, finished_at = now()`, [error]);
  }

  /**
   * When every task has ended, writes the request's outcome (completed / completed_with_errors /
   * failed) and returns it; otherwise returns undefined and changes nothing. Safe to call often.
   */
  async settleRequest(requestId: string, actor = 'system'): Promise<RequestStatus | undefined> {
    // Most calls change nothing (one task of several ended, or the flow parent runs after the last
    // task settled the request): one read says so, without a transaction or a row lock. The last
    // task to commit its end always sees every other task ended, so no settlement is missed.
    const { rows: seen } = await this.db.query<{ status: RequestStatus; finished_at: Date | null; states: TaskState[] | null; partial: number }>(
      `SELECT status, finished_at, ${TASK_OUTCOME_COLUMNS} FROM requests r WHERE id = $1`,
      [requestId],
    );
    const before = seen[0];
    if (!before) return undefined;
    const states = before.states ?? [];
    if (states.some((s) => !TERMINAL_TASK_STATES.includes(s))) return undefined;
    if (before.status === 'cancelled' && before.finished_at === null) {
      // A cancel whose started tasks have now all ended: the request ends here, so its deadline
      // stops counting and its identities are shredded on schedule (shredIdentities).
      await this.db.query(`UPDATE requests SET finished_at = now(), updated_at = now() WHERE id = $1 AND status = 'cancelled' AND finished_at IS NULL`, [requestId]);
      return 'cancelled';
    }
    const outcome = before.status === 'cancelled' ? 'cancelled' : outcomeOf(states, Number(before.partial));
    if (outcome === before.status) return outcome;

    let changed: { row?: RequestRow; from?: RequestStatus } = {};
    const settled = await this.db.transaction(async (tx): Promise<RequestStatus | undefined> => {
      // The request's row lock, then its audit chain's lock, in the order every writer takes them;
      // the read after them sees every change committed before, the chain's last entry included.
      const { rows: locked } = await tx.query(`SELECT ${auditChainLock('$2')} FROM (SELECT id FROM requests WHERE id = $1 FOR UPDATE) r`, [requestId, requestId]);
      if (!locked[0]) return undefined;
      const { rows } = await tx.query<RequestRow & { states: TaskState[] | null; partial: number; last_hash: string | null }>(
        `SELECT r.*, ${TASK_OUTCOME_COLUMNS}, (SELECT hash FROM audit_events WHERE request_id = r.id ORDER BY id DESC LIMIT 1) AS last_hash
           FROM requests r WHERE id = $1`,
        [requestId],
      );
      const request = rows[0];
      const states = request.states ?? [];
      if (states.some((s) => !TERMINAL_TASK_STATES.includes(s))) return undefined;
      // A cancelled request stays cancelled; its tasks' states say what had already happened.
      const status = request.status === 'cancelled' ? 'cancelled' : outcomeOf(states, Number(request.partial));
      if (status === request.status) return status;
      // Settled already by another writer (only a reopen may change an outcome): it stays as it is.
      if (!mayRequestMove('settle', request.status)) return request.status;
      const { rows: updated } = await tx.query<RequestRow>(
        `UPDATE requests SET status = $2, finished_at = now(), updated_at = now() WHERE id = $1 AND ${requestGuard('settle')} RETURNING *`,
        [requestId, status],
      );
      await insertAuditEvent(tx, { chainId: requestId, prevHash: request.last_hash, actor, action: 'request.settled', detail: { status, from: request.status } });
      changed = { row: updated[0], from: request.status };
      await this.recordStatusChange(tx, changed.row, changed.from);
      return status;
    });
    await this.emitStatusChange(changed.row, changed.from);
    return settled;
  }

  /**
   * Failed tasks back to queued so they can run again; the request is open again. Returns the tasks
   * reopened: none for a cancelled request, which is never revived (its failed tasks stay failed).
   */
  async reopenFailedTasks(requestId: string, actor: string, reason: string, vendor?: VendorName): Promise<TaskRecord[]> {
    let changed: { row?: RequestRow; from?: RequestStatus } = {};
    const reopened = await this.db.transaction(async (tx) => {
      // The request's row first, as a cancel takes it: a cancel and a retry cannot both win.
      const { rows: locked } = await tx.query<{ status: RequestStatus }>(`SELECT status FROM requests WHERE id = $1 FOR UPDATE`, [requestId]);
      const status = locked[0]?.status;
      if (!status || (status !== 'in_progress' && !mayRequestMove('reopen', status))) return [];
      const params: unknown[] = [requestId];
      if (vendor) params.push(vendor);
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'queued', waiting_reason = 'retry requested by an operator', finished_at = NULL, updated_at = now()
         WHERE request_id = $1 AND ${taskGuard('retry')} ${vendor ? 'AND vendor = $2' : ''} RETURNING *`,
        params,
      );
      if (rows.length > 0) {
        // A retried task must join a new shared batch, not re-read the one that failed it.
        await tx.query(`UPDATE batch_members SET state = 'detached' WHERE task_id = ANY($1) AND state = 'failed'`, [rows.map((r) => r.id)]);
        await tx.query(`UPDATE requests SET finished_at = NULL, updated_at = now() WHERE id = $1`, [requestId]);
        changed = await this.reopenRequest(tx, requestId);
        await this.auditWith(tx, requestId, actor, 'request.retried', { reason, tasks: rows.map((r) => r.id) });
      }
      return rows.map(toTask);
    });
    await this.emitStatusChange(changed.row, changed.from);
    return reopened;
  }

  /**
   * An operator completes a manual task (work with no API, e.g. an e-mail to a vendor's support)
   * with a note, which goes into the evidence and the audit trail.
   */
  async completeManualTask(requestId: string, taskId: string, actor: string, note: string): Promise<TaskRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows: open } = await tx.query<{ id: string }>(`SELECT id FROM tasks WHERE id = $2 AND request_id = $1 AND state = 'waiting_manual' FOR UPDATE`, [requestId, taskId]);
      if (!open[0]) return undefined;
      // The evidence carries the note as the audit write path scrubbed it; shredding removes it from both.
      const texts = await this.auditWith(tx, requestId, actor, 'task.completed_manually', { taskId, note });
      const evidence = { completedBy: actor, note: texts.note ?? '', completedAt: new Date().toISOString() };
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'succeeded', evidence = evidence || $3::jsonb, waiting_reason = NULL, finished_at = now(), updated_at = now()
         WHERE id = $2 AND request_id = $1 AND ${taskGuard('completeManual')} RETURNING *`,
        [requestId, taskId, JSON.stringify(evidence)],
      );
      return rows[0] ? toTask(rows[0]) : undefined;
    });
  }

  /**
   * An operator records that a manual step was sent to the vendor (TASK_TRANSITIONS markManualSent):
   * when and under which ticket or reference. Undefined when no unsent manual step waits with that id.
   */
  async markManualTaskSent(requestId: string, taskId: string, actor: string, sent: { at: Date; reference: string }): Promise<TaskRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const record = { at: sent.at.toISOString(), by: actor, reference: sent.reference };
      const { rows } = await tx.query<TaskRow>(
        `UPDATE tasks SET waiting_reason = $3, updated_at = now(), evidence = evidence || jsonb_build_object('sent', $4::jsonb)
         WHERE id = $2 AND request_id = $1 AND ${taskGuard('markManualSent')} AND job_name = 'manual' AND NOT ${SENT_MANUAL_STEP} RETURNING *`,
        [requestId, taskId, `sent to the vendor at ${record.at}; waiting for the vendor's confirmation`, JSON.stringify(record)],
      );
      if (!rows[0]) return undefined;
      await this.auditWith(tx, requestId, actor, 'task.manual_sent', { taskId, sentAt: record.at, reference: sent.reference });
      return toTask(rows[0]);
    });
  }

  /**
   * On-call closes a failed task that will never succeed (TASK_TRANSITIONS skipFailed / resolveFailed):
   * `skipped`, or `succeeded` when it was done outside the service. The evidence records the decision
   * (`verification: unverifiable`, reason `operator_decision`: never a verified outcome) and the reason goes into the audit
   * chain. A settled request is reopened so that settling again counts the decision; the caller settles.
   */
  async decideFailedTask(
    requestId: string,
    taskId: string,
    decision: OperatorDecision,
    actor: string,
    reason: string,
  ): Promise<{ task?: TaskRecord; applied: boolean; state: TaskState | undefined }> {
    const name: TaskTransitionName = decision === 'skipped' ? 'skipFailed' : 'resolveFailed';
    const to: TaskState = decision === 'skipped' ? 'skipped' : 'succeeded';
    checkTaskTarget(name, to);
    let changed: { row?: RequestRow; from?: RequestStatus } = {};
    const result = await this.db.transaction(async (tx) => {
      // The request's row first, as a cancel and a retry take it.
      const { rows: locked } = await tx.query<{ status: RequestStatus }>(`SELECT status FROM requests WHERE id = $1 FOR UPDATE`, [requestId]);
      if (!locked[0]) return { applied: false, state: undefined };
      const at = new Date().toISOString();
      const { rows } = await tx.query<TaskRow>(
        // The error it failed with moves into the decision (SET reads the row as it was), so the receipt shows both.
        `UPDATE tasks SET state = $3, waiting_reason = $4, error = NULL, next_action_at = NULL, finished_at = now(), updated_at = now(),
           evidence = evidence || jsonb_build_object('verification', 'unverifiable', 'unverifiableReason', 'operator_decision', 'operatorDecision', $5::jsonb || jsonb_build_object('failedWith', error))
         WHERE id = $2 AND request_id = $1 AND ${taskGuard(name)} RETURNING *`,
        [requestId, taskId, to, `${decision} by an operator`, JSON.stringify({ decision, by: actor, at, reason })],
      );
      if (!rows[0]) {
        const { rows: current } = await tx.query<{ state: TaskState }>(`SELECT state FROM tasks WHERE id = $1 AND request_id = $2`, [taskId, requestId]);
        return { applied: false, state: current[0]?.state };
      }
      if (FINAL_REQUEST_STATUSES.includes(locked[0].status) && mayRequestMove('reopen', locked[0].status)) changed = await this.reopenRequest(tx, requestId);
      // The evidence carries the reason as the audit write path scrubbed it; shredding removes it from both.
      const texts = await this.auditWith(tx, requestId, actor, `task.${decision === 'skipped' ? 'skipped' : 'resolved'}`, { taskId, vendor: rows[0].vendor, decision, reason });
      const { rows: scrubbed } = await tx.query<TaskRow>(`UPDATE tasks SET evidence = jsonb_set(evidence, '{operatorDecision,reason}', to_jsonb($2::text)) WHERE id = $1 RETURNING *`, [
        taskId,
        texts.reason ?? '',
      ]);
      return { task: toTask(scrubbed[0]), applied: true, state: to };
    });
    await this.emitStatusChange(changed.row, changed.from);
    return result;
  }

  /**
   * Cancels a request: tasks that have not started are cancelled; the rest are returned so the
   * caller can try to withdraw them at the vendor. Returns undefined when the request had already ended.
   */
  async cancelRequest(requestId: string, actor: string, reason: string): Promise<{ cancelled: TaskRecord[]; started: TaskRecord[]; sent: TaskRecord[] } | undefined> {
    let changed: { row?: RequestRow; from?: RequestStatus } = {};
    const result = await this.db.transaction(async (tx) => {
      const { rows: requests } = await tx.query<RequestRow>(`SELECT * FROM requests WHERE id = $1 FOR UPDATE`, [requestId]);
      const request = requests[0];
      if (!request || !mayRequestMove('cancel', request.status)) return undefined;
      const { rows: cancelled } = await tx.query<TaskRow>(
        `UPDATE tasks SET state = 'cancelled', waiting_reason = 'cancelled before it started', finished_at = now(), updated_at = now()
         WHERE request_id = $1 AND ${taskGuard('cancelUnstarted')} AND NOT ${SENT_MANUAL_STEP} RETURNING *`,
        [requestId],
      );
      // A manual step already sent to the vendor has started where no cancel reaches: it stays open, saying so.
      const { rows: sent } = await tx.query<TaskRow>(
        `UPDATE tasks SET waiting_reason = $2, updated_at = now(),
           evidence = evidence || jsonb_build_object('cancelAfterSent', jsonb_build_object('at', $3::text, 'withdrawn', false, 'why', $4::text))
         WHERE request_id = $1 AND ${taskGuard('keepSentOnCancel')} AND ${SENT_MANUAL_STEP} RETURNING *`,
        [requestId, SENT_CANNOT_CANCEL, new Date().toISOString(), SENT_CANNOT_CANCEL_WHY],
      );
      const { rows: started } = await tx.query<TaskRow>(`SELECT * FROM tasks WHERE request_id = $1 AND state IN ('running', 'waiting_vendor')`, [requestId]);
      // Ended now when nothing had started; otherwise when its last started task ends (settleRequest).
      const { rows: updated } = await tx.query<RequestRow>(
        `UPDATE requests SET status = 'cancelled', finished_at = CASE WHEN $2 THEN now() END, updated_at = now() WHERE id = $1 AND ${requestGuard('cancel')} RETURNING *`,
        [requestId, started.length === 0 && sent.length === 0],
      );
      await this.auditWith(tx, requestId, actor, 'request.cancelled', {
        reason,
        tasksCancelled: cancelled.length,
        tasksAlreadyStarted: started.length,
        ...(sent.length ? { manualStepsAlreadySent: sent.map((t) => t.id) } : {}),
      });
      changed = { row: updated[0], from: request.status };
      await this.recordStatusChange(tx, changed.row, changed.from);
      return { cancelled: cancelled.map(toTask), started: started.map(toTask), sent: sent.map(toTask) };
    });
    await this.emitStatusChange(changed.row, changed.from);
    return result;
  }

  /**
   * A started task withdrawn at the vendor after a cancel: it ends `cancelled` with what happened.
   * Lost when the task ended first (its job finished or failed before the withdrawal was recorded).
   */
  async cancelStartedTask(taskId: string, evidence: Record<string, unknown>): Promise<TaskWriteResult> {
    return this.moveTask('withdraw', taskId, 'cancelled', `evidence = evidence || $3::jsonb, waiting_reason = NULL, next_action_at = NULL, finished_at = now()`, [
      JSON.stringify(evidence),
    ]);
  }

  /** Failed tasks matching a filter, oldest failure first: what an on-call retry would touch. */
  async failedTasks(filter: { vendor?: VendorName; requestId?: string; since?: Date }, limit: number): Promise<TaskRecord[]> {
    const where = [`state = 'failed'`];
    const params: unknown[] = [];
    if (filter.vendor) where.push(`vendor = $${params.push(filter.vendor)}`);
    if (filter.requestId) where.push(`request_id = $${params.push(filter.requestId)}`);
    if (filter.since) where.push(`finished_at >= $${params.push(filter.since)}`);
    const { rows } = await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE ${where.join(' AND ')} ORDER BY finished_at, id LIMIT $${params.push(limit)}`, params);
    return rows.map(toTask);
  }

  /** Tasks in one state across all requests, most recently changed first (the admin page's filters). */
  async tasksInState(state: TaskState, limit: number, client?: string): Promise<TaskRecord[]> {
    const { rows } =
      client === undefined
        ? await this.db.query<TaskRow>(`SELECT * FROM tasks WHERE state = $1 ORDER BY updated_at DESC, id LIMIT $2`, [state, limit])
        : await this.db.query<TaskRow>(
            `SELECT t.* FROM tasks t JOIN requests r ON r.id = t.request_id WHERE t.state = $1 AND r.client = $3 ORDER BY t.updated_at DESC, t.id LIMIT $2`,
            [state, limit, client],
          );
    return rows.map(toTask);
  }

  /** Moves a request's deadline later (e.g. GDPR Art. 12(3) extension), with the reason in the audit trail. */
  async extendDeadline(requestId: string, days: number, actor: string, reason: string): Promise<RequestRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<RequestRow>(`UPDATE requests SET due_at = due_at + ($2 || ' days')::interval, updated_at = now() WHERE id = $1 RETURNING *`, [requestId, String(days)]);
      if (!rows[0]) return undefined;
      await this.auditWith(tx, requestId, actor, 'request.deadline_extended', { days, reason, dueAt: new Date(rows[0].due_at).toISOString() });
      return toRequest(rows[0]);
    });
  }

  /**
   * Crypto-shredding: destroys the sealed identifiers of requests that ended before `endedBefore`.
   * Only the keyed hashes stay, so the request can still be found by a hash but never read back.
   * Returns how many requests were shredded.
   */
  async shredIdentities(endedBefore: Date, limit = 1000): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `SELECT DISTINCT r.id FROM requests r JOIN request_identities i ON i.request_id = r.id
          WHERE r.finished_at IS NOT NULL AND r.finished_at < $1 AND i.sealed IS NOT NULL LIMIT $2`,
        [endedBefore, limit],
      );
      for (const { id } of rows) {
        await tx.query(`UPDATE request_identities SET sealed = NULL WHERE request_id = $1`, [id]);
        // Free text is data about the person too (Invariant 13): it goes with the identities. The
        // chain keeps its digests, so receipts signed before and after still verify.
        await tx.query(`DELETE FROM audit_free_text WHERE chain_id = $1`, [id]);
        await tx.query(`UPDATE tasks SET evidence = (evidence - 'note') || '{"noteShredded": true}'::jsonb WHERE request_id = $1 AND evidence ? 'note'`, [id]);
        await tx.query(`UPDATE tasks SET evidence = evidence #- '{operatorDecision,reason}' || '{"reasonShredded": true}'::jsonb WHERE request_id = $1 AND evidence->'operatorDecision' ? 'reason'`, [id]);
        await this.auditWith(tx, id, 'system', 'identities.shredded', { endedBefore: endedBefore.toISOString() });
      }
      return rows.length;
    });
  }

  /**
   * Key rotation: re-seals vault entries sealed with an older key under the current one, in
   * batches. Returns how many were re-sealed and how many old-key entries remain.
   */
  async resealIdentities(batch = 500): Promise<{ resealed: number; remaining: number }> {
    const current = `v1.${this.cipher.keyId}.%`;
    const { rows } = await this.db.query<{ request_id: string; kind: string; sealed: string }>(
      `SELECT request_id, kind, sealed FROM request_identities WHERE sealed IS NOT NULL AND sealed NOT LIKE $1 LIMIT $2`,
      [current, batch],
    );
    for (const row of rows) {
      await this.db.query(`UPDATE request_identities SET sealed = $4 WHERE request_id = $1 AND kind = $2 AND sealed = $3`, [row.request_id, row.kind, row.sealed, this.cipher.seal(this.cipher.open(row.sealed))]);
    }
    const { rows: left } = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM request_identities WHERE sealed IS NOT NULL AND sealed NOT LIKE $1`, [current]);
    return { resealed: rows.length, remaining: Number(left[0]?.n ?? 0) };
  }

  /** Requests committed but never confirmed in Redis (the enqueue failed or the process died). */
  async requestsAwaitingEnqueue(olderThan: Date, limit: number): Promise<RequestRecord[]> {
    const { rows } = await this.db.query<RequestRow>(`SELECT * FROM requests WHERE status = 'received' AND created_at < $1 ORDER BY created_at LIMIT $2`, [olderThan, limit]);
    return rows.map(toRequest);
  }

  /** Unfinished tasks that have not moved since `olderThan`: the reconciler checks each has a live job. */
  async staleOpenTasks(olderThan: Date, limit: number): Promise<TaskRecord[]> {
    const { rows } = await this.db.query<TaskRow>(
      `SELECT * FROM tasks WHERE state NOT IN (${inList([...TERMINAL_TASK_STATES, 'waiting_manual'])}) AND updated_at < $1
         AND (next_action_at IS NULL OR next_action_at < $1) ORDER BY updated_at LIMIT $2`,
      [olderThan, limit],
    );
    return rows.map(toTask);
  }

  /** Open requests none of whose tasks is open: their parent job is gone, so settle them here. */
  async unsettledRequests(limit: number): Promise<string[]> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT r.id FROM requests r WHERE (r.status IN ('scheduled', 'in_progress') OR (r.status = 'cancelled' AND r.finished_at IS NULL))
         AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.request_id = r.id AND t.state NOT IN (${inList(TERMINAL_TASK_STATES)}))
       ORDER BY r.updated_at LIMIT $1`,
      [limit],
    );
    return rows.map((r) => r.id);
  }

  /** Marks tasks as looked at now, so the next sweeps pass them over until they are stale again. */
  async touchTasks(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await this.db.query(`UPDATE tasks SET updated_at = now() WHERE id = ANY($1::text[])`, [taskIds]);
  }

  async audit(requestId: string | null, actor: string, action: string, detail: Record<string, unknown> = {}): Promise<void> {
    await this.db.transaction((tx) => this.auditWith(tx, requestId, actor, action, detail));
  }

  /**
   * Appends to the request's hash chain (src/ledger/audit-log.ts). Call inside a transaction. Free
   * text in `detail` is scrubbed there, with this request's own identifiers turned into `[subject]`;
   * returns the scrubbed texts.
   */
  private async auditWith(tx: Queryable, requestId: string | null, actor: string, action: string, detail: Record<string, unknown>) {
    const hasFreeText = FREE_TEXT_FIELDS.some((f) => typeof detail[f] === 'string');
    const subjectTerms = hasFreeText && requestId ? await this.subjectTerms(tx, requestId) : [];
    return appendAuditEvent(tx, requestId, actor, action, detail, { subjectTerms });
  }

  /** The request's identifiers in plain text, for scrubbing its free text only (never stored or logged). */
  private async subjectTerms(tx: Queryable, requestId: string): Promise<string[]> {
    const { rows } = await tx.query<SealedIdentity>(`SELECT kind, sealed FROM request_identities WHERE request_id = $1 AND sealed IS NOT NULL`, [requestId]);
    const terms: string[] = [];
    for (const { sealed } of rows) {
      try {
        if (sealed) terms.push(this.cipher.open(sealed));
      } catch {
        // sealed with a key this process lacks: the generic e-mail and phone patterns still apply
      }
    }
    return terms;
  }

  /**
   * The request's audit chain as chained (oldest first): free-text fields appear in `detail` only as
   * digests (`reasonSha256`), with the scrubbed text beside each entry in `text` while it exists.
   * What receipts carry: it verifies before and after a shred.
   */
  async auditChain(requestId: string): Promise<ChainEntry[]> {
    const { rows } = await this.db.query<{ id: number; at: Date; request_id: string | null; actor: string; action: string; detail: Record<string, unknown>; prev_hash: string | null; hash: string }>(
      `SELECT id, at, request_id, actor, action, detail, prev_hash, hash FROM audit_events WHERE request_id = $1 ORDER BY id LIMIT 10000`,
      [requestId],
    );
    const texts = await freeTextOf(this.db, requestId);
    return rows.map((r) => {
      const text = texts.get(r.hash);
      return { id: Number(r.id), at: new Date(r.at).toISOString(), requestId: r.request_id, actor: r.actor, action: r.action, detail: r.detail, prevHash: r.prev_hash, hash: r.hash, ...(text ? { text } : {}) };
    });
  }

  /**
   * The request's audit trail for reading (oldest first): like `auditChain`, with each free text back
   * in its field (`detail.reason`), or a note that it was shredded with the identities.
   */
  async auditTrail(requestId: string): Promise<ChainEntry[]> {
    return (await this.auditChain(requestId)).map((entry) => {
      const detail = { ...entry.detail };
      for (const field of FREE_TEXT_FIELDS) {
        if (typeof detail[digestKey(field)] === 'string') detail[field] = entry.text?.[field] ?? SHREDDED_TEXT;
      }
      return { ...entry, detail };
    });
  }

  async countRequestsByStatus(now = new Date()): Promise<{ byStatus: Record<string, number>; overdue: number; byClient: Array<{ client: string; status: string; n: number }>; overdueByClient: Map<string, number> }> {
    const { rows } = await this.db.query<{ client: string; status: string; n: number }>(`SELECT client, status, count(*)::int AS n FROM requests GROUP BY client, status`);
    const { rows: overdue } = await this.db.query<{ client: string; n: number }>(`SELECT client, count(*)::int AS n FROM requests WHERE finished_at IS NULL AND due_at < $1 GROUP BY client`, [now]);
    const byStatus: Record<string, number> = {};
    for (const r of rows) byStatus[r.status] = (byStatus[r.status] ?? 0) + Number(r.n);
    return {
      byStatus,
      overdue: overdue.reduce((sum, r) => sum + Number(r.n), 0),
      byClient: rows.map((r) => ({ client: r.client, status: r.status, n: Number(r.n) })),
      overdueByClient: new Map(overdue.map((r) => [r.client, Number(r.n)])),
    };
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }
}

export { FINAL_REQUEST_STATUSES };

/** A vault row: a shredded one has no sealed value left. */
interface SealedIdentity {
  kind: string;
  sealed: string | null;
}

interface RequestRow {
  id: string;
  idempotency_hash: string | null;
  idempotency_fingerprint: string | null;
  client: string;
  kind: string;
  regulation: Regulation;
  status: RequestStatus;
  vendors: VendorName[];
  subject_hash: string;
  callback_url: string | null;
  origin: string | null;
  submitted_at: Date;
  due_at: Date;
  not_before: Date | null;
  finished_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

interface TaskRow {
  id: string;
  request_id: string;
  vendor: VendorName;
  resource: string;
  action: string;
  queue: string;
  job_name: string;
  state: TaskState;
  attempts: number;
  evidence: Record<string, unknown>;
  error: string | null;
  waiting_reason: string | null;
  next_action_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

function toRequest(row: RequestRow): RequestRecord {
  return {
    id: row.id,
    client: row.client,
    kind: row.kind,
    regulation: row.regulation,
    status: row.status,
    vendors: row.vendors,
    subjectHash: row.subject_hash,
    callbackUrl: row.callback_url,
    origin: row.origin ?? 'native',
    submittedAt: new Date(row.submitted_at),
    dueAt: new Date(row.due_at),
    notBefore: row.not_before ? new Date(row.not_before) : null,
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function toTask(row: TaskRow): TaskRecord {
  return {
    id: row.id,
    requestId: row.request_id,
    vendor: row.vendor,
    resource: row.resource,
    action: row.action,
    queue: row.queue,
    jobName: row.job_name,
    state: row.state,
    attempts: Number(row.attempts),
    evidence: row.evidence ?? {},
    error: row.error,
    waitingReason: row.waiting_reason,
    nextActionAt: row.next_action_at ? new Date(row.next_action_at) : null,
    startedAt: row.started_at ? new Date(row.started_at) : null,
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    updatedAt: new Date(row.updated_at),
  };
}

function encodeCursor(request: RequestRecord): string {
  return Buffer.from(`${request.createdAt.toISOString()}|${request.id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  if (!id || Number.isNaN(date.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) throw new RangeError('invalid cursor');
  return [date, id];
}
