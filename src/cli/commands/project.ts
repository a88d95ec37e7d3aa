import {
  expectPositionals,
  positiveInt,
  requiredString,
  stringFlag,
  table,
  UsageError,
  type Command,
  type CommandContext,
} from '../command.js';
import type { ProjectDeletionAnswer } from '../api-answers.js';

const ACTIONS = ['delete', 'list', 'show', 'cancel'] as const;
const isAction = (value: string | undefined): value is (typeof ACTIONS)[number] => ACTIONS.some((a) => a === value);

export const projectCommand: Command = {
  name: 'project',
  summary: 'project delete|list|show|cancel: delete a whole Pinpoint project after a grace period',
  help: `usage: erasure project delete --app APP_ID --confirm APP_ID --reason REASON [--grace-days N] [--json]
       erasure project list [--status STATUS] [--limit N] [--json]
       erasure project show DELETION_ID [--json]
       erasure project cancel DELETION_ID --reason REASON [--json]

Deletes a whole Pinpoint project (DeleteApp: its endpoints, segments, campaigns, journeys and
analytics) and every object version under the S3 prefixes configured for it
(vendors.pinpoint.projectPrefixes), once a grace period has passed (projectDeletion.gracePeriodDays,
default 5 days). Until then it can be cancelled. Needs an operator or admin token.
  delete   --app and --confirm must be the same configured app id, typed twice. --grace-days
           lengthens the grace period (never shortens it). The reason goes to the audit trail.
  list     deletions, newest first: status, when each runs, what happened
           --status  scheduled, running, completed, failed, cancelled
  show     one deletion, with its evidence and audit trail
  cancel   stops a scheduled deletion; refused (exit 1) once it has started or ended
An app that is already gone (deleted, or Pinpoint past its end of support) ends completed with
outcome not_found and Pinpoint's answer as evidence. Exit code 1 when refused.`,
  options: {
    app: { type: 'string' },
    confirm: { type: 'string' },
    reason: { type: 'string' },
    'grace-days': { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
  },
  async run(ctx) {
    const action = ctx.positionals[0];
    if (!isAction(action)) {
      throw new UsageError(
        action
          ? `unknown project action "${action}"; use ${ACTIONS.join(', ')}`
          : `project needs an action: ${ACTIONS.join(', ')}`,
      );
    }
    if (action === 'delete') return remove(ctx);
    if (action === 'list') return list(ctx);
    const [, id] = expectPositionals(ctx, [action, 'DELETION_ID'], `project ${action}`);
    const result =
      action === 'show'
        ? await ctx.client().get<ProjectDeletionAnswer>(`/v1/project-deletions/${encodeURIComponent(id)}`)
        : await ctx.client().post<ProjectDeletionAnswer>(`/v1/project-deletions/${encodeURIComponent(id)}/cancel`, {
            reason: requiredString(ctx, 'reason', 'why the deletion is cancelled (recorded in the audit trail)'),
          });
    if (ctx.json) ctx.io.json(result);
    else ctx.io.out(formatProjectDeletion(result));
    return 0;
  },
};

async function remove(ctx: CommandContext): Promise<number> {
  expectPositionals(ctx, ['delete'], 'project delete');
  const appId = requiredString(ctx, 'app', 'the Pinpoint app id of the project to delete');
  const confirmAppId = requiredString(ctx, 'confirm', 'the same app id again, typed a second time');
  const reason = requiredString(ctx, 'reason', 'why the project is deleted (recorded in the audit trail)');
  const grace = stringFlag(ctx, 'grace-days');
  if (grace !== undefined && !/^\d+(\.\d+)?$/.test(grace))
    throw new UsageError('--grace-days must be a number of days, like 7 or 0.5');
  const result = await ctx.client().post<ProjectDeletionAnswer>('/v1/project-deletions', {
    appId,
    confirmAppId,
    reason,
    ...(grace !== undefined ? { gracePeriodDays: Number(grace) } : {}),
  });
  if (ctx.json) ctx.io.json(result);
  else
    ctx.io.out(
      `scheduled: project deletion ${result.id} of app ${result.appId} runs at ${result.runAt} (grace period ${result.gracePeriodDays} days)\ncancel it until then with: erasure project cancel ${result.id} --reason REASON`,
    );
  return 0;
}

async function list(ctx: CommandContext): Promise<number> {
  expectPositionals(ctx, ['list'], 'project list');
  const limit = positiveInt(stringFlag(ctx, 'limit'), '--limit', 50, 500);
  const { projectDeletions } = await ctx
    .client()
    .get<{ projectDeletions: ProjectDeletionAnswer[] }>('/v1/project-deletions', {
      status: stringFlag(ctx, 'status'),
      limit,
    });
  if (ctx.json) {
    ctx.io.json({ projectDeletions });
    return 0;
  }
  if (projectDeletions.length === 0) {
    ctx.io.out('no project deletions');
    return 0;
  }
  ctx.io.out(
    table(
      ['ID', 'VENDOR', 'APP', 'STATUS', 'OUTCOME', 'RUNS AT', 'REQUESTED BY', 'S3 PREFIXES'],
      projectDeletions.map((d) => [
        d.id,
        d.vendor,
        d.appId,
        d.status,
        d.outcome,
        d.runAt,
        d.requestedBy,
        d.s3Locations?.length ?? 0,
      ]),
    ),
  );
  return 0;
}

/** One deletion as text: what, when, what happened, and its audit trail when the API sent it. */
export function formatProjectDeletion(d: ProjectDeletionAnswer): string {
  const app = d.evidence?.app;
  const lines = [
    `project deletion  ${d.id}`,
    `app               ${d.vendor} ${d.appId}`,
    `status            ${d.status}${d.outcome ? ` (${d.outcome})` : ''}${d.cancellable ? '   cancellable' : ''}`,
    `requested         ${d.requestedAt} by ${d.requestedBy}: ${d.reason}`,
    `runs at           ${d.runAt} (grace period ${d.gracePeriodDays} days)`,
    `s3 prefixes       ${(d.s3Locations ?? []).map((l) => `s3://${l.bucket}/${l.prefix}`).join(', ') || '-'}`,
  ];
  if (d.cancelledAt) lines.push(`cancelled         ${d.cancelledAt} by ${d.cancelledBy}: ${d.cancelReason}`);
  if (app)
    lines.push(
      `app result        ${app.result}${app.vendorAnswer ? ` (${app.vendorAnswer})` : ''}${app.verification ? `, ${app.verification}` : ''}`,
    );
  for (const p of d.evidence?.s3 ?? [])
    lines.push(
      `s3 result         s3://${p.bucket}/${p.prefix}: ${p.versionsDeleted} version(s), ${p.deleteMarkersDeleted} delete marker(s) deleted, ${p.verification}`,
    );
  if (d.error) lines.push(`error             ${d.error}`);
  if (Array.isArray(d.audit))
    lines.push(
      '',
      table(
        ['AT', 'WHO', 'WHAT'],
        d.audit.map((e) => [e.at, e.actor, e.action]),
      ),
    );
  return lines.join('\n');
}
