import type { Database } from '../ledger/database.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import type { Logger } from '../logger.js';
import { noticeBody, noticesDue, scopeWork, taskWork, type ManualWorkItem } from './manual-work.js';
import type { ManualWorkSettings } from './manual-work-settings.js';
import type { Notifier } from './notifiers.js';

const LIMIT = 1000;

export interface ManualWorkDeps {
  db: Database;
  ledger: Ledger;
  scopeDeletions: ScopeDeletionLedger;
  settings: ManualWorkSettings;
  notifiers: Notifier[];
  logger: Logger;
}

/** Every open piece of manual work, with its assignee and due time. */
export async function openManualWork(
  deps: Pick<ManualWorkDeps, 'ledger' | 'scopeDeletions' | 'settings'>,
): Promise<ManualWorkItem[]> {
  const tasks = (await deps.ledger.queries.tasksInState('waiting_manual', LIMIT)).map((t) =>
    taskWork(t, deps.settings),
  );
  const scopes = (await deps.scopeDeletions.list(LIMIT)).flatMap((d) => scopeWork(d, deps.settings) ?? []);
  return [...tasks, ...scopes];
}

/**
 * One sweep: for each open piece of work, the reminders and escalations due at `now` that were not
 * sent before go out through every notifier. A notice is claimed in the ledger first (one row per
 * work and stage), so two processes never both send it; a notice no notifier could send is
 * released and tried again at the next sweep. Returns what was sent.
 */
export async function sweepManualWork(deps: ManualWorkDeps, now: Date): Promise<Array<{ ref: string; stage: string }>> {
  const sent: Array<{ ref: string; stage: string }> = [];
  for (const item of await openManualWork(deps)) {
    for (const notice of noticesDue(item, deps.settings, now)) {
      const { rows } = await deps.db.query<{ work_ref: string }>(
        `INSERT INTO manual_work_notices (work_ref, stage, sent_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING work_ref`,
        [item.ref, notice.stage, now],
      );
      if (!rows[0]) continue;
      const body = noticeBody(item, notice, now);
      const results = await Promise.allSettled(deps.notifiers.map((n) => n.send(body)));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [deps.notifiers[i].name] : []));
      if (failed.length === deps.notifiers.length) {
        await deps.db.query(`DELETE FROM manual_work_notices WHERE work_ref = $1 AND stage = $2`, [
          item.ref,
          notice.stage,
        ]);
        deps.logger.warn('manual work notice not delivered; tried again at the next sweep', {
          work: item.work,
          id: item.id,
          stage: notice.stage,
          notifiers: failed,
        });
        continue;
      }
      if (failed.length)
        deps.logger.warn('manual work notice not delivered by some notifiers', {
          work: item.work,
          id: item.id,
          stage: notice.stage,
          notifiers: failed,
        });
      deps.logger.info('manual work notice sent', { work: item.work, id: item.id, stage: notice.stage });
      sent.push({ ref: item.ref, stage: notice.stage });
    }
  }
  return sent;
}

/** How many open pieces of manual work are past their due time (for /metrics and the admin page). */
export async function countOverdueManualWork(
  deps: Pick<ManualWorkDeps, 'ledger' | 'scopeDeletions' | 'settings'>,
  now: Date,
): Promise<number> {
  return (await openManualWork(deps)).filter((i) => i.dueAt.getTime() < now.getTime()).length;
}
