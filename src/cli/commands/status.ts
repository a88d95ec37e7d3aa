import { expectPositionals, table, type Command } from '../command.js';
import type { RequestAnswer } from '../api-answers.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'one request: status, deadline, progress and every task',
  help: `usage: erasure status REQUEST_ID [--json]

Shows a request: status, regulation, deadline (due date, days left, overdue), progress, and each
vendor task with its state, attempts, waiting reason, next action time and error.
Exit code 1 when there is no such request.`,
  options: {},
  async run(ctx) {
    const [id] = expectPositionals(ctx, ['REQUEST_ID'], 'status');
    const request = await ctx.client().get<RequestAnswer>(`/v1/requests/${encodeURIComponent(id)}`);
    if (ctx.json) ctx.io.json(request);
    else ctx.io.out(formatRequest(request));
    return 0;
  },
};

/** A request as text: a header block, then a table of its tasks. */
export function formatRequest(r: RequestAnswer): string {
  const progress = r.progress
    ? `${r.progress.done}/${r.progress.total} tasks done (${r.progress.percent}%)${r.progress.failed ? `, ${r.progress.failed} failed` : ''}`
    : '-';
  const lines = [
    `request     ${r.id}`,
    `status      ${r.status}${r.overdue ? '  OVERDUE' : ''}`,
    `regulation  ${r.regulation}   vendors ${(r.vendors ?? []).join(', ')}`,
    `subject     ${r.subjectHash}… (keyed hash)`,
    `submitted   ${r.submittedAt}${r.notBefore ? `   not before ${r.notBefore}` : ''}`,
    `due         ${r.dueAt} (${r.daysLeft} days left)${r.finishedAt ? `   finished ${r.finishedAt}` : ''}`,
    `progress    ${progress}${r.manualTasksOpen ? `, ${r.manualTasksOpen} manual task(s) open` : ''}`,
  ];
  if (r.tasks?.length) {
    lines.push(
      '',
      table(
        ['TASK', 'VENDOR', 'RESOURCE', 'ACTION', 'STATE', 'ATTEMPTS', 'NEXT ACTION', 'WAITING / ERROR'],
        r.tasks.map((t) => [
          t.id,
          t.vendor,
          t.resource,
          t.action,
          t.state,
          t.attempts,
          t.nextActionAt,
          t.error ?? t.waitingReason,
        ]),
      ),
    );
  }
  if (r.cancel) {
    const c = r.cancel;
    const pending = c.withdrawals?.pending ?? 0;
    lines.push(
      '',
      `cancel: ${c.cancelled.length} task(s) stopped before they ran, ${pending} withdrawal(s) queued at the vendor (each task's state shows the outcome), ${c.notWithdrawn.length} already running or done`,
    );
    for (const n of c.notWithdrawn) lines.push(`  ${n.taskId} (${n.vendor}): ${n.reason}`);
  }
  return lines.join('\n');
}
