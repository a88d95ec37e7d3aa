import { invalidArgument } from './s3-fault.js';
import { lowerBound } from './s3-key-order.js';
import type { ListPosition } from './s3-continuation-token.js';
import type { S3Bucket, S3ObjectVersion } from './s3-store.js';

/** S3 never returns more than this many entries (keys plus common prefixes, or versions plus markers) per page. */
export const MAX_KEYS_PER_PAGE = 1000;

export interface ListCurrentQuery {
  prefix: string;
  delimiter?: string;
  /** Start strictly after this position (start-after, continuation token, or ListObjects v1 marker). */
  start?: ListPosition;
  maxKeys: number;
}

export interface ListCurrentPage {
  contents: S3ObjectVersion[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last entry returned, where the next page starts. */
  last?: ListPosition;
}

/**
 * One page of current objects in UTF-8 binary key order. Keys whose latest version is a delete
 * marker are invisible, also to CommonPrefixes. Keys and common prefixes both count toward `maxKeys`.
 */
export function listCurrentObjects(bucket: S3Bucket, query: ListCurrentQuery): ListCurrentPage {
  const { prefix, delimiter, start, maxKeys } = query;
  const keys = bucket.sortedKeys;
  let index = lowerBound(keys, prefix);
  if (start) index = Math.max(index, lowerBound(keys, start.after, true));
  const skipUnder = start?.rolledUp ? start.after : undefined;
  const page: ListCurrentPage = { contents: [], commonPrefixes: [], isTruncated: false };
  for (; index < keys.length; index++) {
    const key = keys[index];
    if (!key.startsWith(prefix)) break;
    if (skipUnder !== undefined && key.startsWith(skipUnder)) continue;
    const latest = bucket.objects.get(key)?.[0];
    if (!latest || latest.isDeleteMarker) continue;
    const common = commonPrefixOf(key, prefix, delimiter);
    if (common !== undefined && common === page.commonPrefixes.at(-1)) continue;
    if (page.contents.length + page.commonPrefixes.length >= maxKeys) {
      page.isTruncated = true;
      break;
    }
    if (common !== undefined) {
      page.commonPrefixes.push(common);
      page.last = { after: common, rolledUp: true };
    } else {
      page.contents.push(latest);
      page.last = { after: key, rolledUp: false };
    }
  }
  return page;
}

export interface ListVersionsQuery {
  prefix: string;
  delimiter?: string;
  keyMarker?: string;
  versionIdMarker?: string;
  maxKeys: number;
}

export interface VersionEntry {
  version: S3ObjectVersion;
  isLatest: boolean;
}

export interface ListVersionsPage {
  /** Versions and delete markers interleaved: keys ascending, each key's versions newest first. */
  entries: VersionEntry[];
  commonPrefixes: string[];
  isTruncated: boolean;
  nextKeyMarker?: string;
  nextVersionIdMarker?: string;
}

/**
 * One page of ListObjectVersions. Versions and delete markers count together toward `maxKeys`.
 * A version-id-marker whose version has been deleted since (a purge deleting as it pages)
 * still resumes at the right place; one that was never issued is 400 InvalidArgument.
 */
export function listObjectVersions(bucket: S3Bucket, query: ListVersionsQuery): ListVersionsPage {
  const { prefix, delimiter, keyMarker, versionIdMarker, maxKeys } = query;
  if (versionIdMarker !== undefined && keyMarker === undefined) {
    throw invalidArgument(
      'A version-id marker cannot be specified without a key marker.',
      'version-id-marker',
      versionIdMarker,
    );
  }
  const keys = bucket.sortedKeys;
  let index = lowerBound(keys, prefix);
  let skipUnder: string | undefined;
  // Versions of the marker key written at or after this sequence were on earlier pages.
  let resumeBelow: number | undefined;
  if (keyMarker !== undefined) {
    if (versionIdMarker !== undefined) {
      resumeBelow = markerSequence(bucket, keyMarker, versionIdMarker);
      index = Math.max(index, lowerBound(keys, keyMarker));
    } else {
      index = Math.max(index, lowerBound(keys, keyMarker, true));
      if (commonPrefixOf(keyMarker, prefix, delimiter) === keyMarker) skipUnder = keyMarker;
    }
  }
  const page: ListVersionsPage = { entries: [], commonPrefixes: [], isTruncated: false };
  const count = () => page.entries.length + page.commonPrefixes.length;
  outer: for (; index < keys.length; index++) {
    const key = keys[index];
    if (!key.startsWith(prefix)) break;
    if (skipUnder !== undefined && key.startsWith(skipUnder)) continue;
    const common = commonPrefixOf(key, prefix, delimiter);
    if (common !== undefined) {
      if (common === page.commonPrefixes.at(-1)) continue;
      if (count() >= maxKeys) {
        page.isTruncated = true;
        break;
      }
      page.commonPrefixes.push(common);
      page.nextKeyMarker = common;
      page.nextVersionIdMarker = undefined;
      continue;
    }
    const versions = bucket.objects.get(key) ?? [];
    for (let v = 0; v < versions.length; v++) {
      const version = versions[v];
      if (key === keyMarker && resumeBelow !== undefined && version.sequence >= resumeBelow) continue;
      if (count() >= maxKeys) {
        page.isTruncated = true;
        break outer;
      }
      page.entries.push({ version, isLatest: v === 0 });
      page.nextKeyMarker = key;
      page.nextVersionIdMarker = version.versionId;
    }
  }
  if (!page.isTruncated) {
    page.nextKeyMarker = undefined;
    page.nextVersionIdMarker = undefined;
  }
  return page;
}

/** Where the version named by a version-id-marker stood in write order. */
function markerSequence(bucket: S3Bucket, key: string, versionId: string): number {
  const live = bucket.objects.get(key)?.find((v) => v.versionId === versionId);
  if (live) return live.sequence;
  const issued = bucket.issuedVersions.get(versionId);
  if (issued !== undefined) return issued;
  // A deleted null version leaves no trace; it is almost always the oldest, so resume after the whole key.
  if (versionId === 'null') return -Infinity;
  throw invalidArgument('Invalid version id specified', 'version-id-marker', versionId);
}

/** The common prefix a key rolls up into under `delimiter`, or undefined when it is listed itself. */
function commonPrefixOf(key: string, prefix: string, delimiter: string | undefined): string | undefined {
  if (!delimiter) return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at < 0 ? undefined : key.slice(0, at + delimiter.length);
}
