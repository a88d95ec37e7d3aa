import { createReadStream } from 'node:fs';
import { UsageError } from './command.js';

/**
 * Reading a file of people to erase (`erasure submit --file`), one request per row, streamed:
 * CSV with a header row, or JSON Lines. A record is one line (identifiers hold no line breaks), so
 * a bad quote or a broken JSON line costs that row only, not the rest of the file. Nothing here
 * repeats a value from the file in a message: problems name the line and what is wrong.
 */

/** CSV header names (case, `_`, `-` and spaces ignored): the native request's fields, flattened. */
export const FILE_COLUMNS = [
  'email',
  'phone',
  'userId',
  'installId',
  'amplitudeId',
  'requestId',
  'vendors',
  'regulation',
  'callbackUrl',
  'gracePeriodSeconds',
] as const;
export type FileColumn = (typeof FILE_COLUMNS)[number];
const IDENTIFIER_COLUMNS = new Set<string>(['email', 'phone', 'userId', 'installId', 'amplitudeId']);

export type PeopleFileFormat = 'csv' | 'jsonl';

/** Applied to rows that do not set them (from --vendor, --regulation, --grace-period). */
export interface RowDefaults {
  vendors?: string[];
  regulation?: string;
  gracePeriodSeconds?: number;
}

/** One data row: the request body to submit, or why it could not be read at all. */
export interface PeopleRow {
  /** 1-based data row (header and blank lines not counted). */
  row: number;
  /** 1-based physical line in the file. */
  line: number;
  /** Bytes of the file consumed up to the end of this row (for progress). */
  bytesEnd: number;
  body?: Record<string, unknown>;
  problem?: string;
}

export function formatFromName(file: string): PeopleFileFormat | undefined {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return undefined;
}

/** Physical lines of a stream with their 1-based numbers and the byte offset after each. */
async function* lines(file: string): AsyncGenerator<{ text: string; line: number; bytesEnd: number }> {
  let pending: Buffer = Buffer.alloc(0);
  let consumed = 0;
  let line = 0;
  const stream = createReadStream(file, { highWaterMark: 256 * 1024 });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    let start = 0;
    for (let nl = pending.indexOf(10, start); nl !== -1; nl = pending.indexOf(10, start)) {
      consumed += nl + 1 - start;
      line += 1;
      yield { text: decodeLine(pending.subarray(start, nl), line), line, bytesEnd: consumed };
      start = nl + 1;
    }
    pending = pending.subarray(start);
  }
  if (pending.length) {
    consumed += pending.length;
    line += 1;
    yield { text: decodeLine(pending, line), line, bytesEnd: consumed };
  }
}

function decodeLine(bytes: Buffer, line: number): string {
  let text = bytes.toString('utf8');
  if (text.endsWith('\r')) text = text.slice(0, -1);
  if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text;
}

/** One CSV record on one line (RFC 4180 quoting: "a, b" and "" for a quote); undefined if malformed. */
export function parseCsvLine(text: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const close = text.indexOf('"', i);
        if (close === -1) return undefined;
        value += text.slice(i, close);
        if (text[close + 1] === '"') {
          value += '"';
          i = close + 2;
          continue;
        }
        i = close + 1;
        break;
      }
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (i < text.length && text[i] !== ',') return undefined;
      fields.push(value);
    } else {
      let end = text.indexOf(',', i);
      if (end === -1) end = text.length;
      const value = text.slice(i, end);
      if (value.includes('"')) return undefined;
      fields.push(value.trim());
      i = end;
    }
    if (i >= text.length) return fields;
    i++; // the comma
    if (i === text.length) {
      fields.push('');
      return fields;
    }
  }
}

function columnKey(name: string): string {
  return name.toLowerCase().replace(/[\s_-]/g, '');
}

/** The header row → our column names; a usage error names an unknown or repeated column. */
export function parseHeader(text: string): FileColumn[] {
  const names = parseCsvLine(text);
  if (!names || names.every((n) => !n))
    throw new UsageError('the CSV file needs a header row naming its columns, like: email,phone,userId,vendors');
  const byKey = new Map(FILE_COLUMNS.map((c) => [columnKey(c), c]));
  const columns: FileColumn[] = [];
  for (const [index, name] of names.entries()) {
    const column = byKey.get(columnKey(name));
    // Not echoed: in a file without a header row, the "name" is somebody's e-mail address.
    if (!column)
      throw new UsageError(
        `column ${index + 1} of the CSV header row is not a known column (is the header row missing?); columns: ${FILE_COLUMNS.join(', ')}`,
      );
    if (columns.includes(column)) throw new UsageError(`CSV column "${column}" appears twice`);
    columns.push(column);
  }
  return columns;
}

function splitVendors(value: string): string[] {
  return value
    .split(';')
    .map((v) => v.trim())
    .filter(Boolean);
}

/** A CSV record → a native request body. Empty cells are absent fields; the service validates the rest. */
export function csvRowToBody(columns: FileColumn[], fields: string[], defaults: RowDefaults): Record<string, unknown> {
  const subject: Record<string, string> = {};
  const body: Record<string, unknown> = { subject };
  columns.forEach((column, index) => {
    const value = fields[index] ?? '';
    if (value === '') return;
    if (IDENTIFIER_COLUMNS.has(column)) subject[column] = value;
    else if (column === 'vendors') body.vendors = splitVendors(value);
    else if (column === 'gracePeriodSeconds') body.gracePeriodSeconds = /^\d+$/.test(value) ? Number(value) : value;
    else body[column] = value;
  });
  return withDefaults(body, defaults);
}

/**
 * A JSON line → a native request body: either the native shape (`{"subject": {...}, ...}`) or the
 * flat one of the CSV columns (`{"email": ..., "vendors": ["pinpoint"]}`). Other keys are passed
 * on, and the service refuses them by name.
 */
export function jsonRowToBody(value: Record<string, unknown>, defaults: RowDefaults): Record<string, unknown> {
  if ('subject' in value) return withDefaults({ ...value }, defaults);
  const subject: Record<string, unknown> = {};
  const body: Record<string, unknown> = { subject };
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === '') continue;
    if (IDENTIFIER_COLUMNS.has(key)) subject[key] = v;
    else if (key === 'vendors' && typeof v === 'string') body.vendors = splitVendors(v);
    else body[key] = v;
  }
  return withDefaults(body, defaults);
}

function withDefaults(body: Record<string, unknown>, defaults: RowDefaults): Record<string, unknown> {
  if (body.vendors === undefined && defaults.vendors?.length) body.vendors = defaults.vendors;
  if (body.regulation === undefined && defaults.regulation !== undefined) body.regulation = defaults.regulation;
  if (body.gracePeriodSeconds === undefined && defaults.gracePeriodSeconds !== undefined)
    body.gracePeriodSeconds = defaults.gracePeriodSeconds;
  return body;
}

/** Reads the file row by row. Throws a UsageError for a bad CSV header (before any row is yielded). */
export async function* readPeopleFile(
  file: string,
  format: PeopleFileFormat,
  defaults: RowDefaults = {},
): AsyncGenerator<PeopleRow> {
  let columns: FileColumn[] | undefined;
  let row = 0;
  for await (const { text, line, bytesEnd } of lines(file)) {
    if (!text.trim()) continue;
    if (format === 'csv' && !columns) {
      columns = parseHeader(text);
      continue;
    }
    row += 1;
    if (format === 'csv') {
      const fields = parseCsvLine(text);
      const header = columns ?? [];
      if (!fields)
        yield {
          row,
          line,
          bytesEnd,
          problem: 'is not valid CSV: a quoted field is not closed, or a quote is misplaced',
        };
      else if (fields.length !== header.length)
        yield { row, line, bytesEnd, problem: `has ${fields.length} fields; the header has ${header.length}` };
      else yield { row, line, bytesEnd, body: csvRowToBody(header, fields, defaults) };
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      // The parser's message quotes the text, which may hold an identifier: say only what is wrong.
      yield { row, line, bytesEnd, problem: 'is not valid JSON' };
      continue;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      yield { row, line, bytesEnd, problem: 'is not a JSON object' };
    else yield { row, line, bytesEnd, body: jsonRowToBody(parsed as Record<string, unknown>, defaults) };
  }
  if (format === 'csv' && !columns)
    throw new UsageError('the CSV file is empty: it needs a header row and at least one row');
}
