import { statSync } from 'node:fs';
import { ApiConnectionError, ApiResponseError, type ApiClient } from '../api-client.js';
import { EXIT, positiveInt, stringFlag, UsageError, type Command, type CommandContext } from '../command.js';
import { formatFromName, readPeopleFile, type PeopleFileFormat, type PeopleRow, type RowDefaults } from '../people-file.js';
import { Progress } from '../progress.js';
import { printableJson } from '../../privacy/printable-text.js';
import type { BulkAnswer, RequestAnswer } from '../api-answers.js';

const IDENTIFIER_FLAGS = { email: 'email', phone: 'phone', 'user-id': 'userId', 'install-id': 'installId', 'amplitude-id': 'amplitudeId' } as const;

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
    if (ctx.positionals.length) throw new UsageError(`unexpected argument "${ctx.positionals[0]}"; identifiers go in flags, like --user-id`);
    const file = stringFlag(ctx, 'file');
    const defaults = rowDefaults(ctx);
    if (file === undefined) {
      for (const flag of ['strict', 'chunk-size', 'no-progress', 'format']) if (ctx.values[flag] !== undefined) throw new UsageError(`--${flag} only goes with --file`);
      return submitOne(ctx, defaults);
    }
    for (const flag of [...Object.keys(IDENTIFIER_FLAGS), 'request-id', 'callback-url']) if (ctx.values[flag] !== undefined) throw new UsageError(`--${flag} does not go with --file: put it in the file's rows`);
    return submitFile(ctx, file, defaults);
  },
};

function rowDefaults(ctx: CommandContext): RowDefaults {
  const vendors = (ctx.values.vendor as string[] | undefined)?.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  const grace = stringFlag(ctx, 'grace-period');
  return { vendors: vendors?.length ? vendors : undefined, regulation: stringFlag(ctx, 'regulation'), gracePeriodSeconds: grace === undefined ? undefined : seconds(grace) };
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
  if (Object.keys(subject).length === 0) throw new UsageError('name the person with at least one of --email, --phone, --user-id, --install-id, --amplitude-id (or submit a --file)');
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
  else ctx.io.out(result.duplicate ? `duplicate: the request id was used before; request ${result.id} (${result.status})` : `accepted: request ${result.id} (${result.status}, due ${result.dueAt})`);
  return EXIT.ok;
}

/** `conflict`: the row's requestId was already used for another person, vendors or regulation (422 rule); nothing created. */
type RowOutcome = 'accepted' | 'duplicate' | 'conflict' | 'rejected' | 'not_processed';

interface RowResult {
  row: number;
  line: number;
  outcome: RowOutcome;
  id?: string;
  status?: string;
  errors?: Array<{ field: string; problem: string }>;
}

interface Summary {
  rows: number;
  accepted: number;
  duplicates: number;
  /** Rows whose requestId this client already used with another payload. */
  conflicts: number;
  rejected: number;
  /** Of the rejected: rows that could not be read at all. */
  unreadable: number;
  notProcessed: number;
  complete: boolean;
}

/** A service or network failure part way: the rows of the failed call and those after it were not submitted. */
class StopError extends Error {
  constructor(
    override readonly cause: Error,
    readonly exitCode: number,
  ) {
    super(cause.message);
  }
}

async function submitFile(ctx: CommandContext, file: string, defaults: RowDefaults): Promise<number> {
  const formatFlag = stringFlag(ctx, 'format');
  if (formatFlag !== undefined && formatFlag !== 'csv' && formatFlag !== 'jsonl') throw new UsageError('--format must be csv or jsonl');
  const format: PeopleFileFormat | undefined = formatFlag ?? formatFromName(file);
  if (!format) throw new UsageError(`cannot tell the format of ${file}: name it .csv or .jsonl, or pass --format csv|jsonl`);
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new UsageError(`${file} is not a file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const chunkSize = positiveInt(stringFlag(ctx, 'chunk-size'), '--chunk-size', 500, 100_000);
  const client = ctx.client();
  const { io } = ctx;
  const summary: Summary = { rows: 0, accepted: 0, duplicates: 0, conflicts: 0, rejected: 0, unreadable: 0, notProcessed: 0, complete: false };
  const progress = new Progress(io.stderr, size, 'submitting', ctx.values['no-progress'] !== true);
  let bytesDone = 0;
  // The JSON document is opened on the first result, so a usage error before any row leaves only the error document.
  const jsonDoc = { opened: false };

  const emit = (results: RowResult[]) => {
    progress.clear();
    for (const r of results) {
      summary.rows += 1;
      if (r.outcome === 'accepted') summary.accepted += 1;
      else if (r.outcome === 'duplicate') summary.duplicates += 1;
      else if (r.outcome === 'conflict') summary.conflicts += 1;
      else if (r.outcome === 'rejected') summary.rejected += 1;
      else summary.notProcessed += 1;
      if (ctx.json) {
        io.stdout.write(`${jsonDoc.opened ? ',\n' : '{\n  "results": [\n'}    ${printableJson(r)}`);
        jsonDoc.opened = true;
      } else io.out(formatRow(r));
    }
  };
  const detail = () => `${summary.rows} rows: ${summary.accepted} accepted, ${summary.duplicates} duplicate, ${summary.conflicts ? `${summary.conflicts} conflict, ` : ''}${summary.rejected} rejected`;

  let chunk: PeopleRow[] = [];
  let sendable = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const rows = chunk;
    chunk = [];
    sendable = 0;
    let results: RowResult[];
    try {
      results = await sendRows(client, rows);
    } catch (err) {
      // The call failed as a whole: its rows count as not submitted (unreadable ones stay rejected).
      emit(rows.map((r) => (r.problem ? localRejection(r) : { row: r.row, line: r.line, outcome: 'not_processed' as const })));
      throw toStop(err, rows[0]);
    }
    emit(results);
    bytesDone = rows[rows.length - 1].bytesEnd;
    const stopped = results.find((r) => r.outcome === 'not_processed');
    if (stopped) throw new StopError(new Error(`the service became unavailable at row ${stopped.row} (line ${stopped.line})`), EXIT.server);
    progress.update(bytesDone, detail());
  };

  let exitCode: number = EXIT.ok;
  let failure: string | undefined;
  try {
    for await (const row of readPeopleFile(file, format, defaults)) {
      chunk.push(row);
      if (row.body) sendable += 1;
      if (row.problem) summary.unreadable += 1;
      if (sendable >= chunkSize) await flush();
    }
    await flush();
    summary.complete = true;
  } catch (err) {
    if (err instanceof UsageError && summary.rows === 0 && chunk.length === 0) throw err;
    const stop = err instanceof StopError ? err : toStop(err, chunk.at(0));
    if (chunk.length) emit(chunk.map((r) => (r.problem ? localRejection(r) : { row: r.row, line: r.line, outcome: 'not_processed' as const })));
    exitCode = stop.exitCode;
    failure = stop.message;
  }
  progress.update(bytesDone, detail(), true);
  progress.finish();
  return finish(ctx, summary, jsonDoc.opened, failure ? { message: failure, exitCode } : undefined);
}

/** Closes the output with the summary, and answers the exit code: the stop's, or --strict's verdict. */
function finish(ctx: CommandContext, summary: Summary, jsonOpened: boolean, stop: { message: string; exitCode: number } | undefined): number {
  const { io } = ctx;
  const failure = stop?.message;
  if (ctx.json) {
    io.stdout.write(`${jsonOpened ? '\n  ' : '{\n  "results": ['}],\n  "summary": ${printableJson(summary)}${failure ? `,\n  "error": ${printableJson(failure)}` : ''}\n}\n`);
  } else {
    io.out(
      `${summary.rows} rows: ${summary.accepted} accepted, ${summary.duplicates} duplicate${summary.duplicates === 1 ? '' : 's'}, ` +
        `${summary.conflicts ? `${summary.conflicts} conflict${summary.conflicts === 1 ? '' : 's'} (requestId used before for another payload), ` : ''}${summary.rejected} rejected` +
        `${summary.unreadable ? ` (${summary.unreadable} could not be read)` : ''}${summary.notProcessed ? `, ${summary.notProcessed} not submitted` : ''}`,
    );
  }
  if (stop) {
    io.err(`erasure submit: ${stop.message}; the rest of the file was not submitted. Resubmitting rows that carry a requestId is safe.`);
    return stop.exitCode;
  }
  if (ctx.values.strict && summary.rejected + summary.conflicts > 0) {
    if (!ctx.json) io.err(`--strict: ${summary.rejected + summary.conflicts} row(s) rejected or in conflict`);
    return EXIT.failed;
  }
  return EXIT.ok;
}


function toStop(err: unknown, first: PeopleRow | undefined): StopError {
  const where = first ? ` at row ${first.row} (line ${first.line})` : '';
  if (err instanceof ApiResponseError) return new StopError(new Error(`the service refused the bulk call${where}: ${err.message} (HTTP ${err.status} ${err.code})`), err.serverSide ? EXIT.server : EXIT.failed);
  if (err instanceof ApiConnectionError) return new StopError(new Error(`${err.message}${where}; the rows of that call may or may not have been recorded`), EXIT.server);
  if (err instanceof UsageError) return new StopError(err, EXIT.usage);
  return new StopError(new Error(`reading the file failed${where}: ${err instanceof Error ? err.name : typeof err}`), EXIT.failed);
}

/** Sends the readable rows of a chunk in one bulk call (halving it on 413), and merges in the unreadable ones. */
async function sendRows(client: ApiClient, rows: PeopleRow[]): Promise<RowResult[]> {
  const results = new Map<PeopleRow, RowResult>();
  for (const r of rows) if (r.problem) results.set(r, localRejection(r));
  const readable = rows.filter((r) => r.body);
  const send = async (part: PeopleRow[]): Promise<boolean> => {
    let answer: BulkAnswer;
    try {
      answer = await client.post<BulkAnswer>('/v1/requests', { requests: part.map((r) => r.body) });
    } catch (err) {
      if (err instanceof ApiResponseError && err.status === 413 && part.length > 1) {
        const half = Math.ceil(part.length / 2);
        return (await send(part.slice(0, half))) && send(part.slice(half));
      }
      // 503 with per-row results: what was committed, and where the service stopped. 400 with
      // per-row results: every row of this part was invalid; each is answered, and the file goes on.
      const perRow = err instanceof ApiResponseError && (err.status === 503 || err.status === 400) ? bulkAnswerIn(err.body) : undefined;
      if (!perRow) throw err;
      answer = perRow;
    }
    for (const item of answer.results) {
      const row = part.at(item.index);
      if (!row) continue;
      results.set(row, rowResult(row, item));
    }
    return !answer.results.some((r) => r.outcome === 'not_processed');
  };
  if (readable.length) await send(readable);
  for (const r of readable) if (!results.has(r)) results.set(r, { row: r.row, line: r.line, outcome: 'not_processed' });
  return rows.map((r) => results.get(r) ?? { row: r.row, line: r.line, outcome: 'not_processed' });
}

function localRejection(r: PeopleRow): RowResult {
  return { row: r.row, line: r.line, outcome: 'rejected', errors: [{ field: '(line)', problem: r.problem ?? 'cannot be read' }] };
}

function formatRow(r: RowResult): string {
  const where = `row ${r.row} (line ${r.line})`;
  switch (r.outcome) {
    case 'accepted':
      return `${where}: accepted  ${r.id}`;
    case 'duplicate':
      return `${where}: duplicate of ${r.id}`;
    case 'not_processed':
      return `${where}: not submitted`;
    case 'conflict':
      return `${where}: conflict: ${(r.errors ?? []).map((e) => `${e.field} ${e.problem}`).join('; ')}; nothing created`;
    default:
      return `${where}: rejected: ${(r.errors ?? []).map((e) => (e.field === '(line)' ? `the line ${e.problem}` : `${e.field} ${e.problem}`)).join('; ')}`;
  }
}

/** One row's answer, its field names made relative to the row (`requests[3].subject.email` → `subject.email`). */
function rowResult(row: PeopleRow, item: BulkAnswer['results'][number]): RowResult {
  const prefix = `requests[${item.index}].`;
  return {
    row: row.row,
    line: row.line,
    outcome: item.outcome,
    ...(item.id ? { id: item.id, status: item.status } : {}),
    ...(item.errors ? { errors: item.errors.map((e) => ({ field: e.field.startsWith(prefix) ? e.field.slice(prefix.length) : e.field, problem: e.problem })) } : {}),
  };
}

/** The per-row results an error answer of a bulk call carries, when it carries them. */
function bulkAnswerIn(body: unknown): BulkAnswer | undefined {
  const results: unknown = typeof body === 'object' && body !== null ? (body as { results?: unknown }).results : undefined;
  // The service's own bulk answer (src/api/requests-router.ts): per-row results under `results`.
  return Array.isArray(results) ? (body as BulkAnswer) : undefined;
}
