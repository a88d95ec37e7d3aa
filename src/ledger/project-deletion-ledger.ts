import type { Database, Queryable } from './database.js';
import type { S3Location } from '../vendors/s3-settings.js';
import { appendAuditEvent } from './audit-log.js';
import { allows, stateIn, type Transition } from './task-transitions.js';
import { scrubFreeText } from '../privacy/free-text.js';

/**
 * A project deletion's life: `scheduled` (the grace period runs; cancellable) → `running` →
 * `completed` (outcome `deleted` or `not_found`) | `failed`; or `cancelled` while scheduled.
 */
export const PROJECT_DELETION_STATUSES = ['scheduled', 'running', 'completed', 'failed', 'cancelled'] as const;
export type ProjectDeletionStatus = (typeof PROJECT_DELETION_STATUSES)[number];
export const OPEN_PROJECT_DELETION_STATUSES: readonly ProjectDeletionStatus[] = ['scheduled', 'running'];

/** Every change of a deletion's status, as data (Invariant 9); each write's guard derives from it (src/ledger/task-transitions.ts). */
export const PROJECT_DELETION_TRANSITIONS = {
  cancel: { from: ['scheduled'], to: ['cancelled'] },
  /** Its first run once the grace period is over, or a run retried. */
  begin: { from: ['scheduled', 'running'], to: ['running'] },
  complete: { from: ['running'], to: ['completed'] },
  fail: { from: ['scheduled', 'running'], to: ['failed'] },
} as const satisfies Record<string, Transition<ProjectDeletionStatus>>;

const guard = (name: keyof typeof PROJECT_DELETION_TRANSITIONS) =>
  stateIn(PROJECT_DELETION_TRANSITIONS[name].from, 'status');

/** `deleted`: something was there and is gone now; `not_found`: the project and its files were already gone. */
export type ProjectDeletionOutcome = 'deleted' | 'not_found';

export interface ProjectDeletionRecord {
  id: string;
  vendor: 'pinpoint';
  appId: string;
  status: ProjectDeletionStatus;
  outcome: ProjectDeletionOutcome | null;
  /** Why an operator asked for it (scrubbed free text). */
  reason: string;
  requestedBy: string;
  /** The S3 prefixes deleted with the project, fixed when it was requested. */
  s3Locations: S3Location[];
  gracePeriodDays: number;
  /** When the grace period ends and the deletion may run. */
  runAt: Date;
  attempts: number;
  evidence: Record<string, unknown>;
  error: string | null;
  cancelledBy: string | null;
  cancelReason: string | null;
  cancelledAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewProjectDeletion {
  id: string;
  appId: string;
  reason: string;
  actor: string;
  s3Locations: S3Location[];
  gracePeriodDays: number;
  runAt: Date;
}

/** What `begin` found: run it now, it is not due yet (a job that ran early), or it has already ended. */
export type BeginResult =
  | { state: 'run'; deletion: ProjectDeletionRecord }
  | { state: 'not_due'; deletion: ProjectDeletionRecord }
  | { state: 'ended'; deletion: ProjectDeletionRecord | undefined };

const OPEN = `('scheduled', 'running')`;

/**
 * Project deletions in the ledger: the system of record for what was asked, by whom, when it
 * may run and what happened. Each deletion has its own hash-chained audit trail (keyed by its
 * id, like a request's), written in the same transaction as the change it records.
 */
export class ProjectDeletionLedger {
  constructor(private readonly db: Database) {}

  /**
   * Records a new deletion, or returns the deletion of the same project that is still open
   * (`created: false`): one project is never being deleted twice at once.
   */
  async create(input: NewProjectDeletion): Promise<{ deletion: ProjectDeletionRecord; created: boolean }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `INSERT INTO project_deletions (id, vendor, app_id, status, reason, requested_by, s3_locations, grace_period_days, run_at)
         VALUES ($1, 'pinpoint', $2, 'scheduled', $3, $4, $5::jsonb, $6, $7)
         ON CONFLICT DO NOTHING RETURNING *`,
        // The row's copy of the reason is scrubbed the way the audit write path scrubs its own (src/privacy/free-text.ts).
        [
          input.id,
          input.appId,
          scrubFreeText(input.reason),
          input.actor,
          JSON.stringify(input.s3Locations),
          input.gracePeriodDays,
          input.runAt,
        ],
      );
      if (!rows[0]) {
        const { rows: open } = await tx.query<Row>(
          `SELECT * FROM project_deletions WHERE vendor = 'pinpoint' AND app_id = $1 AND status IN ${OPEN}`,
          [input.appId],
        );
        if (!open[0])
          throw new Error('project deletion insert conflicted, yet no open deletion of that project exists');
        return { deletion: toRecord(open[0]), created: false };
      }
      const deletion = toRecord(rows[0]);
      await appendAuditEvent(tx, deletion.id, input.actor, 'project_deletion.requested', {
        vendor: deletion.vendor,
        appId: deletion.appId,
        reason: deletion.reason,
        gracePeriodDays: deletion.gracePeriodDays,
        runAt: deletion.runAt.toISOString(),
        s3Locations: deletion.s3Locations,
      });
      return { deletion, created: true };
    });
  }

  async get(id: string): Promise<ProjectDeletionRecord | undefined> {
    const { rows } = await this.db.query<Row>(`SELECT * FROM project_deletions WHERE id = $1`, [id]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  /** Newest first. */
  async list(filter: { status?: ProjectDeletionStatus; limit: number }): Promise<ProjectDeletionRecord[]> {
    const params: unknown[] = [];
    const where = filter.status ? `WHERE status = $${params.push(filter.status)}` : '';
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM project_deletions ${where} ORDER BY created_at DESC, id DESC LIMIT $${params.push(filter.limit)}`,
      params,
    );
    return rows.map(toRecord);
  }

  /** Scheduled or running deletions, soonest first: the reconciler checks each still has its job. */
  async open(limit: number): Promise<ProjectDeletionRecord[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM project_deletions WHERE status IN ${OPEN} ORDER BY run_at, id LIMIT $1`,
      [limit],
    );
    return rows.map(toRecord);
  }

  /**
   * Cancels a deletion that has not started. Once it runs (or ended) nothing changes and the
   * record is returned as it is, so the caller can say what already happened.
   */
  async cancel(
    id: string,
    actor: string,
    reason: string,
  ): Promise<{ cancelled: boolean; deletion: ProjectDeletionRecord } | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(`SELECT * FROM project_deletions WHERE id = $1 FOR UPDATE`, [id]);
      if (!rows[0]) return undefined;
      if (!allows(PROJECT_DELETION_TRANSITIONS.cancel, rows[0].status))
        return { cancelled: false, deletion: toRecord(rows[0]) };
      const { rows: updated } = await tx.query<Row>(
        `UPDATE project_deletions SET status = 'cancelled', cancelled_by = $2, cancel_reason = $3, cancelled_at = now(), finished_at = now(), updated_at = now()
         WHERE id = $1 AND ${guard('cancel')} RETURNING *`,
        [id, actor, scrubFreeText(reason)],
      );
      await appendAuditEvent(tx, id, actor, 'project_deletion.cancelled', {
        reason,
        runAt: toRecord(updated[0]).runAt.toISOString(),
      });
      return { cancelled: true, deletion: toRecord(updated[0]) };
    });
  }

  /**
   * Marks the deletion running for one more attempt, in the same transaction that checks it may
   * run: only a `scheduled` one whose grace period is over (or a `running` one being retried).
   * A cancel and a start cannot both win: whichever commits first decides.
   */
  async begin(id: string, now = new Date()): Promise<BeginResult> {
    return this.db.transaction(async (tx): Promise<BeginResult> => {
      const { rows } = await tx.query<Row>(`SELECT * FROM project_deletions WHERE id = $1 FOR UPDATE`, [id]);
      const row = rows.at(0);
      if (!row || !allows(PROJECT_DELETION_TRANSITIONS.begin, row.status))
        return { state: 'ended', deletion: row ? toRecord(row) : undefined };
      if (row.status === 'scheduled' && new Date(row.run_at).getTime() > now.getTime())
        return { state: 'not_due', deletion: toRecord(row) };
      const { rows: updated } = await tx.query<Row>(
        `UPDATE project_deletions SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now() WHERE id = $1 AND ${guard('begin')} RETURNING *`,
        [id],
      );
      const deletion = toRecord(updated[0]);
      await appendAuditEvent(tx, id, 'system', 'project_deletion.started', { attempt: deletion.attempts });
      return { state: 'run', deletion };
    });
  }

  /** Saves what a run has done so far (per part), so a re-run after a crash or retry carries on from it. */
  async checkpoint(id: string, evidence: Record<string, unknown>): Promise<void> {
    await this.db.query(
      `UPDATE project_deletions SET evidence = evidence || $2::jsonb, updated_at = now() WHERE id = $1`,
      [id, JSON.stringify(evidence)],
    );
  }

  /** A run failed and will be retried: the reason is kept (free of identifiers) for operators. */
  async noteRetry(id: string, reason: string): Promise<void> {
    await this.db.query(
      `UPDATE project_deletions SET error = $2, updated_at = now() WHERE id = $1 AND status = 'running'`,
      [id, reason],
    );
  }

  async complete(
    id: string,
    outcome: ProjectDeletionOutcome,
    evidence: Record<string, unknown>,
  ): Promise<ProjectDeletionRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `UPDATE project_deletions SET status = 'completed', outcome = $2, evidence = evidence || $3::jsonb, error = NULL, finished_at = now(), updated_at = now()
         WHERE id = $1 AND ${guard('complete')} RETURNING *`,
        [id, outcome, JSON.stringify(evidence)],
      );
      if (!rows[0]) return undefined;
      await appendAuditEvent(tx, id, 'system', 'project_deletion.completed', { outcome, evidence: rows[0].evidence });
      return toRecord(rows[0]);
    });
  }

  /** Final failure: `reason` must already be free of identifiers (the error taxonomy's messages are). */
  async fail(id: string, reason: string, actor = 'system'): Promise<ProjectDeletionRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `UPDATE project_deletions SET status = 'failed', error = $2, finished_at = now(), updated_at = now() WHERE id = $1 AND ${guard('fail')} RETURNING *`,
        [id, reason],
      );
      if (!rows[0]) return undefined;
      await appendAuditEvent(tx, id, actor, 'project_deletion.failed', { reason, evidence: rows[0].evidence });
      return toRecord(rows[0]);
    });
  }

  async ping(): Promise<void> {
    await this.db.query('SELECT 1');
  }

  /** Records on the deletion's trail that its lost job was put back (by the reconciler). */
  async noteJobRecreated(id: string, detail: Record<string, unknown>): Promise<void> {
    await this.db.transaction((tx: Queryable) =>
      appendAuditEvent(tx, id, 'system', 'project_deletion.job_recreated', detail),
    );
  }
}

interface Row {
  id: string;
  vendor: 'pinpoint';
  app_id: string;
  status: ProjectDeletionStatus;
  outcome: ProjectDeletionOutcome | null;
  reason: string;
  requested_by: string;
  s3_locations: S3Location[] | string;
  grace_period_days: number | string;
  run_at: Date;
  attempts: number;
  evidence: Record<string, unknown> | null;
  error: string | null;
  cancelled_by: string | null;
  cancel_reason: string | null;
  cancelled_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

const date = (value: Date | null): Date | null => (value ? new Date(value) : null);

function toRecord(row: Row): ProjectDeletionRecord {
  return {
    id: row.id,
    vendor: row.vendor,
    appId: row.app_id,
    status: row.status,
    outcome: row.outcome,
    reason: row.reason,
    requestedBy: row.requested_by,
    s3Locations:
      typeof row.s3_locations === 'string' ? (JSON.parse(row.s3_locations) as S3Location[]) : row.s3_locations,
    gracePeriodDays: Number(row.grace_period_days),
    runAt: new Date(row.run_at),
    attempts: row.attempts,
    evidence: row.evidence ?? {},
    error: row.error,
    cancelledBy: row.cancelled_by,
    cancelReason: row.cancel_reason,
    cancelledAt: date(row.cancelled_at),
    startedAt: date(row.started_at),
    finishedAt: date(row.finished_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
