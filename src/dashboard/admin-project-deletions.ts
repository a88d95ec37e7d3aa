import type { ProjectDeletionRecord } from '../ledger/project-deletion-ledger.js';
import { projectDeletionJobId } from '../planner/project-deletion-job.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';
import { html } from './html.js';
import { badge, bullBoardJobUrl, layout, when, type ViewContext } from './admin-views.js';

const HOUR_MS = 3_600_000;

/** "in 4 d 3 h" / "in 12 min" / "due now": how long the grace period still runs. */
function runsIn(deletion: ProjectDeletionRecord, now: Date): string {
  if (deletion.status !== 'scheduled') return '—';
  const ms = deletion.runAt.getTime() - now.getTime();
  if (ms <= 0) return 'due now';
  if (ms < HOUR_MS) return `in ${Math.ceil(ms / 60_000)} min`;
  const hours = Math.floor(ms / HOUR_MS);
  return hours >= 24 ? `in ${Math.floor(hours / 24)} d ${hours % 24} h` : `in ${hours} h`;
}

/** What happened, in counts: the app's result and how many S3 versions and markers went. */
function result(deletion: ProjectDeletionRecord): string {
  if (deletion.status === 'failed') return deletion.error ?? 'failed';
  if (deletion.status === 'cancelled') return `cancelled by ${deletion.cancelledBy ?? 'someone'}`;
  const app = deletion.evidence.app as { result?: string; vendorAnswer?: string } | undefined;
  if (!app) return deletion.error ? `last error: ${deletion.error}` : '—';
  const versions = Number(deletion.evidence.versionsDeleted ?? 0);
  const markers = Number(deletion.evidence.deleteMarkersDeleted ?? 0);
  return `app ${app.result}${app.vendorAnswer ? ` (${app.vendorAnswer})` : ''}; S3: ${versions} version(s), ${markers} delete marker(s)`;
}

/**
 * `/admin/project-deletions`: every whole-project deletion with its status and when it runs.
 * Projects are named by app id (a project's, not a person's); reasons stay in the API and the
 * audit trail. Cancelling is done through the API or `erasure project cancel`, which ask for a reason.
 */
export function projectDeletionsPage(ctx: ViewContext, deletions: ProjectDeletionRecord[]): string {
  const rows = deletions.map(
    (d) => html`<tr data-project-deletion="${d.id}">
      <td><code title="${d.id}">${d.id.slice(0, 8)}…</code></td>
      <td>${d.vendor}</td>
      <td><code>${d.appId}</code></td>
      <td>${badge(d.status)}${d.outcome ? html` ${badge(d.outcome)}` : ''}</td>
      <td>${when(d.createdAt)} <span class="muted">by ${d.requestedBy}</span></td>
      <td>${when(d.runAt)}</td>
      <td>${runsIn(d, ctx.now)}</td>
      <td class="num">${d.s3Locations.length}</td>
      <td>${result(d)}</td>
      <td><a href="${bullBoardJobUrl(pinpointQueue.name, projectDeletionJobId(d.id))}">job</a></td>
    </tr>`,
  );
  return layout(
    'Project deletions',
    ctx,
    html`<h1>Project deletions</h1>
    <p class="muted">Whole Pinpoint projects (DeleteApp) and their configured S3 prefixes, deleted when the grace period ends. Cancel a scheduled one with <code>erasure project cancel ID --reason …</code>.</p>
    <table class="list">
      <thead><tr><th>Deletion</th><th>Vendor</th><th>App</th><th>Status</th><th>Requested</th><th>Runs at</th><th>Grace left</th><th>S3 prefixes</th><th>Result</th><th>Bull Board</th></tr></thead>
      <tbody>${rows.length ? rows : html`<tr><td colspan="10" class="muted">No project deletions.</td></tr>`}</tbody>
    </table>`,
  );
}
