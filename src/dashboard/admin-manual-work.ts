import type { ManualWorkItem } from '../manual-work/manual-work.js';
import { html } from './html.js';
import { badge, layout, when, type ViewContext } from './admin-views.js';

/**
 * `/admin/manual-work`: every open manual step (per-request manual tasks, guided scope
 * deletions) with its assignee and due time, overdue first. Ids and kinds only, never a person.
 */
export function manualWorkPage(ctx: ViewContext, items: ManualWorkItem[]): string {
  const sorted = [...items].sort((a, b) => a.dueAt.getTime() - b.dueAt.getTime());
  const overdue = sorted.filter((i) => i.dueAt.getTime() < ctx.now.getTime()).length;
  const rows = sorted.map(
    (i) => html`<tr data-manual-work="${i.ref}">
      <td>${i.work === 'request-task' ? 'request task' : 'scope deletion'}</td>
      <td><a href="${i.link}"><code>${i.id.slice(0, 8)}…</code></a></td>
      <td>${i.kind}</td>
      <td>${i.vendor}</td>
      <td>${i.step}</td>
      <td>${i.assignee}</td>
      <td>${when(i.dueAt)} ${i.dueAt.getTime() < ctx.now.getTime() ? badge('overdue') : ''}</td>
    </tr>`,
  );
  return layout(
    'Manual work',
    ctx,
    html`<h1>Manual work <span class="muted">${overdue} overdue</span></h1>
    <p class="muted">Steps only a person can do, with who is assigned and when each is due; reminders and escalations go out at the configured offsets (config <code>manualWork</code>).</p>
    <table class="list">
      <thead><tr><th>Work</th><th>Id</th><th>Kind</th><th>Vendor</th><th>Step</th><th>Assignee</th><th>Due</th></tr></thead>
      <tbody>${rows.length ? rows : html`<tr><td colspan="7" class="muted">None.</td></tr>`}</tbody>
    </table>`,
  );
}
