import type { ChainEntry } from '../receipts/audit-chain.js';
import {
  FINAL_REQUEST_STATUSES,
  TERMINAL_TASK_STATES,
  type RequestRecord,
  type TaskRecord,
} from '../ledger/ledger-types.js';
import { parentJobId } from '../planner/build-flow.js';
import type { RiskAssessment } from '../deadlines/at-risk.js';
import { html, path, type SafeHtml } from './html.js';
import {
  ADMIN_PATH,
  badge,
  bullBoardJobUrl,
  daysLeft,
  layout,
  person,
  riskBadge,
  when,
  type ViewContext,
} from './admin-views.js';

/** One request's admin page: its deadline, each vendor's tasks with their evidence, the operator's actions, and the audit trail. */

/** Evidence keys holding free text a person typed: kept in the ledger and the API, never shown here. */
const FREE_TEXT_EVIDENCE_KEYS = new Set(['note']);
const EVIDENCE_LIST_MAX = 20;
const EVIDENCE_DEPTH_MAX = 3;

/**
 * One evidence value as readable text: lists joined by commas (at most EVIDENCE_LIST_MAX items),
 * objects as `key: value` pairs, nesting cut at EVIDENCE_DEPTH_MAX. Segment's evidence (its
 * destinations, regulation id, overall status; jobs/segment-poll-regulation.ts) is lists and objects.
 */
function evidenceText(value: unknown, depth = 0): string {
  if (value === null || value === undefined) return 'none';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'bigint') return String(value);
  if (depth >= EVIDENCE_DEPTH_MAX) return '…';
  if (Array.isArray(value)) {
    if (value.length === 0) return 'none';
    const shown = value.slice(0, EVIDENCE_LIST_MAX).map((v) => evidenceText(v, depth + 1));
    const more = value.length - shown.length;
    return `${shown.join(depth === 0 && value.some((v) => typeof v === 'object' && v !== null) ? '; ' : ', ')}${more > 0 ? ` and ${more} more` : ''}`;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([k]) => !FREE_TEXT_EVIDENCE_KEYS.has(k));
    return entries.length ? entries.map(([k, v]) => `${k}: ${evidenceText(v, depth + 1)}`).join(', ') : 'none';
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  // Evidence is JSON from the ledger: nothing else (a function or symbol) can reach here.
  return typeof value;
}

/** A task's evidence, every key readably (lists and objects included); other detail stays in the API and the receipt. */
function evidenceSummary(task: TaskRecord): SafeHtml | string {
  const items: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(task.evidence)) {
    if (FREE_TEXT_EVIDENCE_KEYS.has(key)) continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    items.push([key === 'completedBy' ? 'completed by' : key, evidenceText(value)]);
  }
  if (items.length === 0) return '—';
  return html`<ul class="evidence">${items.map(([k, v]) => html`<li><span class="muted">${k}</span> ${v}</li>`)}</ul>`;
}

/** The forms of a task waiting for manual work: mark it done, and (once) mark it sent to the vendor. */
function manualTaskForms(ctx: ViewContext, request: RequestRecord, t: TaskRecord): SafeHtml | '' {
  return t.state === 'waiting_manual' && ctx.canOperate && !request.finishedAt
    ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'complete')}" class="manual">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="note-${t.id}">Note (what was done, ticket number; no personal data)</label>
            <textarea id="note-${t.id}" name="note" required minlength="3" maxlength="2000" rows="2"></textarea>
            <button type="submit">Mark done</button>
          </form>${
            t.jobName === 'manual' && !t.evidence.sent
              ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'sent')}" class="manual">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="sent-${t.id}">Sent to the vendor: ticket or reference (a cancel can no longer stop it)</label>
            <input id="sent-${t.id}" name="reference" required minlength="3" maxlength="200">
            <button type="submit">Mark sent</button>
          </form>`
              : ''
          }`
    : '';
}

/** On-call closes a failed task that will never succeed (src/operations/decide-failed-tasks.ts). */
function failedTaskDecisionForm(ctx: ViewContext, request: RequestRecord, t: TaskRecord): SafeHtml | '' {
  return t.state === 'failed' && ctx.canOperate
    ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'decide')}" class="decide">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="decide-${t.id}">Close it (never succeeds): reason, recorded in the audit trail</label>
            <input id="decide-${t.id}" name="reason" required minlength="3" maxlength="500">
            <button type="submit" name="decision" value="skipped">Skip</button>
            <button type="submit" name="decision" value="resolved">Resolved outside</button>
          </form>`
    : '';
}

function vendorSection(ctx: ViewContext, request: RequestRecord, vendor: string, tasks: TaskRecord[]): SafeHtml {
  const done = tasks.filter((t) => TERMINAL_TASK_STATES.includes(t.state)).length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  const rows = tasks.map((t) => {
    const manualForm = manualTaskForms(ctx, request, t);
    const decisionForm = failedTaskDecisionForm(ctx, request, t);
    return html`<tr data-task="${t.id}">
      <td><code>${t.resource}</code></td>
      <td>${t.action}</td>
      <td>${badge(t.state)}</td>
      <td class="num">${t.attempts}</td>
      <td>${t.state === 'failed' ? html`<span class="error-text">${t.error ?? 'failed'}</span>` : (t.waitingReason ?? (t.error ? html`<span class="muted">last error:</span> ${t.error}` : '—'))}${manualForm}${decisionForm}</td>
      <td>${when(t.nextActionAt)}</td>
      <td>${evidenceSummary(t)}</td>
      <td>${t.jobName === 'manual' ? html`<span class="muted">manual</span>` : ctx.staff ? html`<a href="${bullBoardJobUrl(t.queue, t.id)}">job</a>` : '—'}</td>
    </tr>`;
  });
  return html`<section class="vendor" id="vendor-${vendor}">
    <h3>${vendor} <span class="muted">${done}/${tasks.length} ended${failed ? `, ${failed} failed` : ''}</span></h3>
    <progress max="${tasks.length}" value="${done}">${done}/${tasks.length}</progress>
    <table class="tasks">
      <thead><tr><th>Resource</th><th>Action</th><th>State</th><th>Attempts</th><th>Waiting reason / error</th><th>Next action</th><th>Evidence</th><th>Bull Board</th></tr></thead>
      <tbody>${rows}</tbody>
    </table>
  </section>`;
}

/** The operator's actions on the whole request: retry its failed tasks, cancel it. */
function requestActions(
  ctx: ViewContext,
  request: RequestRecord,
  counts: { failed: number; open: boolean },
): SafeHtml[] {
  const { failed, open } = counts;
  const actions: SafeHtml[] = [];
  if (failed > 0 && ctx.canOperate) {
    actions.push(html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'retry')}" class="action">
      <input type="hidden" name="csrf" value="${ctx.csrf}">
      <label for="retry-reason">Retry the ${failed} failed task${failed > 1 ? 's' : ''}: reason</label>
      <input id="retry-reason" name="reason" required minlength="3" maxlength="500">
      <button type="submit">Retry failed tasks</button>
    </form>`);
  }
  if (open && ctx.canSubmit) {
    actions.push(html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'cancel')}" class="action danger">
      <input type="hidden" name="csrf" value="${ctx.csrf}">
      <label for="cancel-reason">Cancel this request: reason</label>
      <input id="cancel-reason" name="reason" required minlength="3" maxlength="500">
      <button type="submit">Cancel request</button>
    </form>`);
  }
  return actions;
}

interface RequestPageInput {
  request: RequestRecord;
  tasks: TaskRecord[];
  trail: ChainEntry[];
  notice?: string;
  error?: string;
  risk?: RiskAssessment;
}

/** The request's facts: ids, regulation, dates, deadline and risk, progress. */
function requestSummary(
  ctx: ViewContext,
  input: RequestPageInput,
  counts: { done: number; failed: number; manual: number },
): SafeHtml {
  const { request, tasks } = input;
  const { done, failed, manual } = counts;
  return html`<dl class="summary">
      <dt>Id</dt><dd><code>${request.id}</code></dd>
      <dt>Client</dt><dd>${request.client}</dd>
      <dt>Person (hash)</dt><dd>${person(request)}</dd>
      <dt>Regulation</dt><dd>${request.regulation.toUpperCase()}</dd>
      <dt>Submitted</dt><dd>${when(request.submittedAt)}</dd>
      ${request.notBefore ? html`<dt>Not before</dt><dd>${when(request.notBefore)}</dd>` : ''}
      <dt>Due</dt><dd>${when(request.dueAt)}</dd>
      <dt>Days left</dt><dd>${daysLeft(request, ctx.now)}${riskBadge(input.risk)}</dd>
      ${
        input.risk?.atRisk
          ? html`<dt>Expected finish</dt><dd>${input.risk.vendors.map((v) => html`<span>${v.vendor}: ${when(v.expectedFinishAt)} <span class="muted">(${v.source === 'observed' ? 'observed p95' : 'configured default'})</span></span> `)}</dd>`
          : ''
      }
      <dt>Finished</dt><dd>${when(request.finishedAt)}</dd>
      <dt>Progress</dt><dd><progress max="${tasks.length || 1}" value="${tasks.length ? done : 1}">${done}/${tasks.length}</progress> ${done}/${tasks.length} tasks ended${failed ? `, ${failed} failed` : ''}${manual ? `, ${manual} waiting for manual work` : ''}</dd>
      ${ctx.staff ? html`<dt>Flow</dt><dd><a href="${bullBoardJobUrl('requests', parentJobId(request.id))}">parent job in Bull Board</a></dd>` : ''}
    </dl>`;
}

export function requestPage(ctx: ViewContext, input: RequestPageInput): string {
  const { request, tasks } = input;
  const done = tasks.filter((t) => TERMINAL_TASK_STATES.includes(t.state)).length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  const manual = tasks.filter((t) => t.state === 'waiting_manual').length;
  const open = !FINAL_REQUEST_STATUSES.includes(request.status);
  const byVendor = new Map<string, TaskRecord[]>();
  for (const t of tasks) byVendor.set(t.vendor, [...(byVendor.get(t.vendor) ?? []), t]);

  const actions = requestActions(ctx, request, { failed, open });

  return layout(
    `Request ${request.id.slice(0, 8)}`,
    ctx,
    html`<p class="crumbs"><a href="${ADMIN_PATH}">Requests</a> / <code>${request.id}</code></p>
    ${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
    ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
    <h1>Request ${badge(request.status)}</h1>
    ${requestSummary(ctx, input, { done, failed, manual })}
    ${actions.length ? html`<div class="actions">${actions}</div>` : ''}
    <h2>Progress by vendor</h2>
    ${[...byVendor.entries()].map(([vendor, list]) => vendorSection(ctx, request, vendor, list))}
    ${byVendor.size === 0 ? html`<p class="muted">No tasks.</p>` : ''}
    <h2>Audit trail</h2>
    <table class="list audit">
      <thead><tr><th>At</th><th>Who</th><th>What</th></tr></thead>
      <tbody>${input.trail.map((e) => html`<tr><td>${when(new Date(e.at))}</td><td>${e.actor}</td><td>${e.action}</td></tr>`)}</tbody>
    </table>`,
  );
}
