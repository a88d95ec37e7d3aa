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
import type { ScopeDeletionAnswer, ScopeInstructions, ScopeKindAnswer } from '../api-answers.js';

const ACTIONS = ['kinds', 'request', 'list', 'show', 'sent', 'confirm', 'cancel'] as const;
type ScopeAction = (typeof ACTIONS)[number];
const isAction = (value: string | undefined): value is ScopeAction => ACTIONS.some((a) => a === value);

export const scopeCommand: Command = {
  name: 'scope',
  summary:
    'scope kinds|request|list|show|sent|confirm|cancel: whole-scope deletions (Segment, Amplitude, AWS, Pinpoint projects)',
  help: `usage: erasure scope kinds [--json]
       erasure scope request KIND (--fields JSON | --field KEY=VALUE ...) --confirm SCOPE --reason REASON [--grace-days N] [--json]
       erasure scope list [--status STATUS] [--limit N] [--json]
       erasure scope show ID [--json]
       erasure scope sent ID --reference REF [--at TIME] [--json]
       erasure scope confirm ID --reference REF [--note NOTE] [--json]
       erasure scope cancel ID --reason REASON [--json]

A scope deletion deletes a whole scope at a vendor: pinpoint-project (automated, as erasure
project), segment-source, segment-space, segment-workspace, segment-purge, amplitude-data and
aws-account (guided: the service drafts the e-mail, with a mailto: link, or the numbered UI steps;
you do it, then record it as sent; the deletion then follows the vendor's clock and ends confirmed
or overdue). --confirm repeats the scope (workspace slug, project, account id, app id): it is typed
twice. Fields by kind (erasure scope kinds lists them with the vendor's rules), for example:
  segment-source   workspaceSlug, source, start, end (whole UTC days, YYYY-MM-DD)
  segment-space    workspaceSlug, space
  amplitude-data   project, start, end, clauses: [{type: event|event_property|user_property, names: [...], events: "all"|[...]}] (1 to 5)
  aws-account      accountId
cancel: a drafted deletion is dropped; a sent segment-space within its 5 days gets the
cancellation e-mail drafted; otherwise the vendor cannot cancel it and the refusal says why (exit 1).
Needs an operator or admin token.`,
  options: {
    fields: { type: 'string' },
    field: { type: 'string', multiple: true },
    confirm: { type: 'string' },
    reason: { type: 'string' },
    'grace-days': { type: 'string' },
    status: { type: 'string' },
    limit: { type: 'string' },
    reference: { type: 'string' },
    at: { type: 'string' },
    note: { type: 'string' },
  },
  async run(ctx) {
    const action = ctx.positionals[0];
    if (!isAction(action)) {
      throw new UsageError(
        action
          ? `unknown scope action "${action}"; use ${ACTIONS.join(', ')}`
          : `scope needs an action: ${ACTIONS.join(', ')}`,
      );
    }
    if (action === 'kinds') return kinds(ctx);
    if (action === 'list') return list(ctx);
    const result = action === 'request' ? await request(ctx) : await onOne(ctx, action);
    if (ctx.json) ctx.io.json(result);
    else ctx.io.out(formatScopeDeletion(result));
    return 0;
  },
};

async function kinds(ctx: CommandContext): Promise<number> {
  expectPositionals(ctx, ['kinds'], 'scope kinds');
  const result = await ctx.client().get<{ kinds: ScopeKindAnswer[] }>('/v1/scope-deletions/kinds');
  if (ctx.json) ctx.io.json(result);
  else {
    const cancelAfter = (k: ScopeKindAnswer) =>
      k.rules ? (k.rules.cancel.after === 'window' ? `within ${k.rules.cancel.days ?? '?'} days` : 'no') : '-';
    ctx.io.out(
      table(
        ['KIND', 'VENDOR', 'MODE', 'SCOPE FIELD', 'CANCEL AFTER SENT'],
        result.kinds.map((k) => [k.kind, k.vendor, k.mode, k.scopeField, cancelAfter(k)]),
      ),
    );
  }
  return 0;
}

async function list(ctx: CommandContext): Promise<number> {
  expectPositionals(ctx, ['list'], 'scope list');
  const status = stringFlag(ctx, 'status');
  const limit = positiveInt(stringFlag(ctx, 'limit'), '--limit', 50, 500);
  const result = await ctx
    .client()
    .get<{ scopeDeletions: ScopeDeletionAnswer[] }>(
      `/v1/scope-deletions?${new URLSearchParams({ limit: String(limit), ...(status ? { status } : {}) }).toString()}`,
    );
  if (ctx.json) ctx.io.json(result);
  else
    ctx.io.out(
      table(
        ['ID', 'KIND', 'SCOPE', 'STATUS', 'SENT', 'EXPECTED BY'],
        result.scopeDeletions.map((d) => [d.id, d.kind, d.scope, d.status, d.sentAt, d.expectedBy ?? d.runAt]),
      ),
    );
  return 0;
}

/** show, sent, confirm or cancel one scope deletion. */
async function onOne(
  ctx: CommandContext,
  action: Exclude<ScopeAction, 'kinds' | 'list' | 'request'>,
): Promise<ScopeDeletionAnswer> {
  const [, id] = expectPositionals(ctx, [action, 'ID'], `scope ${action}`);
  const base = `/v1/scope-deletions/${encodeURIComponent(id)}`;
  const client = ctx.client();
  if (action === 'show') return client.get<ScopeDeletionAnswer>(base);
  if (action === 'sent') {
    const sentAt = isoTime(stringFlag(ctx, 'at'), '--at');
    return client.post<ScopeDeletionAnswer>(`${base}/sent`, {
      reference: requiredString(ctx, 'reference', 'the ticket or reference of what you sent'),
      ...(sentAt ? { sentAt } : {}),
    });
  }
  if (action === 'confirm') {
    const note = stringFlag(ctx, 'note');
    return client.post<ScopeDeletionAnswer>(`${base}/confirm`, {
      reference: requiredString(ctx, 'reference', 'the vendor’s confirmation reference'),
      ...(note ? { note } : {}),
    });
  }
  return client.post<ScopeDeletionAnswer>(`${base}/cancel`, {
    reason: requiredString(ctx, 'reason', 'why the deletion is cancelled (recorded in the audit trail)'),
  });
}

async function request(ctx: CommandContext): Promise<ScopeDeletionAnswer> {
  const [, kind] = expectPositionals(ctx, ['request', 'KIND'], 'scope request');
  const json = stringFlag(ctx, 'fields');
  const pairs = stringList(ctx.values.field);
  if (json !== undefined && pairs.length)
    throw new UsageError('give the fields either as --fields JSON or as --field KEY=VALUE, not both');
  const fields: Record<string, unknown> = json === undefined ? {} : jsonObject(json);
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw new UsageError('--field takes KEY=VALUE');
    fields[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const confirmScope = requiredString(ctx, 'confirm', 'the scope typed a second time');
  const reason = requiredString(ctx, 'reason', 'why the scope is deleted (recorded in the audit trail)');
  const grace = stringFlag(ctx, 'grace-days');
  if (grace !== undefined && !/^\d+(\.\d+)?$/.test(grace))
    throw new UsageError('--grace-days must be a number of days');
  return ctx.client().post<ScopeDeletionAnswer>('/v1/scope-deletions', {
    kind,
    fields,
    confirmScope,
    reason,
    ...(grace !== undefined ? { gracePeriodDays: Number(grace) } : {}),
  });
}

/** A scope deletion as text: what, its status on the vendor's clock, and exactly what to do next. */
export function formatScopeDeletion(d: ScopeDeletionAnswer): string {
  const lines = [
    `scope deletion ${d.id}`,
    `kind        ${d.kind} (${d.mode})`,
    `scope       ${d.scope}`,
    `status      ${d.status}`,
  ];
  if (d.mode === 'automated') lines.push(`runs at     ${d.runAt}`);
  if (d.sentAt) lines.push(`sent        ${d.sentAt} (ref ${d.sentReference})`);
  if (d.cancelDeadline) lines.push(`cancel by   ${d.cancelDeadline}`);
  if (d.expectedBy) lines.push(`expected by ${d.expectedBy}`);
  const show = (i: ScopeInstructions) => {
    if (i.channel === 'email')
      lines.push('', `e-mail to:  ${i.to}`, `subject:    ${i.subject}`, '', i.body, '', `mailto:     ${i.mailto}`);
    else lines.push('', `${i.where}:`, ...i.steps.map((s, n) => `  ${n + 1}. ${s}`));
  };
  if (d.status === 'drafted' && d.instructions) {
    show(d.instructions);
    lines.push('', `then: erasure scope sent ${d.id} --reference REF`);
  }
  const cancellation = d.evidence?.cancel?.cancellation;
  if (d.status === 'cancel_requested' && cancellation) {
    lines.push('', 'send this cancellation:');
    show(cancellation);
    lines.push('', `then, when the vendor confirms: erasure scope confirm ${d.id} --reference REF`);
  }
  return lines.join('\n');
}

/** --fields: a JSON object, else a usage error. */
function jsonObject(json: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new UsageError('--fields must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError('--fields must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** A repeatable string option's values (node:util parseArgs gives an array). */
function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
