import { Readable, type Writable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { EndpointMatcher } from './pinpoint-export-scanner.js';

/**
 * People's rows in segment import and endpoint export files (docs/vendors/pinpoint.md):
 * CSV with Pinpoint's dotted headers (`Address`, `User.UserId`, …) or NDJSON (one endpoint per
 * line, `Address` and `User.UserId`), either plain or gzipped. A row belongs to a person when
 * its normalised Address is their e-mail or phone, or its User.UserId is their user id, exactly
 * (Invariant 2). Rewriting keeps every other row byte for byte, line ends included.
 */

export type RowFormat = 'csv' | 'ndjson' | 'empty' | 'unknown';

/** Why an object cannot be read safely. Never means "the person is not there". */
export class ObjectRowsError extends Error {
  constructor(
    readonly code: 'truncated' | 'corrupt' | 'malformed_row' | 'row_too_long',
    message: string,
  ) {
    super(message);
    this.name = 'ObjectRowsError';
  }
}

export interface RowScan {
  gzip: boolean;
  format: RowFormat;
  rows: number;
  /** Subject index → rows of theirs. */
  matched: Map<number, number>;
}

const MAX_ROW_BYTES = 8 * 1024 * 1024;
const GZIP_MAGIC = [0x1f, 0x8b];

/** Decides, row by row, whose row it is (a set of subject indexes, usually empty). */
class RowClassifier {
  format: RowFormat = 'empty';
  private addressColumn = -1;
  private userIdColumn = -1;
  private sawHeader = false;

  constructor(private readonly matcher: EndpointMatcher) {}

  /** `line` is one row without its line end. Returns the subjects it belongs to, or undefined for the header and blank lines. */
  classify(line: string): Set<number> | undefined {
    const text = this.sawHeader ? line : line.replace(/^\uFEFF/, '');
    if (text.trim() === '') return undefined;
    if (!this.sawHeader) {
      this.sawHeader = true;
      if (text.trimStart().startsWith('{')) this.format = 'ndjson';
      else {
        const header = parseCsvRow(text).map((h) => h.trim());
        this.addressColumn = header.indexOf('Address');
        this.userIdColumn = header.indexOf('User.UserId');
        this.format = this.addressColumn >= 0 || this.userIdColumn >= 0 ? 'csv' : 'unknown';
        return undefined;
      }
    }
    if (this.format === 'ndjson') return this.ndjsonRow(text);
    if (this.format === 'csv') {
      const fields = parseCsvRow(text);
      return this.matcher.matchEndpoint({
        Address: this.addressColumn >= 0 ? fields[this.addressColumn] : undefined,
        User: this.userIdColumn >= 0 ? { UserId: fields[this.userIdColumn] } : undefined,
      });
    }
    return undefined;
  }

  private ndjsonRow(text: string): Set<number> {
    let row: unknown;
    try {
      row = JSON.parse(text);
    } catch {
      // A row we cannot read: keep it unless it could be one of the people we look for, which
      // we cannot tell safely; then refuse to go on rather than report them absent.
      if (this.mentionsSomeone(text))
        throw new ObjectRowsError('malformed_row', 'a row that may hold a searched identifier is not valid JSON');
      return new Set();
    }
    if (!row || typeof row !== 'object') return new Set();
    return this.matcher.matchEndpoint(row);
  }

  private mentionsSomeone(text: string): boolean {
    const lower = text.toLowerCase();
    return this.matcher.subjects.some(
      (s) =>
        (s.email && lower.includes(s.email)) ||
        (s.phone && text.includes(s.phone)) ||
        (s.userId && text.includes(s.userId)),
    );
  }
}

/** One CSV row's fields (RFC 4180 quoting: `"a,b"`, `"say ""hi"""`). Pinpoint files have no line breaks inside fields. */
export function parseCsvRow(line: string): string[] {
  const fields: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    if (line[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) {
          value += line.slice(i);
          i = n;
          break;
        }
        value += line.slice(i, q);
        if (line[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      const comma = line.indexOf(',', i);
      fields.push(value);
      if (comma < 0) break;
      i = comma + 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        fields.push(line.slice(i).replace(/\r$/, ''));
        break;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
  return fields;
}

/** The object's bytes, gunzipped when they start with the gzip magic number (whatever the key or headers say). */
async function decompressed(body: AsyncIterable<Buffer>): Promise<{ gzip: boolean; chunks: AsyncIterable<Buffer> }> {
  const iterator = body[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  while (headBytes < 2) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
  }
  const first = Buffer.concat(head);
  const gzip = first.length >= 2 && first[0] === GZIP_MAGIC[0] && first[1] === GZIP_MAGIC[1];
  async function* replay(): AsyncGenerator<Buffer> {
    if (first.length) yield first;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (!gzip) return { gzip, chunks: replay() };
  const gunzip = Readable.from(replay()).pipe(createGunzip({ chunkSize: 256 * 1024 }));
  return { gzip, chunks: gunzip };
}

/** Rows with their line ends, as bytes, from decompressed chunks. */
async function* linesOf(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let carry: Buffer | undefined;
  try {
    for await (const chunk of chunks) {
      const buf = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = undefined;
      let from = 0;
      for (let nl = buf.indexOf(0x0a, from); nl >= 0; nl = buf.indexOf(0x0a, from)) {
        yield buf.subarray(from, nl + 1);
        from = nl + 1;
      }
      if (from < buf.length) {
        carry = Buffer.from(buf.subarray(from));
        if (carry.length > MAX_ROW_BYTES)
          throw new ObjectRowsError('row_too_long', 'a row is longer than any import row can be');
      }
    }
  } catch (err) {
    throw toRowsError(err);
  }
  if (carry && carry.length) yield carry;
}

function withoutLineEnd(line: Buffer): string {
  let end = line.length;
  if (end > 0 && line[end - 1] === 0x0a) end--;
  if (end > 0 && line[end - 1] === 0x0d) end--;
  return line.toString('utf8', 0, end);
}

/** Reads an object through and reports whose rows it holds. */
export async function scanObjectRows(body: AsyncIterable<Buffer>, matcher: EndpointMatcher): Promise<RowScan> {
  const { gzip, chunks } = await decompressed(body);
  const classifier = new RowClassifier(matcher);
  const matched = new Map<number, number>();
  let rows = 0;
  for await (const line of linesOf(chunks)) {
    const who = classifier.classify(withoutLineEnd(line));
    if (who === undefined) continue;
    rows++;
    for (const i of who) matched.set(i, (matched.get(i) ?? 0) + 1);
  }
  return { gzip, format: classifier.format, rows, matched };
}

/** Where a rewrite goes: given whether the original was gzipped, a stream to write the kept bytes to (gzipping them again if so) and when it is all written. */
export type RewriteSink = (gzip: boolean) => { stream: Writable; done: Promise<void> };

/**
 * Writes the object without the rows of the subjects in `drop`: every other byte, header and
 * line ends included, is written as it was (gzipped again by the sink when it was gzipped).
 */
export async function rewriteObjectRows(
  body: AsyncIterable<Buffer>,
  matcher: EndpointMatcher,
  drop: ReadonlySet<number>,
  sink: RewriteSink,
): Promise<{ gzip: boolean; removed: number; kept: number }> {
  const { gzip, chunks } = await decompressed(body);
  const { stream: out, done } = sink(gzip);
  const classifier = new RowClassifier(matcher);
  let removed = 0;
  let kept = 0;
  try {
    for await (const line of linesOf(chunks)) {
      const who = classifier.classify(withoutLineEnd(line));
      if (who !== undefined && [...who].some((i) => drop.has(i))) {
        removed++;
        continue;
      }
      if (who !== undefined) kept++;
      if (!out.write(line))
        await new Promise<void>((resolve) =>
          out.once('drain', () => {
            resolve();
          }),
        );
    }
    out.end();
    await done;
  } catch (err) {
    out.destroy();
    await done.catch(() => undefined);
    throw err;
  }
  return { gzip, removed, kept };
}

function toRowsError(err: unknown): unknown {
  if (err instanceof ObjectRowsError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test((err as Error | undefined)?.message ?? ''))
    return new ObjectRowsError('truncated', 'a gzipped object ended before its gzip stream was complete');
  if (code === 'Z_DATA_ERROR') return new ObjectRowsError('corrupt', 'a gzipped object holds invalid data');
  return err;
}
