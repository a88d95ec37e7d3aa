import type { ScopeDeletionRecord } from '../ledger/scope-deletion-ledger.js';
import type { Instructions } from '../scope-deletions/scope-kinds.js';
import { scopeDeletionView } from '../scope-deletions/scope-deletions.js';
import { html, path, type SafeHtml } from './html.js';
import { ADMIN_PATH, badge, layout, when, type ViewContext } from './admin-views.js';

export const SCOPE_NOTICES: Record<string, string> = {
  sent: 'Recorded as sent: the vendor’s clock runs from the time given.',
  confirmed: 'The vendor’s confirmation is recorded.',
  'cancel-drafted': 'The cancellation e-mail is drafted below: send it, then record the vendor’s answer as confirmed.',
  cancelled: 'The deletion is cancelled.',
};

function instructions(i: Instructions): SafeHtml {
  if (i.channel === 'email') {
    return html`<div class="instructions"><p>E-mail <code>${i.to}</code>, subject <q>${i.subject}</q> — <a href="${i.mailto}">open in the mail program</a></p><pre>${i.body}</pre></div>`;
  }
  return html`<div class="instructions"><p>${i.where}:</p><ol>${i.steps.map((s) => html`<li>${s}</li>`)}</ol></div>`;
}

function form(
  ctx: ViewContext,
  d: ScopeDeletionRecord,
  action: string,
  field: string,
  label: string,
  button: string,
): SafeHtml {
  return html`<form method="post" action="${path(`${ADMIN_PATH}/scope-deletions`, d.id, action)}" class="manual">
    <input type="hidden" name="csrf" value="${ctx.csrf}">
    <label for="${action}-${d.id}">${label}</label>
    <input id="${action}-${d.id}" name="${field}" required minlength="3" maxlength="${field === 'reason' ? 500 : 200}">
    <button type="submit">${button}</button>
  </form>`;
}

/**
 * `/admin/scope-deletions`: guided scope deletions (issue 19) with exactly what to send or click,
 * the vendor's clock (cancel deadline, expected by, overdue) and forms for what the operator did.
 * Scopes are workspaces, projects and accounts, never people; reasons stay in the API and the audit trail.
 */
export function scopeDeletionsPage(
  ctx: ViewContext,
  deletions: ScopeDeletionRecord[],
  now: Date,
  message?: { notice?: string; error?: string },
): string {
  const items = deletions.map((d) => {
    const v = scopeDeletionView(d, now);
    const cancel = d.evidence.cancel as { cancellation?: Instructions } | undefined;
    return html`<section class="vendor" data-scope-deletion="${d.id}">
      <h3>${d.kind} <code>${d.scope}</code> ${badge(v.status)}</h3>
      <dl class="summary">
        <dt>Id</dt><dd><code>${d.id}</code></dd>
        <dt>Requested</dt><dd>${when(d.createdAt)} <span class="muted">by ${d.requestedBy}</span></dd>
        <dt>Vendor’s rules</dt><dd>${v.vendorRules?.summary ?? ''}</dd>
        <dt>Sent</dt><dd>${when(d.sentAt)}${d.sentReference ? html` <span class="muted">ref</span> ${d.sentReference}` : ''}</dd>
        <dt>Cancel deadline</dt><dd>${d.cancelDeadline ? when(d.cancelDeadline) : v.vendorRules?.cancel.after === 'never' ? 'cannot be cancelled once sent' : '—'}</dd>
        <dt>Expected by</dt><dd>${when(d.expectedBy)}</dd>
      </dl>
      ${d.status === 'drafted' ? instructions(d.instructions) : ''}
      ${d.status === 'cancel_requested' && cancel?.cancellation ? html`<h4>Cancellation to send</h4>${instructions(cancel.cancellation)}` : ''}
      ${ctx.canOperate && d.status === 'drafted' ? form(ctx, d, 'sent', 'reference', 'Done at the vendor: ticket or reference', 'Record as sent') : ''}
      ${ctx.canOperate && (d.status === 'sent' || d.status === 'cancel_requested') ? form(ctx, d, 'confirm', 'reference', 'The vendor confirmed: its reference', 'Record confirmation') : ''}
      ${ctx.canOperate && (d.status === 'drafted' || d.status === 'sent') ? form(ctx, d, 'cancel', 'reason', 'Cancel: reason', 'Cancel') : ''}
    </section>`;
  });
  return layout(
    'Scope deletions',
    ctx,
    html`<h1>Scope deletions</h1>
    ${message?.notice ? html`<p class="notice" role="status">${message.notice}</p>` : ''}
    ${message?.error ? html`<p class="error" role="alert">${message.error}</p>` : ''}
    <p class="muted">Whole-scope deletions the vendors offer only by e-mail or in their UI. Request one with <code>erasure scope request …</code>; Pinpoint projects are under <a href="${ADMIN_PATH}/project-deletions">Project deletions</a>.</p>
    ${items.length ? items : html`<p class="muted">No scope deletions.</p>`}`,
  );
}
