import { statSync } from 'node:fs';
import { ApiConnectionError, ApiResponseError, type ApiClient } from '../api-client.js';
import { EXIT, positiveInt, stringFlag, UsageError, type CommandContext } from '../command.js';
import {
  formatFromName,
  readPeopleFile,
  type PeopleFileFormat,
  type PeopleRow,
  type RowDefaults,
} from '../people-file.js';
import { Progress } from '../progress.js';
import { printableJson } from '../../privacy/printable-text.js';
import type { BulkAnswer } from '../api-answers.js';

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

/** `erasure submit --file`: the file's rows in bulk calls of --chunk-size, a result per row, then the summary. */
export async function submitFile(ctx: CommandContext, file: string, defaults: RowDefaults): Promise<number> {
  const { format, size } = peopleFileOf(ctx, file);
  const chunkSize = positiveInt(stringFlag(ctx, 'chunk-size'), '--chunk-size', 500, 100_000);
  const summary: Summary = {
    rows: 0,
    accepted: 0,
    duplicates: 0,
    conflicts: 0,
    rejected: 0,
    unreadable: 0,
    notProcessed: 0,
    complete: false,
  };
  const run: FileRun = {
    ctx,
    client: ctx.client(),
    summary,
    progress: new Progress(ctx.io.stderr, size, 'submitting', ctx.values['no-progress'] !== true),
    bytesDone: 0,
    // The JSON document is opened on the first result, so a usage error before any row leaves only the error document.
    jsonOpened: false,
    chunk: [],
    sendable: 0,
  };

  let exitCode: number = EXIT.ok;
  let failure: string | undefined;
  try {
    for await (const row of readPeopleFile(file, format, defaults)) {
      run.chunk.push(row);
      if (row.body) run.sendable += 1;
      if (row.problem) summary.unreadable += 1;
      if (run.sendable >= chunkSize) await flush(run);
    }
    await flush(run);
    summary.complete = true;
  } catch (err) {
    if (err instanceof UsageError && summary.rows === 0 && run.chunk.length === 0) throw err;
    const stop = err instanceof StopError ? err : toStop(err, run.chunk.at(0));
    if (run.chunk.length)
      emit(
        run,
        run.chunk.map((r) =>
          r.problem ? localRejection(r) : { row: r.row, line: r.line, outcome: 'not_processed' as const },
        ),
      );
    exitCode = stop.exitCode;
    failure = stop.message;
  }
  run.progress.update(run.bytesDone, detail(summary), true);
  run.progress.finish();
  return finish(ctx, summary, run.jsonOpened, failure ? { message: failure, exitCode } : undefined);
}

/** The file's format (--format, or its name) and size; a usage error when it is neither nameable nor a readable file. */
function peopleFileOf(ctx: CommandContext, file: string): { format: PeopleFileFormat; size: number } {
  const formatFlag = stringFlag(ctx, 'format');
  if (formatFlag !== undefined && formatFlag !== 'csv' && formatFlag !== 'jsonl')
    throw new UsageError('--format must be csv or jsonl');
  const format: PeopleFileFormat | undefined = formatFlag ?? formatFromName(file);
  if (!format)
    throw new UsageError(`cannot tell the format of ${file}: name it .csv or .jsonl, or pass --format csv|jsonl`);
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw new UsageError(`${file} is not a file`);
    size = stat.size;
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return { format, size };
}

/** A file submission under way: its counts and output, and the rows read but not yet sent. */
interface FileRun {
  ctx: CommandContext;
  client: ApiClient;
  summary: Summary;
  progress: Progress;
  /** The file's bytes up to the last row answered. */
  bytesDone: number;
  jsonOpened: boolean;
  chunk: PeopleRow[];
  /** Of `chunk`, the rows that can be sent (the unreadable ones are answered locally). */
  sendable: number;
}

/** Counts and prints rows' results. */
function emit(run: FileRun, results: RowResult[]): void {
  const { ctx, summary } = run;
  const { io } = ctx;
  run.progress.clear();
  for (const r of results) {
    summary.rows += 1;
    if (r.outcome === 'accepted') summary.accepted += 1;
    else if (r.outcome === 'duplicate') summary.duplicates += 1;
    else if (r.outcome === 'conflict') summary.conflicts += 1;
    else if (r.outcome === 'rejected') summary.rejected += 1;
    else summary.notProcessed += 1;
    if (ctx.json) {
      io.stdout.write(`${run.jsonOpened ? ',\n' : '{\n  "results": [\n'}    ${printableJson(r)}`);
      run.jsonOpened = true;
    } else io.out(formatRow(r));
  }
}

function detail(summary: Summary): string {
  return `${summary.rows} rows: ${summary.accepted} accepted, ${summary.duplicates} duplicate, ${summary.conflicts ? `${summary.conflicts} conflict, ` : ''}${summary.rejected} rejected`;
}

/** Sends the rows read so far in one bulk call; throws StopError when the service stops part way. */
async function flush(run: FileRun): Promise<void> {
  if (run.chunk.length === 0) return;
  const rows = run.chunk;
  run.chunk = [];
  run.sendable = 0;
  let results: RowResult[];
  try {
    results = await sendRows(run.client, rows);
  } catch (err) {
    // The call failed as a whole: its rows count as not submitted (unreadable ones stay rejected).
    emit(
      run,
      rows.map((r) =>
        r.problem ? localRejection(r) : { row: r.row, line: r.line, outcome: 'not_processed' as const },
      ),
    );
    throw toStop(err, rows[0]);
  }
  emit(run, results);
  run.bytesDone = rows[rows.length - 1].bytesEnd;
  const stopped = results.find((r) => r.outcome === 'not_processed');
  if (stopped)
    throw new StopError(
      new Error(`the service became unavailable at row ${stopped.row} (line ${stopped.line})`),
      EXIT.server,
    );
  run.progress.update(run.bytesDone, detail(run.summary));
}

/** Closes the output with the summary, and answers the exit code: the stop's, or --strict's verdict. */
function finish(
  ctx: CommandContext,
  summary: Summary,
  jsonOpened: boolean,
  stop: { message: string; exitCode: number } | undefined,
): number {
  const { io } = ctx;
  const failure = stop?.message;
  if (ctx.json) {
    io.stdout.write(
      `${jsonOpened ? '\n  ' : '{\n  "results": ['}],\n  "summary": ${printableJson(summary)}${failure ? `,\n  "error": ${printableJson(failure)}` : ''}\n}\n`,
    );
  } else {
    io.out(
      `${summary.rows} rows: ${summary.accepted} accepted, ${summary.duplicates} duplicate${summary.duplicates === 1 ? '' : 's'}, ` +
        `${summary.conflicts ? `${summary.conflicts} conflict${summary.conflicts === 1 ? '' : 's'} (requestId used before for another payload), ` : ''}${summary.rejected} rejected` +
        `${summary.unreadable ? ` (${summary.unreadable} could not be read)` : ''}${summary.notProcessed ? `, ${summary.notProcessed} not submitted` : ''}`,
    );
  }
  if (stop) {
    io.err(
      `erasure submit: ${stop.message}; the rest of the file was not submitted. Resubmitting rows that carry a requestId is safe.`,
    );
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
  if (err instanceof ApiResponseError)
    return new StopError(
      new Error(`the service refused the bulk call${where}: ${err.message} (HTTP ${err.status} ${err.code})`),
      err.serverSide ? EXIT.server : EXIT.failed,
    );
  if (err instanceof ApiConnectionError)
    return new StopError(
      new Error(`${err.message}${where}; the rows of that call may or may not have been recorded`),
      EXIT.server,
    );
  if (err instanceof UsageError) return new StopError(err, EXIT.usage);
  return new StopError(
    new Error(`reading the file failed${where}: ${err instanceof Error ? err.name : typeof err}`),
    EXIT.failed,
  );
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
      const perRow =
        err instanceof ApiResponseError && (err.status === 503 || err.status === 400)
          ? bulkAnswerIn(err.body)
          : undefined;
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
  return {
    row: r.row,
    line: r.line,
    outcome: 'rejected',
    errors: [{ field: '(line)', problem: r.problem ?? 'cannot be read' }],
  };
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
    ...(item.errors
      ? {
          errors: item.errors.map((e) => ({
            field: e.field.startsWith(prefix) ? e.field.slice(prefix.length) : e.field,
            problem: e.problem,
          })),
        }
      : {}),
  };
}

/** The per-row results an error answer of a bulk call carries, when it carries them. */
function bulkAnswerIn(body: unknown): BulkAnswer | undefined {
  const results: unknown =
    typeof body === 'object' && body !== null ? (body as { results?: unknown }).results : undefined;
  // The service's own bulk answer (src/api/intake-routes.ts): per-row results under `results`.
  return Array.isArray(results) ? (body as BulkAnswer) : undefined;
}
