import type { Database, Queryable } from './database.js';

/**
 * Schema versions, applied in order at boot by whichever process starts first (an advisory
 * lock keeps two processes from racing). Never edit a released entry: add a new one.
 */
const MIGRATIONS: Array<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      CREATE TABLE requests (
        id uuid PRIMARY KEY,
        idempotency_hash text UNIQUE,
        kind text NOT NULL DEFAULT 'erasure',
        regulation text NOT NULL,
        status text NOT NULL,
        vendors text[] NOT NULL,
        subject_hash text NOT NULL,
        callback_url text,
        submitted_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        not_before timestamptz,
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX requests_status ON requests (status, created_at);
      CREATE INDEX requests_due ON requests (due_at) WHERE finished_at IS NULL;

      -- The identity vault: sealed identifiers (AES-256-GCM) and keyed hashes for lookup.
      CREATE TABLE request_identities (
        request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        kind text NOT NULL,
        lookup_hash text NOT NULL,
        sealed text,
        PRIMARY KEY (request_id, kind)
      );
      CREATE INDEX request_identities_lookup ON request_identities (lookup_hash);

      CREATE TABLE tasks (
        id text PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        vendor text NOT NULL,
        resource text NOT NULL,
        action text NOT NULL,
        queue text NOT NULL,
        job_name text NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
        error text,
        waiting_reason text,
        next_action_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX tasks_request ON tasks (request_id);
      CREATE INDEX tasks_open ON tasks (updated_at)
        WHERE state NOT IN ('succeeded', 'not_found', 'failed', 'skipped', 'cancelled');

      CREATE TABLE audit_events (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        request_id uuid,
        actor text NOT NULL,
        action text NOT NULL,
        detail jsonb NOT NULL DEFAULT '{}'::jsonb
      );
      CREATE INDEX audit_events_request ON audit_events (request_id, id);
    `,
  },
  {
    version: 2,
    sql: `
      -- Shared batches (Invariant 7): one vendor call or export serves every request that joined.
      CREATE TABLE batches (
        id uuid PRIMARY KEY,
        vendor text NOT NULL,
        kind text NOT NULL,
        scope text NOT NULL,
        state text NOT NULL,
        max_members integer NOT NULL,
        member_count integer NOT NULL DEFAULT 0,
        closes_at timestamptz NOT NULL,
        evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
        error text,
        attempts integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      );
      CREATE INDEX batches_open ON batches (vendor, kind, scope) WHERE state = 'open';
      CREATE INDEX batches_unfinished ON batches (updated_at) WHERE state IN ('open', 'running');

      CREATE TABLE batch_members (
        batch_id uuid NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
        task_id text NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
        request_id uuid NOT NULL,
        state text NOT NULL DEFAULT 'waiting',
        result jsonb,
        joined_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (batch_id, task_id)
      );
      CREATE INDEX batch_members_task ON batch_members (task_id, joined_at);
    `,
  },
  {
    version: 3,
    sql: `
      -- Each request's audit events form a hash chain (src/receipts/audit-chain.ts).
      ALTER TABLE audit_events ADD COLUMN prev_hash text;
      ALTER TABLE audit_events ADD COLUMN hash text
    `,
  },
  {
    version: 4,
    sql: `
      -- Where a request came from ('native' API or 'opendsr'); status callbacks are sent in its format.
      ALTER TABLE requests ADD COLUMN origin text NOT NULL DEFAULT 'native';
      -- OpenDSR requests (src/opendsr/): the controller's id for the request, its callback URLs and
      -- a keyed hash of the body (so a repeated subject_request_id gets the same answer). Never the body.
      CREATE TABLE opendsr_requests (
        subject_request_id uuid PRIMARY KEY,
        request_id uuid NOT NULL UNIQUE REFERENCES requests (id) ON DELETE CASCADE,
        controller_id text NOT NULL,
        body_hash text NOT NULL,
        status_callback_urls text[] NOT NULL,
        api_version text NOT NULL,
        received_at timestamptz NOT NULL
      )
    `,
  },
  {
    version: 5,
    sql: `
      -- Project deletion (a whole Pinpoint app and its S3 prefixes), an operator-only request type
      -- with a grace period: the row and its run time are the truth, the delayed job only carries it
      -- (src/ledger/project-deletion-ledger.ts). The S3 locations are fixed when it is requested, so
      -- a later config change cannot widen what an approved deletion removes.
      CREATE TABLE project_deletions (
        id uuid PRIMARY KEY,
        vendor text NOT NULL,
        app_id text NOT NULL,
        status text NOT NULL,
        outcome text,
        reason text NOT NULL,
        requested_by text NOT NULL,
        s3_locations jsonb NOT NULL DEFAULT '[]'::jsonb,
        grace_period_days double precision NOT NULL,
        run_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
        error text,
        cancelled_by text,
        cancel_reason text,
        cancelled_at timestamptz,
        started_at timestamptz,
        finished_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- One open deletion per project: a second request names the first instead of racing it.
      CREATE UNIQUE INDEX project_deletions_one_open ON project_deletions (vendor, app_id) WHERE status IN ('scheduled', 'running');
      CREATE INDEX project_deletions_created ON project_deletions (created_at DESC, id DESC)
    `,
  },
  {
    version: 6,
    sql: `
      -- The callback outbox: a status change and the callbacks it owes commit together, so a crash
      -- between the commit and the enqueue cannot lose one (src/callbacks/callback-outbox.ts). A row
      -- is deleted once its job is in Redis. Ids and status only: the URL stays on the request.
      CREATE TABLE callback_outbox (
        job_id text PRIMARY KEY,
        request_id uuid NOT NULL REFERENCES requests (id) ON DELETE CASCADE,
        format text NOT NULL,
        status text NOT NULL,
        changed_at timestamptz NOT NULL,
        url_index integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX callback_outbox_request ON callback_outbox (request_id);
      CREATE INDEX callback_outbox_created ON callback_outbox (created_at);
      -- at_risk reads the p95 of recently finished tasks per vendor (src/ledger/deadline-risk-ledger.ts).
      CREATE INDEX tasks_finished ON tasks (finished_at) WHERE started_at IS NOT NULL
    `,
  },
  {
    version: 7,
    sql: `
      -- Each request belongs to the client (token name) that submitted it (DESIGN.md Invariant 10,
      -- src/api/access.ts). Rows from before take the name their request.received audit entry names
      -- (actor token:NAME or opendsr:NAME); a row without one becomes (before clients).
      ALTER TABLE requests ADD COLUMN client text;
      UPDATE requests r SET client = COALESCE(
        (SELECT regexp_replace(a.actor, '^(token|opendsr):', '') FROM audit_events a
          WHERE a.request_id = r.id AND a.action = 'request.received' ORDER BY a.id LIMIT 1),
        '(before clients)');
      ALTER TABLE requests ALTER COLUMN client SET NOT NULL;
      -- Idempotency keys are per client, and bound to a keyed fingerprint of their payload (subject,
      -- vendors, regulation). Rows from before have none: a repeat of their key is compared against
      -- their identities' lookup hashes, vendors and regulation (src/ledger/request-creation.ts).
      ALTER TABLE requests ADD COLUMN idempotency_fingerprint text;
      ALTER TABLE requests DROP CONSTRAINT IF EXISTS requests_idempotency_hash_key;
      ALTER TABLE requests ADD CONSTRAINT requests_client_idempotency UNIQUE (client, idempotency_hash);
      CREATE INDEX requests_client_created ON requests (client, created_at);
      -- An OpenDSR subject_request_id is unique per controller, not across controllers.
      ALTER TABLE opendsr_requests DROP CONSTRAINT IF EXISTS opendsr_requests_pkey;
      ALTER TABLE opendsr_requests ADD PRIMARY KEY (controller_id, subject_request_id);
      CREATE INDEX opendsr_requests_subject ON opendsr_requests (subject_request_id)
    `,
  },
  {
    version: 8,
    sql: `
      -- The reconciler looks at the members of recently ended batches for any still asleep (BatchLedger.sleepersOfEndedBatches).
      CREATE INDEX batches_finished ON batches (finished_at) WHERE finished_at IS NOT NULL
    `,
  },
  {
    // Admin sessions (src/dashboard/admin-sessions.ts): the cookie holds a random id; only its SHA-256 is kept.
    version: 9,
    sql: `
      CREATE TABLE IF NOT EXISTS admin_sessions (
        id_hash text PRIMARY KEY,
        token_name text NOT NULL,
        created_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        revoked_at timestamptz
      );
      CREATE INDEX IF NOT EXISTS admin_sessions_created ON admin_sessions (created_at);
      -- Free text of audit entries, scrubbed, beside the hash chain (src/ledger/audit-log.ts); shredding deletes it.
      CREATE TABLE IF NOT EXISTS audit_free_text (
        chain_id text NOT NULL,
        event_hash text NOT NULL,
        field text NOT NULL,
        text text NOT NULL,
        PRIMARY KEY (event_hash, field)
      );
      CREATE INDEX IF NOT EXISTS audit_free_text_chain ON audit_free_text (chain_id)
    `,
  },
  {
    version: 10,
    sql: `
      -- Guided scope deletions (src/ledger/scope-deletion-ledger.ts): whole-scope procedures a
      -- vendor offers only by e-mail or in its UI. Scopes (workspaces, projects, accounts), never people.
      CREATE TABLE scope_deletions (
        id uuid PRIMARY KEY,
        kind text NOT NULL,
        vendor text NOT NULL,
        scope text NOT NULL,
        fields jsonb NOT NULL,
        reason text NOT NULL,
        requested_by text NOT NULL,
        status text NOT NULL,
        instructions jsonb NOT NULL,
        sent_at timestamptz,
        sent_by text,
        sent_reference text,
        cancel_deadline timestamptz,
        expected_by timestamptz,
        evidence jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
      );
      CREATE INDEX scope_deletions_created ON scope_deletions (created_at DESC, id)
    `,
  },
  {
    version: 11,
    sql: `
      -- Reminders and escalations of manual work already sent (src/manual-work/manual-work-notices.ts):
      -- one row per piece of work and stage, so that each goes out once whatever the number of processes.
      CREATE TABLE manual_work_notices (
        work_ref text NOT NULL,
        stage text NOT NULL,
        sent_at timestamptz NOT NULL,
        PRIMARY KEY (work_ref, stage)
      )
    `,
  },
  {
    version: 12,
    sql: `
      -- Scopes (apps) a vendor confirmed to exist: a configured scope seen before that now answers
      -- not found is scope_gone with this as evidence, one never seen is a configuration mistake
      -- (src/ledger/scope-sightings.ts). Scope ids are not personal data.
      CREATE TABLE scope_sightings (
        vendor text NOT NULL,
        scope_id text NOT NULL,
        config_key text NOT NULL,
        first_seen_at timestamptz NOT NULL,
        last_seen_at timestamptz NOT NULL,
        PRIMARY KEY (vendor, scope_id)
      )
    `,
  },
];

/** The schema version once every migration is applied. */
export const SCHEMA_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));

/** The advisory lock key that serialises migrations across processes. */
const MIGRATION_LOCK = 724011;

/**
 * Applies every migration not applied yet, up to `upTo` (tests stop short of one to check what it does to older rows).
 * The whole of it runs under one session advisory lock: on an empty database even
 * `CREATE TABLE IF NOT EXISTS` races (two creators collide on the `pg_type` entry of the table's
 * row type), so processes booting together take turns, and the later ones find the work done.
 */
export async function migrate(db: Database, upTo = Number.POSITIVE_INFINITY): Promise<number> {
  return db.withAdvisoryLock(MIGRATION_LOCK, async (session) => {
    await session.exec(
      `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    return session.transaction((tx) => applyMigrations(tx, upTo));
  });
}

async function applyMigrations(tx: Queryable, upTo: number): Promise<number> {
  const { rows } = await tx.query<{ version: number }>(`SELECT version FROM schema_migrations`);
  const applied = new Set(rows.map((r) => r.version));
  let count = 0;
  for (const migration of MIGRATIONS) {
    if (applied.has(migration.version) || migration.version > upTo) continue;
    for (const statement of splitStatements(migration.sql)) await tx.query(statement);
    await tx.query(`INSERT INTO schema_migrations (version) VALUES ($1)`, [migration.version]);
    count += 1;
  }
  return count;
}

/**
 * Comments first, then `;`: migrations hold no semicolons inside string literals, so this split is
 * safe, and running statements one by one works inside a transaction on both drivers.
 */
function splitStatements(sql: string): string[] {
  return sql
    .replace(/--.*$/gm, '')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}
