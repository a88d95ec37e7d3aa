import { isoTime, positiveInt, requiredString, stringFlag, table, UsageError, type Command } from '../command.js';
import type { FailedTasksAnswer } from '../api-answers.js';

export const retryCommand: Command = {
  name: 'retry',
  summary: 'run failed tasks again: one request, one vendor, all failed since a time, or all failed (--dry-run lists)',
  help: `usage: erasure retry REQUEST_ID --reason REASON [--vendor VENDOR] [--dry-run]
       erasure retry --vendor VENDOR --reason REASON [--since TIME] [--dry-run]
       erasure retry --since TIME --reason REASON [--dry-run]
       erasure retry --all --reason REASON [--dry-run]

Puts failed tasks back in their queues: those of one request, those of one vendor across
requests, every task that failed since TIME (ISO 8601), or every failed task (--all). --reason is required and recorded in
each request's audit trail. --dry-run lists exactly the tasks that would be retried and touches
nothing. Needs an operator token.
  --reason REASON  why (e.g. "Pinpoint credentials fixed, INC-2231")
  --vendor VENDOR  only this vendor's tasks
  --since TIME     only tasks that failed at or after TIME
  --all            every failed task (with none of the above)
  --limit N        at most N tasks (default 1000, at most 10000)
  --dry-run        list, do not retry`,
  options: {
    reason: { type: 'string' },
    vendor: { type: 'string' },
    since: { type: 'string' },
    all: { type: 'boolean' },
    limit: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  async run(ctx) {
    if (ctx.positionals.length > 1) throw new UsageError(`unexpected argument "${ctx.positionals[1]}"`);
    const requestId = ctx.positionals[0];
    const vendor = stringFlag(ctx, 'vendor');
    const since = isoTime(stringFlag(ctx, 'since'), '--since');
    const all = ctx.values.all === true;
    if (all && (requestId || vendor || since))
      throw new UsageError('--all retries every failed task; leave out REQUEST_ID, --vendor and --since');
    if (!all && !requestId && !vendor && !since)
      throw new UsageError('name what to retry: a REQUEST_ID, --vendor VENDOR, --since TIME or --all');
    const reason = requiredString(ctx, 'reason', 'why the tasks are retried (recorded in the audit trail)');
    const dryRun = ctx.values['dry-run'] === true;
    const limit = positiveInt(stringFlag(ctx, 'limit'), '--limit', 1000, 10_000);
    const result = await ctx.client().post<FailedTasksAnswer>('/v1/retries', {
      reason,
      dryRun,
      limit,
      ...(requestId ? { requestId } : {}),
      ...(vendor ? { vendor } : {}),
      ...(since ? { since } : {}),
      ...(all ? { all } : {}),
    });
    const tasks = result.tasks ?? [];
    if (ctx.json) {
      ctx.io.json({ dryRun, count: tasks.length, tasks });
      return 0;
    }
    if (tasks.length === 0) {
      ctx.io.out(
        dryRun ? 'no failed task matches: nothing would be retried' : 'no failed task matches: nothing was retried',
      );
      return 0;
    }
    const requests = new Set(tasks.map((t) => t.requestId)).size;
    ctx.io.out(
      `${dryRun ? 'would retry' : 'retried'} ${tasks.length} task(s) of ${requests} request(s)${dryRun ? ' (dry run: nothing changed)' : ''}:`,
    );
    ctx.io.out(
      table(
        ['REQUEST', 'TASK', 'VENDOR', 'ACTION', 'RESOURCE', 'FAILED AT', 'ERROR'],
        tasks.map((t) => [t.requestId, t.taskId, t.vendor, t.action, t.resource, t.failedAt, t.error]),
      ),
    );
    return 0;
  },
};
