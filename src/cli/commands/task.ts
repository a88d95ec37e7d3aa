import {
  expectPositionals,
  isoTime,
  positiveInt,
  requiredString,
  stringFlag,
  table,
  UsageError,
  type Command,
  type CommandContext,
} from '../command.js';
import { formatRequest } from './status.js';
import type { FailedTasksAnswer, RequestAnswer } from '../api-answers.js';

const ACTIONS = ['complete', 'sent', 'skip', 'resolve'] as const;

export const taskCommand: Command = {
  name: 'task',
  summary:
    'task complete|sent|skip|resolve: record a manual task as done or sent, or close failed tasks that will never succeed',
  help: `usage: erasure task complete REQUEST_ID TASK_ID --note NOTE [--json]
       erasure task sent REQUEST_ID TASK_ID --reference REF [--at TIME] [--json]
       erasure task skip|resolve REQUEST_ID TASK_ID --reason REASON [--json]
       erasure task skip|resolve [REQUEST_ID] [--vendor V] [--since TIME] [--all] --reason REASON [--limit N] [--dry-run]

complete: records a manual task (one waiting_manual, e.g. a deletion only the vendor's support can do)
as done, with a note saying how (ticket number, who confirmed). The request settles when its last
task ends. Do not put the person's identifiers in the note. Exit code 1 when no manual task with
that id is waiting.

sent: records that a manual step was sent to the vendor (--at, ISO 8601, default now), under a
ticket or reference. It stays open until the vendor confirms (task complete); a cancel of the
request from then on leaves it open and says it was sent and cannot be cancelled.

skip, resolve: on-call closes a failed task that will never succeed: skip (left undone, on purpose)
or resolve (done outside the service). Needs an operator token and a --reason, recorded in the
request's audit trail. The receipt shows the task as an operator's decision, never as verified, and
the request settles completed_with_errors at best. With a REQUEST_ID alone or the filters (as for
erasure retry), every matching failed task; --dry-run lists them and changes nothing. Exit code 1
when the named task is not failed.`,
  options: {
    note: { type: 'string' },
    reference: { type: 'string' },
    at: { type: 'string' },
    reason: { type: 'string' },
    vendor: { type: 'string' },
    since: { type: 'string' },
    all: { type: 'boolean' },
    limit: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  async run(ctx) {
    const action = ctx.positionals[0];
    if (!action) throw new UsageError('task needs an action: task complete|sent|skip|resolve …');
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new UsageError(`unknown task action "${action}"; the actions are: ${ACTIONS.join(', ')}`);
    if (action === 'complete') {
      const [, requestId, taskId] = expectPositionals(ctx, ['complete', 'REQUEST_ID', 'TASK_ID'], 'task complete');
      const note = requiredString(ctx, 'note', 'how the manual task was done');
      const result = await ctx
        .client()
        .post<RequestAnswer>(
          `/v1/requests/${encodeURIComponent(requestId)}/tasks/${encodeURIComponent(taskId)}/complete`,
          { note },
        );
      if (ctx.json) ctx.io.json(result);
      else ctx.io.out(formatRequest(result));
      return 0;
    }
    if (action === 'sent') {
      const [, requestId, taskId] = expectPositionals(ctx, ['sent', 'REQUEST_ID', 'TASK_ID'], 'task sent');
      const reference = requiredString(ctx, 'reference', 'the ticket or reference the vendor knows the step by');
      const sentAt = isoTime(stringFlag(ctx, 'at'), '--at');
      const result = await ctx
        .client()
        .post<RequestAnswer>(`/v1/requests/${encodeURIComponent(requestId)}/tasks/${encodeURIComponent(taskId)}/sent`, {
          reference,
          ...(sentAt ? { sentAt } : {}),
        });
      if (ctx.json) ctx.io.json(result);
      else ctx.io.out(formatRequest(result));
      return 0;
    }
    return decide(ctx, action as 'skip' | 'resolve');
  },
};

async function decide(ctx: CommandContext, verb: 'skip' | 'resolve'): Promise<number> {
  if (ctx.positionals.length > 3) throw new UsageError(`unexpected argument "${ctx.positionals[3]}"`);
  const [, requestId, taskId] = ctx.positionals;
  const vendor = stringFlag(ctx, 'vendor');
  const since = isoTime(stringFlag(ctx, 'since'), '--since');
  const all = ctx.values.all === true;
  const dryRun = ctx.values['dry-run'] === true;
  const reason = requiredString(
    ctx,
    'reason',
    `why the task is ${verb === 'skip' ? 'skipped' : 'resolved'} (recorded in the audit trail)`,
  );
  if (taskId) {
    if (vendor || since || all || dryRun || ctx.values.limit !== undefined)
      throw new UsageError(
        `one task: leave out --vendor, --since, --all, --limit and --dry-run (they go with task ${verb} [REQUEST_ID] without a TASK_ID)`,
      );
    const result = await ctx
      .client()
      .post<RequestAnswer>(
        `/v1/requests/${encodeURIComponent(requestId)}/tasks/${encodeURIComponent(taskId)}/${verb}`,
        { reason },
      );
    if (ctx.json) ctx.io.json(result);
    else ctx.io.out(formatRequest(result));
    return 0;
  }
  if (all && (requestId || vendor || since))
    throw new UsageError(`--all ${verb}s every failed task; leave out REQUEST_ID, --vendor and --since`);
  if (!all && !requestId && !vendor && !since)
    throw new UsageError(
      `name what to ${verb}: REQUEST_ID TASK_ID, or a REQUEST_ID, --vendor VENDOR, --since TIME or --all`,
    );
  const limit = positiveInt(stringFlag(ctx, 'limit'), '--limit', 1000, 10_000);
  const result = await ctx.client().post<FailedTasksAnswer>(verb === 'skip' ? '/v1/skips' : '/v1/resolutions', {
    reason,
    dryRun,
    limit,
    ...(requestId ? { requestId } : {}),
    ...(vendor ? { vendor } : {}),
    ...(since ? { since } : {}),
    ...(all ? { all } : {}),
  });
  const tasks = result.tasks ?? [];
  const done = verb === 'skip' ? 'skipped' : 'resolved';
  if (ctx.json) {
    ctx.io.json({ dryRun, decision: done, count: tasks.length, tasks });
    return 0;
  }
  if (tasks.length === 0) {
    ctx.io.out(`no failed task matches: nothing ${dryRun ? 'would be' : 'was'} ${done}`);
    return 0;
  }
  const requests = new Set(tasks.map((t) => t.requestId)).size;
  ctx.io.out(
    `${dryRun ? `would ${verb}` : done} ${tasks.length} task(s) of ${requests} request(s)${dryRun ? ' (dry run: nothing changed)' : ''}:`,
  );
  ctx.io.out(
    table(
      ['REQUEST', 'TASK', 'VENDOR', 'ACTION', 'RESOURCE', 'FAILED AT', 'ERROR'],
      tasks.map((t) => [t.requestId, t.taskId, t.vendor, t.action, t.resource, t.failedAt, t.error]),
    ),
  );
  return 0;
}
