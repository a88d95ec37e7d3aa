import type { Principal } from '../api/auth.js';
import type { RequestRecord } from '../ledger/ledger-types.js';
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
  'task-resolved':
    'The failed task is recorded as resolved outside the service: the receipt shows it as an operator’s decision.',
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

export function daysLeft(request: RequestRecord, now: Date): SafeHtml {
  if (request.finishedAt) return html`<span class="muted">ended</span>`;
  const late = now.getTime() - request.dueAt.getTime();
  if (late > 0)
    return html`<span class="badge overdue">overdue${late >= DAY_MS ? ` by ${Math.floor(late / DAY_MS)} d` : ''}</span>`;
  const days = Math.floor((request.dueAt.getTime() - now.getTime()) / DAY_MS);
  return html`<span class="${days <= 3 ? 'soon' : ''}">${days} d</span>`;
}

/** "at risk" with the vendors expected to finish after the due date (src/deadlines/at-risk.ts). */
export function riskBadge(risk: RiskAssessment | undefined): SafeHtml | string {
  if (!risk?.atRisk) return '';
  const vendors = risk.vendors.map((v) => v.vendor).join(', ');
  return html` <span class="badge at-risk" title="expected to finish after the due date at the observed p95 duration of: ${vendors}">at risk: ${vendors}</span>`;
}

export function badge(state: string): SafeHtml {
  return html`<span class="badge s-${state}">${state.replace(/_/g, ' ')}</span>`;
}

export function person(request: RequestRecord): SafeHtml {
  return html`<code title="keyed hash of the person's first identifier">${request.subjectHash.slice(0, HASH_PREFIX)}</code>`;
}

export function shortId(id: string): SafeHtml {
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
        b.state === 'open' && b.fault !== 'transient'
          ? html` — fix ${b.configKey ?? 'the config'}, then <code>erasure queues resume ${b.vendor}</code>`
          : ''
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
  return layout(
    title,
    ctx,
    html`<h1>${title}</h1><p>${text}</p><p><a href="${ADMIN_PATH}">Back to the requests</a></p>`,
  );
}
