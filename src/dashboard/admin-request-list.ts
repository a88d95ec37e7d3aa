import { REQUEST_STATUSES, type RequestRecord, type TaskRecord } from '../ledger/ledger-types.js';
import type { RiskAssessment } from '../deadlines/at-risk.js';
import { html, type SafeHtml } from './html.js';
import {
  ADMIN_PATH,
  badge,
  bullBoardJobUrl,
  daysLeft,
  layout,
  person,
  requestUrl,
  riskBadge,
  shortId,
  when,
  type ListFilter,
  type ViewContext,
} from './admin-views.js';

/** The admin list pages: requests by filter, status and client, and failed or manual tasks across requests. */

function filterBar(
  active: ListFilter,
  status: string | undefined,
  clients: readonly string[] = [],
  client?: string,
): SafeHtml {
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
      ${
        clients.length
          ? html`<label for="client">Client</label>
      <select id="client" name="client">
        <option value="">any</option>
        ${clients.map((c) => html`<option value="${c}" ${c === client ? html`selected` : ''}>${c}</option>`)}
      </select>`
          : ''
      }
      <button type="submit">Show</button>
    </form>
  </div>`;
}

export function requestListPage(
  ctx: ViewContext,
  input: {
    filter: ListFilter;
    status?: string;
    client?: string;
    requests: RequestRecord[];
    nextCursor?: string;
    risks?: Map<string, RiskAssessment>;
  },
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

export function taskListPage(
  ctx: ViewContext,
  input: {
    filter: 'failed' | 'waiting_manual';
    rows: Array<{ task: TaskRecord; request?: RequestRecord }>;
    limited: boolean;
  },
): string {
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
