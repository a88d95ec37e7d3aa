import { ApiResponseError } from '../api-client.js';
import { EXIT, stringFlag, UsageError, type Command, type CommandContext } from '../command.js';
import type { RowDefaults } from '../people-file.js';
import type { RequestAnswer } from '../api-answers.js';
import { submitFile } from './submit-file.js';

const IDENTIFIER_FLAGS = {
  email: 'email',
  phone: 'phone',
  'user-id': 'userId',
  'install-id': 'installId',
  'amplitude-id': 'amplitudeId',
} as const;

export const submitCommand: Command = {
  name: 'submit',
  summary: 'submit one erasure request (identifier flags) or a file of them (--file people.csv|.jsonl)',
  help: `usage: erasure submit [--email E] [--phone P] [--user-id U] [--install-id I] [--amplitude-id A]
                      [--vendor V]... [--regulation gdpr|ccpa] [--request-id KEY] [--grace-period SECONDS]
                      [--callback-url URL] [--json]
       erasure submit --file people.csv|people.jsonl [--vendor V]... [--regulation R] [--grace-period S]
                      [--format csv|jsonl] [--strict] [--chunk-size N] [--no-progress] [--json]

One request: name the person with at least one identifier flag. --vendor (repeatable) limits the
request to those vendors (default: every available one). --request-id is an idempotency key: the
same key again answers with the first request instead of creating another; the same key with another
person, vendors or regulation is refused (conflict) and creates nothing. --grace-period waits
that long (seconds, or 30m, 12h, 7d) before any deletion starts; the request can be cancelled meanwhile.

A file: one request per row, sent in bulk calls of --chunk-size rows (default 500), with a
progress bar on stderr and a result per row (accepted, duplicate, conflict when its requestId was used
before for another payload, or rejected with each field and problem; never a value from the file),
then a summary that counts each.
  CSV:   a header row naming the columns email, phone, userId, installId, amplitudeId, requestId,
         vendors (";"-separated), regulation, callbackUrl, gracePeriodSeconds; empty cells are absent.
         One record per line.
  JSONL: one JSON object per line, the same fields (vendors a list), or the API's native body.
--vendor, --regulation and --grace-period apply to rows that do not set them. A row that cannot be
read (bad CSV quoting, invalid JSON) is rejected locally with its line number.

Exit codes: 0 when the file was processed, even with rejected or conflicting rows (1 with --strict
if any row was rejected or in conflict); 1 when a single request was refused; 2 for a usage error; 3 when the service could
not be reached or failed (rows after the failure were not submitted; resubmitting rows that carry
a requestId is safe).`,
  options: {
    email: { type: 'string' },
    phone: { type: 'string' },
    'user-id': { type: 'string' },
    'install-id': { type: 'string' },
    'amplitude-id': { type: 'string' },
    vendor: { type: 'string', multiple: true },
    regulation: { type: 'string' },
    'request-id': { type: 'string' },
    'grace-period': { type: 'string' },
    'callback-url': { type: 'string' },
    file: { type: 'string' },
    format: { type: 'string' },
    strict: { type: 'boolean' },
    'chunk-size': { type: 'string' },
    'no-progress': { type: 'boolean' },
  },
  async run(ctx) {
    if (ctx.positionals.length)
      throw new UsageError(`unexpected argument "${ctx.positionals[0]}"; identifiers go in flags, like --user-id`);
    const file = stringFlag(ctx, 'file');
    const defaults = rowDefaults(ctx);
    if (file === undefined) {
      for (const flag of ['strict', 'chunk-size', 'no-progress', 'format'])
        if (ctx.values[flag] !== undefined) throw new UsageError(`--${flag} only goes with --file`);
      return submitOne(ctx, defaults);
    }
    for (const flag of [...Object.keys(IDENTIFIER_FLAGS), 'request-id', 'callback-url'])
      if (ctx.values[flag] !== undefined)
        throw new UsageError(`--${flag} does not go with --file: put it in the file's rows`);
    return submitFile(ctx, file, defaults);
  },
};

function rowDefaults(ctx: CommandContext): RowDefaults {
  const vendors = (ctx.values.vendor as string[] | undefined)
    ?.flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  const grace = stringFlag(ctx, 'grace-period');
  return {
    vendors: vendors?.length ? vendors : undefined,
    regulation: stringFlag(ctx, 'regulation'),
    gracePeriodSeconds: grace === undefined ? undefined : seconds(grace),
  };
}

function seconds(raw: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(raw.trim());
  if (!m) throw new UsageError('--grace-period must be a number of seconds, or like 30m, 12h, 7d');
  return Number(m[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

async function submitOne(ctx: CommandContext, defaults: RowDefaults): Promise<number> {
  const subject: Record<string, string> = {};
  for (const [flag, field] of Object.entries(IDENTIFIER_FLAGS)) {
    const value = stringFlag(ctx, flag);
    if (value !== undefined) subject[field] = value;
  }
  if (Object.keys(subject).length === 0)
    throw new UsageError(
      'name the person with at least one of --email, --phone, --user-id, --install-id, --amplitude-id (or submit a --file)',
    );
  const body: Record<string, unknown> = { subject };
  if (defaults.vendors) body.vendors = defaults.vendors;
  if (defaults.regulation !== undefined) body.regulation = defaults.regulation;
  if (defaults.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = defaults.gracePeriodSeconds;
  const requestId = stringFlag(ctx, 'request-id');
  if (requestId !== undefined) body.requestId = requestId;
  const callbackUrl = stringFlag(ctx, 'callback-url');
  if (callbackUrl !== undefined) body.callbackUrl = callbackUrl;
  let result: RequestAnswer;
  try {
    result = await ctx.client().post<RequestAnswer>('/v1/requests', body);
  } catch (err) {
    if (err instanceof ApiResponseError && (err.status === 400 || err.status === 422) && err.details.length) {
      if (ctx.json) ctx.io.json({ outcome: 'rejected', errors: err.details });
      else ctx.io.err(`rejected:\n${err.details.map((d) => `  ${d.field} ${d.problem}`).join('\n')}`);
      return EXIT.failed;
    }
    throw err;
  }
  const outcome = result.duplicate ? 'duplicate' : 'accepted';
  if (ctx.json) ctx.io.json({ outcome, ...result });
  else
    ctx.io.out(
      result.duplicate
        ? `duplicate: the request id was used before; request ${result.id} (${result.status})`
        : `accepted: request ${result.id} (${result.status}, due ${result.dueAt})`,
    );
  return EXIT.ok;
}
