import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { finished, pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { EndpointMatcher } from '../src/vendors/pinpoint-export-scanner.js';
import { rewriteObjectRows, scanObjectRows, type RewriteSink, type RowScan } from '../src/vendors/s3-object-rows.js';
import type { S3VendorClient, S3VersionEntry } from '../src/vendors/s3-client.js';
import { TransientVendorError } from '../src/vendors/vendor-errors.js';

// Versions of S3 objects, for `scan-s3-prefix` (jobs/scan-s3-prefix.ts): their rows matched, the
// object written again without the members' rows, and the read back after a purge.

/** What a rewrite needs: who to match, which members' rows to drop, and the run's signal. */
export interface RewriteContext {
  matcher: EndpointMatcher;
  everyone: ReadonlySet<number>;
  signal?: AbortSignal;
}

/** The version's rows matched against the members; undefined when the version is gone. */
export async function readRows(
  s3: S3VendorClient,
  bucket: string,
  key: string,
  entry: S3VersionEntry,
  matcher: EndpointMatcher,
  signal?: AbortSignal,
): Promise<RowScan | undefined> {
  const read = await s3.getObject(bucket, key, entry.versionId, signal);
  if (!read) return undefined;
  return scanObjectRows(read.body, matcher);
}

/** Writes a new current version of the key without the members' rows (via a temp file: memory stays flat). */
export async function rewriteVersion(
  s3: S3VendorClient,
  bucket: string,
  key: string,
  versionId: string,
  ctx: RewriteContext,
): Promise<{ versionId?: string }> {
  const read = await s3.getObject(bucket, key, versionId, ctx.signal);
  if (!read)
    throw new TransientVendorError(
      { vendor: 's3', operation: 'GetObject', code: 'VersionVanished' },
      'lost a version between reading and rewriting it',
    );
  const dir = await mkdtemp(path.join(os.tmpdir(), 'erasure-rewrite-'));
  const file = path.join(dir, 'object');
  try {
    const sink: RewriteSink = (gzip) => {
      const out = createWriteStream(file);
      if (!gzip) return { stream: out, done: finished(out) };
      const gz = createGzip();
      return { stream: gz, done: pipeline(gz, out) };
    };
    await rewriteObjectRows(read.body, ctx.matcher, ctx.everyone, sink);
    const { size } = await stat(file);
    return await s3.putObject({
      bucket,
      key,
      body: createReadStream(file),
      contentLength: size,
      contentType: read.contentType,
      contentEncoding: read.contentEncoding,
      metadata: read.metadata,
      signal: ctx.signal,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** How many versions of the touched keys still hold a member's rows. */
export async function versionsStillHolding(
  s3: S3VendorClient,
  bucket: string,
  touched: string[],
  matcher: EndpointMatcher,
  signal?: AbortSignal,
): Promise<number> {
  let stillHolding = 0;
  for (const key of touched) {
    for await (const group of s3.listVersions(bucket, key, signal)) {
      if (group.key !== key) continue;
      for (const entry of group.entries) {
        if (entry.isDeleteMarker) continue;
        const scan = await readRows(s3, bucket, group.key, entry, matcher, signal);
        if (scan && scan.matched.size > 0) stillHolding++;
      }
    }
  }
  return stillHolding;
}
