import type { Principal } from '../api/auth.js';
import type { ChainEntry } from '../receipts/audit-chain.js';
import { FINAL_REQUEST_STATUSES, REQUEST_STATUSES, TERMINAL_TASK_STATES, type RequestRecord, type TaskRecord } from '../ledger/ledger-types.js';
import { parentJobId } from '../planner/build-flow.js';
import { html, path, type SafeHtml } from './html.js';
import type { RiskAssessment } from '../deadlines/at-risk.js';
import type { BreakerState } from '../infrastructure/vendor-breaker.js';

/**
 * The admin pages as functions of ledger records: plain server-rendered HTML, no scripts, one
 * stylesheet. People appear only as the keyed hash prefix (`subjectHash`); free text that people
 * type (notes, reasons) is kept in the ledger and never shown here.
 */

export const ADMIN_PATH = '/admin';
export const ADMIN_CSS_PATH = '/admin/assets/admin.css';
const BOARD_PATH = '/admin/queues';
const DAY_MS = 86_400_000;
const HASH_PREFIX = 12;

export interface ViewContext {
  principal: Principal;
  /** The per-session CSRF token every form carries. */
  csrf: string;
  canOperate: boolean;
  canSubmit: boolean;
  /** A staff role (src/api/access.ts): Bull Board, which shows every client's jobs, is linked for staff only. */
  staff: boolean;
  /** The clients a staff member may filter the list by (configured token names); empty for a client, who sees only its own. */
  clients: readonly string[];
  now: Date;
  /** Vendors whose circuit breaker is open or half-open: shown as a banner on every page. */
  breakers?: BreakerState[];
}

export type ListFilter = 'all' | 'overdue' | 'at_risk' | 'failed' | 'waiting_manual';

/** Messages shown after a redirect, by fixed key (the query never carries text to echo). */
export const NOTICES: Record<string, string> = {
  'task-completed': 'The manual task is recorded as done.',
  cancelled: 'The request is cancelled. Work already started at a vendor is shown below as it ended.',
  retried: 'The failed tasks are queued again.',
  'nothing-to-retry': 'There were no failed tasks to retry.',
  'task-sent': 'The manual step is recorded as sent to the vendor; it stays open until the vendor confirms.',
  'task-skipped': 'The failed task is skipped: the receipt shows it as an operator’s decision.',
  'task-resolved': 'The failed task is recorded as resolved outside the service: the receipt shows it as an operator’s decision.',
};
export const ERRORS: Record<string, string> = {
  'note-required': 'Completing a manual task needs a note of at least 3 characters (at most 2,000).',
  'reason-required': 'This needs a reason of at least 3 characters (at most 500).',
  'not-a-manual-task': 'That task is not waiting for manual work any more.',
  'already-finished': 'The request has already ended; there is nothing to cancel.',
  'reference-required': 'Recording a manual step as sent needs its ticket or reference (3 to 200 characters).',
  'not-an-unsent-manual-task': 'That task is not a manual step waiting to be sent any more.',
  'not-a-failed-task': 'That task is not failed any more: only a failed task can be skipped or resolved.',
};

export function bullBoardJobUrl(queue: string, jobId: string): string {
  return `${BOARD_PATH}/queue/${encodeURIComponent(queue)}/${encodeURIComponent(jobId)}`;
}

export function requestUrl(requestId: string): string {
  return path(`${ADMIN_PATH}/requests`, requestId);
}

export function when(date: Date | null | undefined): SafeHtml | string {
  if (!date) return '—';
  const iso = date.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}

function daysLeft(request: RequestRecord, now: Date): SafeHtml {
  if (request.finishedAt) return html`<span class="muted">ended</span>`;
  const late = now.getTime() - request.dueAt.getTime();
  if (late > 0) return html`<span class="badge overdue">overdue${late >= DAY_MS ? ` by ${Math.floor(late / DAY_MS)} d` : ''}</span>`;
  const days = Math.floor((request.dueAt.getTime() - now.getTime()) / DAY_MS);
  return html`<span class="${days <= 3 ? 'soon' : ''}">${days} d</span>`;
}

/** "at risk" with the vendors expected to finish after the due date (src/deadlines/at-risk.ts). */
function riskBadge(risk: RiskAssessment | undefined): SafeHtml | string {
  if (!risk?.atRisk) return '';
  const vendors = risk.vendors.map((v) => v.vendor).join(', ');
  return html` <span class="badge at-risk" title="expected to finish after the due date at the observed p95 duration of: ${vendors}">at risk: ${vendors}</span>`;
}

export function badge(state: string): SafeHtml {
  return html`<span class="badge s-${state}">${state.replace(/_/g, ' ')}</span>`;
}

function person(request: RequestRecord): SafeHtml {
  return html`<code title="keyed hash of the person's first identifier">${request.subjectHash.slice(0, HASH_PREFIX)}</code>`;
}

function shortId(id: string): SafeHtml {
  return html`<code title="${id}">${id.slice(0, 8)}…</code>`;
}

export function layout(title: string, ctx: ViewContext | undefined, body: SafeHtml): string {
  const nav = ctx
    ? html`<nav>
        <a href="${ADMIN_PATH}">Requests</a>
        <a href="${ADMIN_PATH}?filter=overdue">Overdue</a>
        <a href="${ADMIN_PATH}?filter=failed">Failed</a>
        <a href="${ADMIN_PATH}?filter=waiting_manual">Waiting manual</a>
        ${ctx.canOperate ? html`<a href="${ADMIN_PATH}/project-deletions">Project deletions</a>` : ''}
        ${ctx.canOperate ? html`<a href="${ADMIN_PATH}/scope-deletions">Scope deletions</a>` : ''}
        <a href="${ADMIN_PATH}/manual-work">Manual work</a>
        ${ctx.staff ? html`<a href="${BOARD_PATH}">Bull Board</a>` : ''}
      </nav>
      <div class="who">
        <span>${ctx.principal.name} <span class="muted">(${ctx.principal.role})</span></span>
        <form method="post" action="${ADMIN_PATH}/logout"><input type="hidden" name="csrf" value="${ctx.csrf}"><button type="submit" class="link">Log out</button></form>
      </div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · erasure</title>
<link rel="stylesheet" href="${ADMIN_CSS_PATH}">
</head>
<body>
<header><a class="brand" href="${ADMIN_PATH}">erasure</a>${nav}</header>
<main>
${breakerBanner(ctx?.breakers ?? [])}
${body}
</main>
</body>
</html>
`.value;
}

/** One line per vendor whose breaker is not closed: why its queue is paused and how to resume it. */
export function breakerBanner(breakers: BreakerState[]): SafeHtml | string {
  const open = breakers.filter((b) => b.state !== 'closed');
  if (open.length === 0) return '';
  return html`<div class="error breaker" role="alert"><strong>Vendor paused.</strong><ul>${open.map(
    (b) =>
      html`<li><strong>${b.vendor}</strong> ${b.state === 'half_open' ? 'is probing after a failure storm' : `is paused (${b.fault ?? 'fault'})`}: ${b.reason ?? ''}${
        b.state === 'open' && b.fault !== 'transient' ? html` — fix ${b.configKey ?? 'the config'}, then <code>erasure queues resume ${b.vendor}</code>` : ''
      }</li>`,
  )}</ul></div>`;
}

export function loginPage(input: { csrf: string; next: string; error?: string }): string {
  return layout(
    'Log in',
    undefined,
    html`<section class="login">
      <h1>Log in</h1>
      <p class="muted">Use an API token (viewer, operator or admin). It is kept in an HttpOnly cookie for 8 hours or until you log out.</p>
      ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
      <form method="post" action="${ADMIN_PATH}/login">
        <input type="hidden" name="csrf" value="${input.csrf}">
        <input type="hidden" name="next" value="${input.next}">
        <label for="token">Token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required>
        <button type="submit">Log in</button>
      </form>
    </section>`,
  );
}

export function messagePage(ctx: ViewContext | undefined, title: string, text: string): string {
  return layout(title, ctx, html`<h1>${title}</h1><p>${text}</p><p><a href="${ADMIN_PATH}">Back to the requests</a></p>`);
}

function filterBar(active: ListFilter, status: string | undefined, clients: readonly string[] = [], client?: string): SafeHtml {
  const filters: Array<[ListFilter, string]> = [
    ['all', 'All'],
    ['overdue', 'Overdue'],
    ['at_risk', 'At risk'],
    ['failed', 'Failed tasks'],
    ['waiting_manual', 'Waiting manual'],
  ];
  return html`<div class="filters">
    ${filters.map(([key, label]) => html`<a class="${key === active && !status ? 'active' : ''}" href="${key === 'all' ? ADMIN_PATH : `${ADMIN_PATH}?filter=${key}`}">${label}</a>`)}
    <form method="get" action="${ADMIN_PATH}" class="inline">
      <label for="status">Status</label>
      <select id="status" name="status">
        <option value="">any</option>
        ${REQUEST_STATUSES.map((s) => html`<option value="${s}" ${s === status ? html`selected` : ''}>${s.replace(/_/g, ' ')}</option>`)}
      </select>
      ${clients.length
        ? html`<label for="client">Client</label>
      <select id="client" name="client">
        <option value="">any</option>
        ${clients.map((c) => html`<option value="${c}" ${c === client ? html`selected` : ''}>${c}</option>`)}
      </select>`
        : ''}
      <button type="submit">Show</button>
    </form>
  </div>`;
}

export function requestListPage(
  ctx: ViewContext,
  input: { filter: ListFilter; status?: string; client?: string; requests: RequestRecord[]; nextCursor?: string; risks?: Map<string, RiskAssessment> },
): string {
  const title = input.status
    ? `Requests: ${input.status.replace(/_/g, ' ')}`
    : input.filter === 'overdue'
      ? 'Overdue requests'
      : input.filter === 'at_risk'
        ? 'Requests at risk of missing their deadline'
        : 'Requests';
  const older = input.nextCursor
    ? html`<p><a href="${ADMIN_PATH}?${new URLSearchParams({ ...(input.filter !== 'all' ? { filter: input.filter } : {}), ...(input.status ? { status: input.status } : {}), ...(input.client ? { client: input.client } : {}), cursor: input.nextCursor }).toString()}">Older requests →</a></p>`
    : '';
  const rows = input.requests.map(
    (r) => html`<tr>
      <td><a href="${requestUrl(r.id)}">${shortId(r.id)}</a></td>
      <td>${r.client}</td>
      <td>${person(r)}</td>
      <td>${badge(r.status)}</td>
      <td>${r.regulation.toUpperCase()}</td>
      <td>${r.vendors.join(', ')}</td>
      <td>${when(r.submittedAt)}</td>
      <td>${when(r.dueAt)}</td>
      <td>${daysLeft(r, ctx.now)}${riskBadge(input.risks?.get(r.id))}</td>
      <td>${when(r.finishedAt)}</td>
    </tr>`,
  );
  return layout(
    title,
    ctx,
    html`<h1>${title}</h1>
    ${filterBar(input.filter, input.status, ctx.clients, input.client)}
    <table class="list">
      <thead><tr><th>Request</th><th>Client</th><th>Person (hash)</th><th>Status</th><th>Rule</th><th>Vendors</th><th>Submitted</th><th>Due</th><th>Days left</th><th>Finished</th></tr></thead>
      <tbody>${rows.length ? rows : html`<tr><td colspan="10" class="muted">No requests.</td></tr>`}</tbody>
    </table>
    ${older}`,
  );
}

export function taskListPage(ctx: ViewContext, input: { filter: 'failed' | 'waiting_manual'; rows: Array<{ task: TaskRecord; request?: RequestRecord }>; limited: boolean }): string {
  const title = input.filter === 'failed' ? 'Failed tasks' : 'Tasks waiting for manual work';
  const rows = input.rows.map(
    ({ task, request }) => html`<tr>
      <td><a href="${requestUrl(task.requestId)}">${shortId(task.requestId)}</a></td>
      <td>${request?.client ?? '—'}</td>
      <td>${request ? person(request) : '—'}</td>
      <td>${task.vendor}</td>
      <td><code>${task.resource}</code></td>
      <td>${task.action}</td>
      <td>${badge(task.state)}</td>
      <td>${task.state === 'failed' ? (task.error ?? '—') : (task.waitingReason ?? '—')}</td>
      <td>${when(task.updatedAt)}</td>
      <td>${request ? daysLeft(request, ctx.now) : '—'}</td>
      <td>${task.jobName === 'manual' || !ctx.staff ? '—' : html`<a href="${bullBoardJobUrl(task.queue, task.id)}">job</a>`}</td>
    </tr>`,
  );
  return layout(
    title,
    ctx,
    html`<h1>${title}</h1>
    ${filterBar(input.filter, undefined)}
    <table class="list">
      <thead><tr><th>Request</th><th>Client</th><th>Person (hash)</th><th>Vendor</th><th>Resource</th><th>Action</th><th>State</th><th>${input.filter === 'failed' ? 'Error' : 'What to do'}</th><th>Since</th><th>Days left</th><th>Bull Board</th></tr></thead>
      <tbody>${rows.length ? rows : html`<tr><td colspan="11" class="muted">None.</td></tr>`}</tbody>
    </table>
    ${input.limited ? html`<p class="muted">Showing the ${input.rows.length} most recently changed.</p>` : ''}`,
  );
}

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
  return String(value);
}

/** A task's evidence, every key readably (lists and objects included); other detail stays in the API and the receipt. */
function evidenceSummary(task: TaskRecord): SafeHtml | string {
  const items: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(task.evidence ?? {})) {
    if (FREE_TEXT_EVIDENCE_KEYS.has(key)) continue;
    if (typeof value === 'number' && !Number.isFinite(value)) continue;
    items.push([key === 'completedBy' ? 'completed by' : key, evidenceText(value)]);
  }
  if (items.length === 0) return '—';
  return html`<ul class="evidence">${items.map(([k, v]) => html`<li><span class="muted">${k}</span> ${v}</li>`)}</ul>`;
}

function vendorSection(ctx: ViewContext, request: RequestRecord, vendor: string, tasks: TaskRecord[]): SafeHtml {
  const done = tasks.filter((t) => TERMINAL_TASK_STATES.includes(t.state)).length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  const rows = tasks.map((t) => {
    const manualForm =
      t.state === 'waiting_manual' && ctx.canOperate && !request.finishedAt
        ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'complete')}" class="manual">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="note-${t.id}">Note (what was done, ticket number; no personal data)</label>
            <textarea id="note-${t.id}" name="note" required minlength="3" maxlength="2000" rows="2"></textarea>
            <button type="submit">Mark done</button>
          </form>${t.jobName === 'manual' && !t.evidence.sent
            ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'sent')}" class="manual">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="sent-${t.id}">Sent to the vendor: ticket or reference (a cancel can no longer stop it)</label>
            <input id="sent-${t.id}" name="reference" required minlength="3" maxlength="200">
            <button type="submit">Mark sent</button>
          </form>`
            : ''}`
        : '';
    // On-call closes a failed task that will never succeed (src/operations/decide-failed-tasks.ts).
    const decisionForm =
      t.state === 'failed' && ctx.canOperate
        ? html`<form method="post" action="${path(`${ADMIN_PATH}/requests`, request.id, 'tasks', t.id, 'decide')}" class="decide">
            <input type="hidden" name="csrf" value="${ctx.csrf}">
            <label for="decide-${t.id}">Close it (never succeeds): reason, recorded in the audit trail</label>
            <input id="decide-${t.id}" name="reason" required minlength="3" maxlength="500">
            <button type="submit" name="decision" value="skipped">Skip</button>
            <button type="submit" name="decision" value="resolved">Resolved outside</button>
          </form>`
        : '';
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

export function requestPage(
  ctx: ViewContext,
  input: { request: RequestRecord; tasks: TaskRecord[]; trail: ChainEntry[]; notice?: string; error?: string; risk?: RiskAssessment },
): string {
  const { request, tasks } = input;
  const done = tasks.filter((t) => TERMINAL_TASK_STATES.includes(t.state)).length;
  const failed = tasks.filter((t) => t.state === 'failed').length;
  const manual = tasks.filter((t) => t.state === 'waiting_manual').length;
  const open = !FINAL_REQUEST_STATUSES.includes(request.status);
  const byVendor = new Map<string, TaskRecord[]>();
  for (const t of tasks) byVendor.set(t.vendor, [...(byVendor.get(t.vendor) ?? []), t]);

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

  return layout(
    `Request ${request.id.slice(0, 8)}`,
    ctx,
    html`<p class="crumbs"><a href="${ADMIN_PATH}">Requests</a> / <code>${request.id}</code></p>
    ${input.notice ? html`<p class="notice" role="status">${input.notice}</p>` : ''}
    ${input.error ? html`<p class="error" role="alert">${input.error}</p>` : ''}
    <h1>Request ${badge(request.status)}</h1>
    <dl class="summary">
      <dt>Id</dt><dd><code>${request.id}</code></dd>
      <dt>Client</dt><dd>${request.client}</dd>
      <dt>Person (hash)</dt><dd>${person(request)}</dd>
      <dt>Regulation</dt><dd>${request.regulation.toUpperCase()}</dd>
      <dt>Submitted</dt><dd>${when(request.submittedAt)}</dd>
      ${request.notBefore ? html`<dt>Not before</dt><dd>${when(request.notBefore)}</dd>` : ''}
      <dt>Due</dt><dd>${when(request.dueAt)}</dd>
      <dt>Days left</dt><dd>${daysLeft(request, ctx.now)}${riskBadge(input.risk)}</dd>
      ${input.risk?.atRisk
        ? html`<dt>Expected finish</dt><dd>${input.risk.vendors.map((v) => html`<span>${v.vendor}: ${when(v.expectedFinishAt)} <span class="muted">(${v.source === 'observed' ? 'observed p95' : 'configured default'})</span></span> `)}</dd>`
        : ''}
      <dt>Finished</dt><dd>${when(request.finishedAt)}</dd>
      <dt>Progress</dt><dd><progress max="${tasks.length || 1}" value="${tasks.length ? done : 1}">${done}/${tasks.length}</progress> ${done}/${tasks.length} tasks ended${failed ? `, ${failed} failed` : ''}${manual ? `, ${manual} waiting for manual work` : ''}</dd>
      ${ctx.staff ? html`<dt>Flow</dt><dd><a href="${bullBoardJobUrl('requests', parentJobId(request.id))}">parent job in Bull Board</a></dd>` : ''}
    </dl>
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

/** The one stylesheet (served from `ADMIN_CSS_PATH`; the CSP allows no inline styles). */
export const ADMIN_CSS = `
:root { --fg: #1f2933; --muted: #6b7785; --line: #d9dee4; --bg: #f7f8fa; --accent: #1d4ed8; --bad: #b91c1c; --ok: #15803d; --warn: #b45309; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #111827; color: #e5e7eb; }
header a { color: #e5e7eb; text-decoration: none; }
header a:hover { text-decoration: underline; }
header .brand { font-weight: 700; font-size: 1.1rem; }
header nav { display: flex; gap: 1rem; flex: 1; }
header .who { display: flex; gap: .6rem; align-items: center; }
header .who .muted { color: #9ca3af; }
main { padding: 1rem 1.5rem 3rem; max-width: 1400px; }
h1 { font-size: 1.4rem; margin: .4rem 0 1rem; }
h2 { font-size: 1.15rem; margin: 1.6rem 0 .6rem; }
h3 { font-size: 1rem; margin: 0 0 .4rem; }
a { color: var(--accent); }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; }
.muted { color: var(--muted); font-weight: normal; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .4rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f5; font-weight: 600; font-size: 12.5px; }
td.num { text-align: right; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 9px; font-size: 12px; background: #e5e7eb; white-space: nowrap; }
.s-completed, .s-succeeded, .s-not_found { background: #dcfce7; color: var(--ok); }
.s-failed, .s-completed_with_errors, .overdue { background: #fee2e2; color: var(--bad); }
.s-waiting_manual, .s-rate_limited, .s-waiting_vendor, .s-scheduled { background: #fef3c7; color: var(--warn); }
.s-in_progress, .s-running, .s-queued, .s-received { background: #dbeafe; color: var(--accent); }
.soon { color: var(--warn); font-weight: 600; }
.at-risk { background: #fef3c7; color: var(--warn); }
.filters { display: flex; gap: .8rem; align-items: center; margin-bottom: .8rem; flex-wrap: wrap; }
.filters a { padding: .2rem .6rem; border-radius: 4px; text-decoration: none; border: 1px solid var(--line); background: #fff; }
.filters a.active { background: var(--accent); color: #fff; border-color: var(--accent); }
form.inline { display: inline-flex; gap: .4rem; align-items: center; margin-left: auto; }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; background: #fff; border: 1px solid var(--line); padding: .8rem 1rem; margin: 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; }
progress { width: 12rem; vertical-align: middle; }
section.vendor { margin: 0 0 1.2rem; }
ul.evidence { margin: 0; padding: 0; list-style: none; }
.error-text { color: var(--bad); }
.notice { background: #dcfce7; border: 1px solid #86efac; padding: .5rem .8rem; }
.error { background: #fee2e2; border: 1px solid #fca5a5; padding: .5rem .8rem; }
.actions { display: flex; gap: 1rem; margin-top: 1rem; flex-wrap: wrap; }
form.action, form.manual, form.decide { display: flex; flex-direction: column; gap: .3rem; background: #fff; border: 1px solid var(--line); padding: .6rem .8rem; min-width: 22rem; }
form.manual, form.decide { margin-top: .4rem; min-width: 0; }
form.action.danger { border-color: #fca5a5; }
input, select, textarea, button { font: inherit; }
input, textarea { padding: .3rem .4rem; border: 1px solid #b8c0ca; border-radius: 3px; }
button { padding: .3rem .8rem; border: 1px solid var(--accent); background: var(--accent); color: #fff; border-radius: 3px; cursor: pointer; align-self: flex-start; }
.danger button { background: var(--bad); border-color: var(--bad); }
button.link { background: none; border: none; color: #e5e7eb; padding: 0; text-decoration: underline; }
section.login { max-width: 26rem; margin: 3rem auto; background: #fff; border: 1px solid var(--line); padding: 1.2rem 1.5rem; }
section.login form { display: flex; flex-direction: column; gap: .5rem; }
.crumbs { margin: 0 0 .3rem; color: var(--muted); }
`;
