import type { RequestRecord, TaskRecord } from '../ledger/ledger-types.js';
import { TERMINAL_TASK_STATES } from '../ledger/ledger-types.js';
import type { RiskAssessment } from '../deadlines/at-risk.js';

const DAY_MS = 86_400_000;

/**
 * A request as the API shows it: status, deadline, progress, per-vendor tasks. No identifiers.
 * With `risk`, also whether it is at risk of missing its deadline and which vendors make it so.
 */
export function requestView(request: RequestRecord, tasks?: TaskRecord[], now = new Date(), risk?: RiskAssessment) {
  const open = !request.finishedAt;
  const view: Record<string, unknown> = {
    id: request.id,
    client: request.client,
    status: request.status,
    regulation: request.regulation,
    vendors: request.vendors,
    subjectHash: request.subjectHash.slice(0, 12),
    submittedAt: request.submittedAt.toISOString(),
    notBefore: request.notBefore?.toISOString() ?? null,
    dueAt: request.dueAt.toISOString(),
    daysLeft: Math.floor((request.dueAt.getTime() - now.getTime()) / DAY_MS),
    overdue: open && request.dueAt.getTime() < now.getTime(),
    finishedAt: request.finishedAt?.toISOString() ?? null,
  };
  if (risk) Object.assign(view, riskView(risk));
  if (tasks) {
    const done = tasks.filter((t) => TERMINAL_TASK_STATES.includes(t.state));
    view.progress = {
      total: tasks.length,
      done: done.length,
      failed: tasks.filter((t) => t.state === 'failed').length,
      percent: tasks.length ? Math.round((done.length / tasks.length) * 100) : 100,
    };
    view.tasks = tasks.map((t) => ({
      ...taskView(t),
      overdue: t.state === 'waiting_manual' && (view.overdue as boolean),
    }));
    view.manualTasksOpen = tasks.filter((t) => t.state === 'waiting_manual').length;
  }
  return view;
}

export function taskView(task: TaskRecord) {
  return {
    id: task.id,
    vendor: task.vendor,
    resource: task.resource,
    action: task.action,
    state: task.state,
    attempts: task.attempts,
    waitingReason: task.waitingReason,
    nextActionAt: task.nextActionAt?.toISOString() ?? null,
    error: task.error,
    evidence: task.evidence,
    startedAt: task.startedAt?.toISOString() ?? null,
    finishedAt: task.finishedAt?.toISOString() ?? null,
  };
}

/** `atRisk`, the vendors expected to finish after the due date, and the latest expected finish. */
export function riskView(risk: RiskAssessment) {
  return {
    atRisk: risk.atRisk,
    atRiskVendors: risk.vendors.map((v) => ({
      vendor: v.vendor,
      expectedFinishAt: v.expectedFinishAt.toISOString(),
      expectedDurationSeconds: Math.round(v.estimateSeconds),
      basis: v.source === 'observed' ? 'observed_p95' : 'configured_default',
    })),
    expectedFinishAt: risk.expectedFinishAt?.toISOString() ?? null,
  };
}
