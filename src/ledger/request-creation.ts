import type { Queryable } from './database.js';
import { IDENTIFIER_KINDS, type IdentifierKind } from '../privacy/subject.js';
import type { Subject } from '../privacy/subject.js';
import type { Regulation, RequestRecord, TaskSpec } from './ledger-types.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { canonicalJson } from '../privacy/canonical-json.js';
import { appendFirstAuditEvents } from './audit-log.js';
import { toRequest, type RequestRow } from './ledger-rows.js';
import type { IdentityVault } from './identity-vault.js';
import type { RequestAudit } from './request-audit.js';

export interface NewRequest {
  id: string;
  /**
   * The client the request belongs to: the submitting token's name (README.md, Clients, roles and idempotency). Unset,
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

/** What creation needs of the rest of the ledger. */
export interface CreationDeps {
  vault: IdentityVault;
  audit: RequestAudit;
}

/** One identifier of a subject, with its kind. */
interface Identifier {
  kind: IdentifierKind;
  value: string;
}

/** The subject's identifiers, in IDENTIFIER_KINDS order. */
function identifiersOf(subject: Subject): Identifier[] {
  return IDENTIFIER_KINDS.flatMap((kind) => {
    const value = subject[kind];
    return value === undefined ? [] : [{ kind, value }];
  });
}

/** A new request's values computed before any statement: its identifiers, hashes and client. */
export interface PreparedRequest {
  input: NewRequest;
  identifiers: Identifier[];
  kinds: IdentifierKind[];
  idempotencyHash: string | null;
  client: string;
  fingerprint: string | null;
  subjectHash: string;
}

/** Keyed fingerprint of what an idempotency key is bound to: the normalised subject, the vendors (as a set) and the regulation. */
function fingerprintOf(vault: IdentityVault, input: NewRequest): string {
  return vault.hash(
    'request-fingerprint',
    canonicalJson({ subject: input.subject, vendors: [...input.vendors].sort(), regulation: input.regulation }),
  );
}

function prepare(vault: IdentityVault, input: NewRequest): PreparedRequest {
  const identifiers = identifiersOf(input.subject);
  const first = identifiers.at(0);
  if (!first) throw new Error('a request needs at least one identifier');
  const idempotencyHash = input.idempotencyKey ? vault.hash('idempotency-key', input.idempotencyKey) : null;
  return {
    input,
    identifiers,
    kinds: identifiers.map((i) => i.kind),
    idempotencyHash,
    client: input.client ?? clientOfActor(input.actor),
    fingerprint: idempotencyHash ? fingerprintOf(vault, input) : null,
    subjectHash: vault.hash(first.kind, first.value),
  };
}

/**
 * Whether a repeat of a key carries the payload the key's request was made with. A row from
 * before fingerprints (migration 7) is compared by its identities' lookup hashes, vendors and regulation.
 */
async function samePayload(
  tx: Queryable,
  vault: IdentityVault,
  existing: RequestRow | undefined,
  input: NewRequest,
  fingerprint: string | null,
): Promise<boolean> {
  // The conflicting row is there: the insert met it under the same lock (a repeat never deletes it).
  if (!existing) throw new Error('the request holding this idempotency key was not found');
  if (existing.idempotency_fingerprint) return existing.idempotency_fingerprint === fingerprint;
  if (
    existing.regulation !== input.regulation ||
    [...existing.vendors].sort().join(',') !== [...input.vendors].sort().join(',')
  )
    return false;
  const { rows } = await tx.query<{ kind: string; lookup_hash: string }>(
    `SELECT kind, lookup_hash FROM request_identities WHERE request_id = $1`,
    [existing.id],
  );
  const identifiers = identifiersOf(input.subject);
  return (
    rows.length === identifiers.length &&
    identifiers.every((i) => rows.some((r) => r.kind === i.kind && r.lookup_hash === vault.hash(i.kind, i.value)))
  );
}

/**
 * Commits a request with its sealed identities and planned tasks (call inside a transaction).
 * The same client's idempotency key twice returns the first request with `created: false`, and
 * `reusedKey` when the payload differs (README.md, Clients, roles and idempotency).
 */
export async function insertRequest(
  tx: Queryable,
  deps: CreationDeps,
  input: NewRequest,
): Promise<CreateRequestResult> {
  const { vault } = deps;
  const p = prepare(vault, input);
  // A second transaction with the same (client, key) waits here for the first to commit, then
  // finds its row: concurrent repeats are answered as repeats, never as a second request.
  const inserted = await tx.query<RequestRow>(
    `INSERT INTO requests (id, idempotency_hash, regulation, status, vendors, subject_hash, callback_url, submitted_at, due_at, not_before, origin, client, idempotency_fingerprint)
     VALUES ($1, $2, $3, 'received', $4, $5, $6, $7, $8, $9, $10, $11, $12)
     ON CONFLICT (client, idempotency_hash) DO NOTHING
     RETURNING *`,
    [
      input.id,
      p.idempotencyHash,
      input.regulation,
      input.vendors,
      p.subjectHash,
      input.callbackUrl ?? null,
      input.submittedAt,
      input.dueAt,
      input.notBefore ?? null,
      input.origin ?? 'native',
      p.client,
      p.fingerprint,
    ],
  );
  if (inserted.rows.length === 0) {
    const { rows } = await tx.query<RequestRow>(`SELECT * FROM requests WHERE client = $1 AND idempotency_hash = $2`, [
      p.client,
      p.idempotencyHash,
    ]);
    const existing = rows[0];
    return {
      request: toRequest(existing),
      created: false,
      ...((await samePayload(tx, vault, existing, input, p.fingerprint)) ? {} : { reusedKey: true }),
    };
  }
  for (const { kind, value } of p.identifiers) {
    await tx.query(`INSERT INTO request_identities (request_id, kind, lookup_hash, sealed) VALUES ($1, $2, $3, $4)`, [
      input.id,
      kind,
      vault.hash(kind, value),
      vault.seal(value),
    ]);
  }
  for (const task of input.tasks) {
    await tx.query(
      `INSERT INTO tasks (id, request_id, vendor, resource, action, queue, job_name, state, waiting_reason, finished_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8 = 'skipped' THEN now() END)`,
      [
        task.id,
        input.id,
        task.vendor,
        task.resource,
        task.action,
        task.queue,
        task.jobName,
        task.initialState ?? 'queued',
        task.waitingReason ?? null,
      ],
    );
  }
  await deps.audit.appendIn(tx, input.id, input.actor, 'request.received', {
    vendors: input.vendors,
    tasks: input.tasks.length,
    identifiers: p.kinds,
  });
  const request = toRequest(inserted.rows[0]);
  if (input.afterInsert) await input.afterInsert(tx, request);
  return { request, created: true };
}

/** The requests rows of a bulk intake, one statement; a repeated (client, key) inserts nothing. */
async function insertRequestRows(tx: Queryable, prepared: readonly PreparedRequest[]): Promise<RequestRow[]> {
  const column = <T>(pick: (p: PreparedRequest) => T) => prepared.map(pick);
  const { rows } = await tx.query<RequestRow>(
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
  return rows;
}

/** The sealed identities and planned tasks of newly created requests, one statement each. */
async function insertIdentitiesAndTasks(
  tx: Queryable,
  vault: IdentityVault,
  created: readonly PreparedRequest[],
): Promise<void> {
  const identities = created.flatMap((p) => p.identifiers.map(({ kind, value }) => ({ id: p.input.id, kind, value })));
  await tx.query(
    `INSERT INTO request_identities (request_id, kind, lookup_hash, sealed) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])`,
    [
      identities.map((i) => i.id),
      identities.map((i) => i.kind),
      identities.map((i) => vault.hash(i.kind, i.value)),
      identities.map((i) => vault.seal(i.value)),
    ],
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
}

/**
 * Many native requests in one transaction with set-based inserts (bulk intake): the same rows,
 * audit entries and per-input answer as `insertRequest` once per input, in a handful of
 * statements instead of a dozen per request. Inputs with `afterInsert` are refused.
 */
export function prepareRequests(vault: IdentityVault, inputs: readonly NewRequest[]): PreparedRequest[] {
  if (inputs.some((i) => i.afterInsert))
    throw new Error('createRequests takes requests without afterInsert; use createRequest');
  return inputs.map((input) => prepare(vault, input));
}

/** `prepareRequests`' requests written (call inside a transaction). */
export async function insertRequests(
  tx: Queryable,
  vault: IdentityVault,
  prepared: readonly PreparedRequest[],
): Promise<CreateRequestResult[]> {
  const inserted = await insertRequestRows(tx, prepared);
  const byId = new Map(inserted.map((row) => [row.id, row]));
  const created = prepared.filter((p) => byId.has(p.input.id));
  const duplicates = prepared.filter((p) => !byId.has(p.input.id));
  const existing = new Map<string, RequestRow>();
  const keyOf = (client: string, hash: string | null) => `${client}\u0000${hash ?? ''}`;
  if (duplicates.length) {
    const { rows } = await tx.query<RequestRow>(
      `SELECT r.* FROM requests r JOIN unnest($1::text[], $2::text[]) AS k(client, idempotency_hash) ON r.client = k.client AND r.idempotency_hash = k.idempotency_hash`,
      [duplicates.map((p) => p.client), duplicates.map((p) => p.idempotencyHash)],
    );
    for (const row of rows) existing.set(keyOf(row.client, row.idempotency_hash), row);
  }
  const reused = new Set<PreparedRequest>();
  for (const p of duplicates)
    if (!(await samePayload(tx, vault, existing.get(keyOf(p.client, p.idempotencyHash)), p.input, p.fingerprint)))
      reused.add(p);
  await insertIdentitiesAndTasks(tx, vault, created);
  // Each new request starts its own audit chain: nothing to lock or read, the first entry has no predecessor.
  await appendFirstAuditEvents(
    tx,
    created.map((p) => ({
      chainId: p.input.id,
      actor: p.input.actor,
      action: 'request.received',
      detail: { vendors: p.input.vendors, tasks: p.input.tasks.length, identifiers: p.kinds },
    })),
  );
  return prepared.map((p) => {
    const row = byId.get(p.input.id);
    if (row) return { request: toRequest(row), created: true };
    const first = existing.get(keyOf(p.client, p.idempotencyHash));
    if (!first) throw new Error('the request holding this idempotency key was not found');
    return { request: toRequest(first), created: false, ...(reused.has(p) ? { reusedKey: true } : {}) };
  });
}
