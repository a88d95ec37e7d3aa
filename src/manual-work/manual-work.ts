import type { TaskRecord } from '../ledger/ledger-types.js';
import type { ScopeDeletionRecord } from '../ledger/scope-deletion-ledger.js';
import type { ManualWorkSettings } from './manual-work-settings.js';

const HOUR_MS = 3_600_000;

/**
 * One step of manual work someone has to do: a per-request manual task (send it, then record the
 * vendor's confirmation) or a guided scope deletion (send it; once sent, confirm it by the vendor's
 * `expectedBy`). Ids, kinds and times only: never an identifier of a person (Invariant 1).
 */
export interface ManualWorkItem {
  /** Stable per step: `task:<id>:send`, `scope:<id>:confirm`. */
  ref: string;
  work: 'request-task' | 'scope-deletion';
  id: string;
  requestId?: string;
  kind: string;
  vendor: string;
  step: 'send' | 'confirm';
  assignee: string;
  dueAt: Date;
  /** Where an operator acts on it (a path of the admin page). */
  link: string;
}

const pick = <T>(map: Record<string, T>, kind: string): T => map[kind] ?? map.default;

/** A waiting manual task as work: due `dueHours` after it began waiting for this step. */
export function taskWork(task: TaskRecord, settings: ManualWorkSettings): ManualWorkItem {
  const step = task.evidence.sent ? 'confirm' : 'send';
  return {
    ref: `task:${task.id}:${step}`,
    work: 'request-task',
    id: task.id,
    requestId: task.requestId,
    kind: task.action,
    vendor: task.vendor,
    step,
    assignee: pick(settings.assignees, task.action),
    dueAt: new Date(task.updatedAt.getTime() + pick(settings.dueHours, task.action) * HOUR_MS),
    link: `/admin/requests/${task.requestId}`,
  };
}

/** An open guided scope deletion as work: drafted, due `dueHours` after; sent, due by the vendor's clock. */
export function scopeWork(deletion: ScopeDeletionRecord, settings: ManualWorkSettings): ManualWorkItem | undefined {
  const open = deletion.status === 'drafted' || deletion.status === 'sent' || deletion.status === 'cancel_requested';
  if (!open) return undefined;
  const step = deletion.status === 'drafted' ? 'send' : 'confirm';
  const dueAt =
    step === 'send'
      ? new Date(deletion.createdAt.getTime() + pick(settings.dueHours, deletion.kind) * HOUR_MS)
      : deletion.expectedBy;
  if (!dueAt) return undefined;
  return {
    ref: `scope:${deletion.id}:${step}`,
    work: 'scope-deletion',
    id: deletion.id,
    kind: deletion.kind,
    vendor: deletion.vendor,
    step,
    assignee: pick(settings.assignees, deletion.kind),
    dueAt,
    link: '/admin/scope-deletions',
  };
}

export type NoticeStage = { stage: string; type: 'reminder' | 'escalation' };

/**
 * The notices a piece of work owes at `now`: each reminder whose offset before the due time has
 * come (while it is not yet due), each escalation whose offset after it has come. The caller
 * sends those not sent before (src/manual-work/manual-work-notices.ts records them).
 */
export function noticesDue(item: ManualWorkItem, settings: ManualWorkSettings, now: Date): NoticeStage[] {
  const due = item.dueAt.getTime();
  const t = now.getTime();
  const out: NoticeStage[] = [];
  if (t < due)
    for (const h of settings.remindBeforeHours)
      if (t >= due - h * HOUR_MS) out.push({ stage: `remind-${h}h`, type: 'reminder' });
  for (const h of settings.escalateAfterHours)
    if (t >= due + h * HOUR_MS) out.push({ stage: `escalate-${h}h`, type: 'escalation' });
  return out;
}

/** The notice itself, as every notifier sends it. */
export function noticeBody(item: ManualWorkItem, notice: NoticeStage, now: Date) {
  return {
    type: `manual_work.${notice.type}`,
    stage: notice.stage,
    work: item.work,
    id: item.id,
    ...(item.requestId ? { requestId: item.requestId } : {}),
    kind: item.kind,
    vendor: item.vendor,
    step: item.step,
    assignee: item.assignee,
    dueAt: item.dueAt.toISOString(),
    overdue: now.getTime() > item.dueAt.getTime(),
    link: item.link,
    at: now.toISOString(),
  };
}
export type ManualWorkNotice = ReturnType<typeof noticeBody>;
