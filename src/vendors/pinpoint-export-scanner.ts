import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { normaliseEmail } from '../privacy/subject.js';

/**
 * The streaming scan of a Pinpoint endpoint export (gzipped NDJSON, one EndpointResponse per
 * line, docs/vendors/pinpoint.md) for many people at once (Invariant 7), with exact matching on
 * normalised identifiers (Invariant 2) and memory bounded by the chunk size, never by the file.
 *
 * Speed: most lines belong to nobody we look for, so a line is never JSON-parsed on the way.
 * Each decompressed chunk is searched with `Buffer.indexOf` for the two keys that can name a
 * person, `"Address":` and `"UserId":`; only the string value after each is decoded and looked
 * up in a Map. A line is parsed only when one of its values matched, and then it is parsed to
 * confirm the match at the top level (`Address`, `User.UserId`) and to read the endpoint `Id`.
 * Raw lines are never kept: a matched line yields an endpoint id, nothing else.
 */

/** Who to look for: normalised identifiers (src/privacy/subject.ts), any subset. */
export interface ScanSubject {
  email?: string;
  phone?: string;
  userId?: string;
}

/** A problem reading an export file. Never means "not found": the caller must not treat the scan as complete. */
export class ExportScanError extends Error {
  constructor(
    /** `truncated` (the gzip stream ended early), `corrupt` (not gzip, or bad data), `malformed_line`, `line_too_long`, `aborted`. */
    readonly code: 'truncated' | 'corrupt' | 'malformed_line' | 'line_too_long' | 'aborted',
    message: string,
  ) {
    super(message);
    this.name = 'ExportScanError';
  }
}

/** Figures of a scan: counts only, safe as evidence. */
export interface ExportScanStats {
  files: number;
  lines: number;
  /** Decompressed bytes read. */
  bytes: number;
  /** Lines that matched at least one subject. */
  matchedLines: number;
}

const ADDRESS_KEY = Buffer.from('"Address":');
const USER_ID_KEY = Buffer.from('"UserId":');
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/**
 * Pinpoint's largest endpoint is 15 KB (docs/vendors/pinpoint.md);
 * anything far beyond is not an export line.
 */
const MAX_LINE_BYTES = 4 * 1024 * 1024;
/** Decompressed bytes per chunk: large chunks mean few callbacks and long runs of native search. */
const CHUNK_BYTES = 1 << 19;

type Hits = number | number[];

function addHit(map: Map<string, Hits>, key: string | undefined, index: number): void {
  if (!key) return;
  const existing = map.get(key);
  if (existing === undefined) map.set(key, index);
  else if (typeof existing === 'number') {
    if (existing !== index) map.set(key, [existing, index]);
  } else if (!existing.includes(index)) existing.push(index);
}

function pushHits(out: Set<number>, hits: Hits | undefined): void {
  if (hits === undefined) return;
  if (typeof hits === 'number') out.add(hits);
  else for (const h of hits) out.add(h);
}

/**
 * The normalised form of an endpoint's `Address` for lookup: e-mail addresses lower-cased (with
 * an ASCII domain), everything else (phone numbers in E.164, push tokens) exactly as stored.
 */
export function normaliseAddress(raw: string): string {
  if (raw.indexOf('@') < 0) return raw;
  // Fast path for the usual ASCII address; the full normaliser only for the unusual ones.

  if (/^[\x21-\x7e]+$/.test(raw)) return raw.toLowerCase();
  try {
    return normaliseEmail(raw);
  } catch {
    return raw.trim().toLowerCase();
  }
}

function setBit(filter: Uint8Array, hash: number): void {
  const bit = hash & FILTER_MASK;
  filter[bit >>> 3] |= 1 << (bit & 7);
}

function hasBit(filter: Uint8Array, hash: number): boolean {
  const bit = hash & FILTER_MASK;
  return (filter[bit >>> 3] & (1 << (bit & 7))) !== 0;
}

/** Exact lookups of addresses and user ids against every subject of a batch. */
export class EndpointMatcher {
  private readonly byAddress = new Map<string, Hits>();
  private readonly byUserId = new Map<string, Hits>();
  /** Prefilters over the hashed bytes (addresses case-folded): a clear bit means no lookup is needed. */
  readonly addressFilter = new Uint8Array(FILTER_BITS >>> 3);
  readonly userIdFilter = new Uint8Array(FILTER_BITS >>> 3);

  constructor(readonly subjects: readonly ScanSubject[]) {
    subjects.forEach((s, i) => {
      addHit(this.byAddress, s.email, i);
      addHit(this.byAddress, s.phone, i);
      addHit(this.byUserId, s.userId, i);
    });
    for (const key of this.byAddress.keys()) setBit(this.addressFilter, hashText(key, true));
    for (const key of this.byUserId.keys()) setBit(this.userIdFilter, hashText(key, false));
  }

  get size(): number {
    return this.subjects.length;
  }

  /** Subjects an `Address` value names (already normalised). */
  address(normalised: string): Hits | undefined {
    return this.byAddress.get(normalised);
  }

  userId(value: string): Hits | undefined {
    return this.byUserId.get(value);
  }

  /** Subjects a parsed endpoint belongs to, from its top-level Address and User.UserId. */
  matchEndpoint(endpoint: { Address?: unknown; User?: { UserId?: unknown } | null }): Set<number> {
    const out = new Set<number>();
    if (typeof endpoint.Address === 'string') pushHits(out, this.byAddress.get(normaliseAddress(endpoint.Address)));
    const userId = endpoint.User && typeof endpoint.User === 'object' ? endpoint.User.UserId : undefined;
    if (typeof userId === 'string') pushHits(out, this.byUserId.get(userId));
    return out;
  }
}

/** Bits in the prefilter: a value whose hash bit is clear names nobody, and needs no string at all. */
const FILTER_BITS = 1 << 21;
const FILTER_MASK = FILTER_BITS - 1;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/** FNV-1a over a string's UTF-16 code units (ASCII here), optionally ASCII-lower-cased; matches `scanValue` on the bytes. */
function hashText(text: string, fold: boolean): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (fold && c >= 0x41 && c <= 0x5a) c |= 0x20;
    h = Math.imul(h ^ c, FNV_PRIME);
  }
  return h;
}

// What `scanValue` found, in module variables: the hot loop allocates nothing per line.
let valueStart = 0;
let valueEnd = 0;
let valueHash = 0;
/** 0: plain printable ASCII; 1: has bytes ≥ 0x80, spaces or control bytes; 2 and up: has escapes. */
let valueKind = 0;

/**
 * Finds the JSON string value that follows a key (at `from`, just after the colon) and hashes
 * its bytes on the way. Returns false when the value is not a string.
 */
function scanValue(buf: Buffer, from: number, limit: number, fold: boolean): boolean {
  let p = from;
  while (p < limit && (buf[p] === 0x20 || buf[p] === 0x09)) p++;
  if (buf[p] !== QUOTE) return false;
  const start = p + 1;
  let h = FNV_OFFSET;
  let kind = 0;
  let q = start;
  for (; q < limit; q++) {
    let b = buf[q];
    if (b === QUOTE) break;
    if (b === BACKSLASH) {
      kind = 2;
      q++;
      continue;
    }
    // Non-ASCII, spaces and control bytes take the slow path (full normalisation, which trims).
    if (b >= 0x80 || b <= 0x20) kind |= 1;
    else if (fold && b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, FNV_PRIME);
  }
  if (q >= limit) return false;
  valueStart = start;
  valueEnd = q;
  valueHash = h;
  valueKind = kind;
  return true;
}

/** The value `scanValue` found, decoded. */
function decodeValue(buf: Buffer): string | undefined {
  if (valueKind >= 2) {
    try {
      return JSON.parse(buf.toString('utf8', valueStart - 1, valueEnd + 1)) as string;
    } catch {
      return undefined;
    }
  }
  return buf.toString(valueKind === 0 ? 'latin1' : 'utf8', valueStart, valueEnd);
}

/**
 * Accumulates the matches of one batch over any number of export files. `endpointIds(i)` lists
 * the endpoint ids of subject `i`, each once.
 */
export class ExportScan {
  readonly stats: ExportScanStats = { files: 0, lines: 0, bytes: 0, matchedLines: 0 };
  private readonly found: Array<Set<string> | undefined>;

  constructor(readonly matcher: EndpointMatcher) {
    this.found = new Array<Set<string> | undefined>(matcher.size);
  }

  endpointIds(subjectIndex: number): string[] {
    return [...(this.found[subjectIndex] ?? [])];
  }

  /** Scans one gzipped export, streamed. Rejects with ExportScanError when the file cannot be read to its end. */
  async scanGzip(source: Readable | AsyncIterable<Buffer>, options: { signal?: AbortSignal } = {}): Promise<void> {
    const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
    const input = source as Readable;
    let sourceError: Error | undefined;
    if (typeof input.pipe === 'function') {
      input.on('error', (err) => {
        sourceError = err;
        gunzip.destroy(err);
      });
      input.pipe(gunzip);
    } else {
      void (async () => {
        try {
          for await (const chunk of source) if (!gunzip.write(chunk)) await new Promise((r) => gunzip.once('drain', r));
          gunzip.end();
        } catch (err) {
          sourceError = err as Error;
          gunzip.destroy(err as Error);
        }
      })();
    }
    const onAbort = () => gunzip.destroy(new ExportScanError('aborted', 'the scan was aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await this.scanPlain(gunzip);
      this.stats.files += 1;
    } catch (err) {
      throw toScanError(err, sourceError);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      if (typeof input.unpipe === 'function') input.unpipe(gunzip);
      if (typeof input.destroy === 'function' && !input.destroyed) input.destroy();
      gunzip.destroy();
    }
  }

  /** Scans decompressed NDJSON chunks (the hot loop). */
  async scanPlain(chunks: AsyncIterable<Buffer>): Promise<void> {
    let carry: Buffer | undefined;
    for await (const chunk of chunks) {
      this.stats.bytes += chunk.length;
      const buf = chunk;
      let from = 0;
      if (carry) {
        // The line that began in an earlier chunk: finish it on its own, without copying the chunk.
        const nl = chunk.indexOf(NEWLINE);
        if (nl < 0) {
          carry = Buffer.concat([carry, chunk]);
          if (carry.length > MAX_LINE_BYTES)
            throw new ExportScanError('line_too_long', 'an export line is longer than any endpoint can be');
          continue;
        }
        const line = Buffer.concat([carry, chunk.subarray(0, nl + 1)]);
        carry = undefined;
        this.scanRange(line, 0, line.length);
        from = nl + 1;
      }
      const last = buf.lastIndexOf(NEWLINE);
      if (last < from) {
        carry = Buffer.from(buf.subarray(from));
        continue;
      }
      this.scanRange(buf, from, last + 1);
      if (last + 1 < buf.length) carry = Buffer.from(buf.subarray(last + 1));
    }
    // A last line without a final newline.
    if (carry && carry.length > 0) this.scanRange(carry, 0, carry.length);
  }

  /** Scans whole lines in buf[start, end): `end` is just past a newline, or the end of the data. */
  private scanRange(buf: Buffer, start: number, end: number): void {
    // Lines: count newlines (cheap native search), plus a last line without one.
    let lines = 0;
    for (let p = buf.indexOf(NEWLINE, start); p >= 0 && p < end; p = buf.indexOf(NEWLINE, p + 1)) lines++;
    if (end > start && buf[end - 1] !== NEWLINE) lines++;
    this.stats.lines += lines;

    let candidates: number[] | undefined;
    const matcher = this.matcher;
    const addressFilter = matcher.addressFilter;
    const userIdFilter = matcher.userIdFilter;
    for (let p = buf.indexOf(ADDRESS_KEY, start); p >= 0 && p < end; p = buf.indexOf(ADDRESS_KEY, valueEnd)) {
      if (!scanValue(buf, p + ADDRESS_KEY.length, end, true)) {
        valueEnd = p + ADDRESS_KEY.length;
        continue;
      }
      // Escaped or non-ASCII values skip the prefilter: their bytes are not their normalised text.
      if (valueKind === 0 && !hasBit(addressFilter, valueHash)) continue;
      const value = decodeValue(buf);
      if (value !== undefined && matcher.address(normaliseAddress(value)) !== undefined) (candidates ??= []).push(p);
    }
    for (let p = buf.indexOf(USER_ID_KEY, start); p >= 0 && p < end; p = buf.indexOf(USER_ID_KEY, valueEnd)) {
      if (!scanValue(buf, p + USER_ID_KEY.length, end, false)) {
        valueEnd = p + USER_ID_KEY.length;
        continue;
      }
      if (valueKind === 0 && !hasBit(userIdFilter, valueHash)) continue;
      const value = decodeValue(buf);
      if (value !== undefined && matcher.userId(value) !== undefined) (candidates ??= []).push(p);
    }
    if (candidates) this.confirm(buf, start, end, candidates);
  }

  /** Parses the few lines that held a matching value, confirms the match at the top level and takes the endpoint id. */
  private confirm(buf: Buffer, start: number, end: number, positions: number[]): void {
    const lineStarts = new Set<number>();
    for (const p of positions) {
      const nl = buf.lastIndexOf(NEWLINE, p);
      lineStarts.add(nl < start ? start : nl + 1);
    }
    for (const lineStart of lineStarts) {
      let lineEnd = buf.indexOf(NEWLINE, lineStart);
      if (lineEnd < 0 || lineEnd > end) lineEnd = end;
      let parsed: unknown;
      try {
        parsed = JSON.parse(buf.toString('utf8', lineStart, lineEnd));
      } catch {
        // The line names someone we look for but cannot be read: never report that as "not found".
        throw new ExportScanError('malformed_line', 'an export line holding a searched identifier is not valid JSON');
      }
      // A line that is valid JSON but no object (a bare string, number, array) has no Address or User: it names nobody.
      if (typeof parsed !== 'object' || parsed === null) continue;
      const endpoint = parsed as { Id?: unknown; Address?: unknown; User?: { UserId?: unknown } | null };
      const who = this.matcher.matchEndpoint(endpoint);
      if (who.size === 0) continue;
      if (typeof endpoint.Id !== 'string' || endpoint.Id === '') {
        throw new ExportScanError('malformed_line', 'an export line holding a searched identifier has no endpoint Id');
      }
      this.stats.matchedLines += 1;
      for (const i of who) (this.found[i] ??= new Set()).add(endpoint.Id);
    }
  }
}

function toScanError(err: unknown, sourceError: Error | undefined): Error {
  if (err instanceof ExportScanError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file/i.test((err as Error | undefined)?.message ?? '')) {
    return new ExportScanError(
      'truncated',
      'an export file ended before its gzip stream was complete (truncated download or file)',
    );
  }
  if (code === 'Z_DATA_ERROR' || code === 'ERR_ZLIB_INITIALIZATION_FAILED')
    return new ExportScanError('corrupt', 'an export file is not valid gzip');
  // An error of the source (network, S3) is the caller's to classify.
  if (sourceError && err === sourceError) return sourceError;
  return err as Error;
}

/** Scans gzipped export files on disk (benchmarks, operators' tools). */
export async function scanExportFiles(
  paths: string[],
  subjects: readonly ScanSubject[],
): Promise<{ stats: ExportScanStats; endpointIds: string[][] }> {
  const scan = new ExportScan(new EndpointMatcher(subjects));
  for (const file of paths) await scan.scanGzip(createReadStream(file, { highWaterMark: CHUNK_BYTES }));
  return { stats: scan.stats, endpointIds: subjects.map((_, i) => scan.endpointIds(i)) };
}
