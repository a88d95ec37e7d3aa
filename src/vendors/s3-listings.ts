import { ListObjectVersionsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { PermanentVendorError, TransientVendorError } from './vendor-errors.js';
import type { VendorName } from './vendor-name.js';
import type { S3Context, S3KeyVersions, S3VersionEntry } from './s3-client.js';

/** Most pages one listing may take: 100 million keys at 1,000 a page. */
export const MAX_LISTING_PAGES = 100_000;

/**
 * Stops a listing that never ends: a marker S3 already gave (a loop), or more pages than any real
 * prefix has. Either way the task fails with a clear reason instead of paging for ever.
 */
function listingGuard(vendor: VendorName) {
  const seen = new Set<string>();
  return {
    next(operation: string, marker: string): void {
      if (seen.has(marker))
        throw new PermanentVendorError(
          { vendor, operation, code: 'ListingLoop' },
          'returned a page marker it had already returned (a listing that never ends)',
        );
      seen.add(marker);
      if (seen.size > MAX_LISTING_PAGES)
        throw new PermanentVendorError(
          { vendor, operation, code: 'ListingTooLong' },
          `listed more than ${MAX_LISTING_PAGES} pages`,
        );
    },
  };
}

/** ListObjectVersions, page by page, as every version and delete marker grouped by key (S3 order, newest first). */
export async function* listVersions(
  { vendor, sdk, call }: S3Context,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<S3KeyVersions> {
  let keyMarker: string | undefined;
  let versionIdMarker: string | undefined;
  let open: S3KeyVersions | undefined;
  const guard = listingGuard(vendor);
  for (;;) {
    const page = await call('ListObjectVersions', () =>
      sdk.send(
        new ListObjectVersionsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          VersionIdMarker: versionIdMarker,
        }),
        { abortSignal: signal },
      ),
    );
    if (!page) return;
    const entries: S3VersionEntry[] = [
      ...(page.Versions ?? []).flatMap((v) =>
        v.Key === undefined
          ? []
          : [
              {
                key: v.Key,
                versionId: v.VersionId ?? 'null',
                isLatest: v.IsLatest === true,
                isDeleteMarker: false,
                size: v.Size ?? 0,
                at: v.LastModified?.getTime() ?? 0,
              },
            ],
      ),
      ...(page.DeleteMarkers ?? []).flatMap((m) =>
        m.Key === undefined
          ? []
          : [
              {
                key: m.Key,
                versionId: m.VersionId ?? 'null',
                isLatest: m.IsLatest === true,
                isDeleteMarker: true,
                size: 0,
                at: m.LastModified?.getTime() ?? 0,
              },
            ],
      ),
    ]
      // The SDK splits S3's one ordered list in two: put it back (key order, newest first).
      .sort((a, b) => compareKeys(a.key, b.key) || Number(b.isLatest) - Number(a.isLatest) || b.at - a.at)
      .map(({ at: _at, ...entry }) => entry);
    for (const entry of entries) {
      if (open && open.key !== entry.key) {
        yield open;
        open = undefined;
      }
      (open ??= { key: entry.key, entries: [] }).entries.push(entry);
    }
    if (!page.IsTruncated) break;
    keyMarker = page.NextKeyMarker;
    versionIdMarker = page.NextVersionIdMarker;
    if (!keyMarker)
      throw new TransientVendorError(
        { vendor, operation: 'ListObjectVersions', code: 'NoNextMarker' },
        'returned a truncated page without a marker',
      );
    guard.next('ListObjectVersions', `${keyMarker}\u0000${versionIdMarker ?? ''}`);
  }
  if (open) yield open;
}

/** ListObjectsV2, page by page, as keys and sizes. */
export async function* listKeys(
  { vendor, sdk, call }: S3Context,
  bucket: string,
  prefix: string,
  signal?: AbortSignal,
): AsyncGenerator<{ key: string; size: number }> {
  let token: string | undefined;
  const guard = listingGuard(vendor);
  for (;;) {
    const page = await call('ListObjectsV2', () =>
      sdk.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }), {
        abortSignal: signal,
      }),
    );
    if (!page) return;
    for (const o of page.Contents ?? []) if (o.Key !== undefined) yield { key: o.Key, size: o.Size ?? 0 };
    if (!page.IsTruncated) return;
    token = page.NextContinuationToken;
    if (!token)
      throw new TransientVendorError(
        { vendor, operation: 'ListObjectsV2', code: 'NoContinuationToken' },
        'returned a truncated page without a token',
      );
    guard.next('ListObjectsV2', token);
  }
}
/** S3 lists keys in UTF-8 binary order, which is not JavaScript's UTF-16 order for every key. */
function compareKeys(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
