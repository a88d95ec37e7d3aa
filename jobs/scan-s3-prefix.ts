import { createHash } from 'node:crypto';
import { EndpointMatcher } from '../src/vendors/pinpoint-export-scanner.js';
import { ObjectRowsError, type RowScan } from '../src/vendors/s3-object-rows.js';
import { parseLocationResource } from '../src/vendors/s3-settings.js';
import type { S3KeyVersions, S3VendorClient, S3VersionEntry } from '../src/vendors/s3-client.js';
import {
  PermanentVendorError,
  RateLimitedError,
  TransientVendorError,
  isVendorError,
  scopeMissing,
} from '../src/vendors/vendor-errors.js';
import { unverifiable, verifiedAbsent } from '../src/receipts/verification.js';
import {
  requireClient,
  resourceValue,
  type BatchInput,
  type BatchProcessor,
  type MemberResult,
} from '../src/connectors/processor-contract.js';
import { readRows, rewriteVersion, versionsStillHolding } from './s3-version-rows.js';

/** The batch job's name, in the S3 queue; its members are `purge-s3-prefix` tasks. */
export const SCAN_S3_PREFIX = 'scan-s3-prefix';

/** What each member is told: counts for the receipt (object keys are not kept: they are names someone chose). */
export interface PrefixPurgeCounts {
  /** Current objects whose rows of this person were removed by rewriting them. */
  objectsRewritten: number;
  /** Rows of this person removed from current objects. */
  rowsRemoved: number;
  /** Older versions holding this person's rows, deleted for good. */
  versionsDeleted: number;
  /** Delete markers left with nothing to hide once those versions went. */
  deleteMarkersDeleted: number;
}

const emptyCounts = (): PrefixPurgeCounts => ({
  objectsRewritten: 0,
  rowsRemoved: 0,
  versionsDeleted: 0,
  deleteMarkersDeleted: 0,
});

/**
 * What a run is about to change in one key, written to the batch's evidence before the first
 * change and cleared, with the counts it earned, right after the last (Invariant 11). A run that
 * dies between the two leaves it behind, and the next run resolves it by reading the key again:
 * so the counts are exact whatever the moment of the crash. The key itself is not kept (a name
 * someone chose): its digest is, and the next run meets the key again in its listing.
 */
export interface KeyIntent {
  /** SHA-256 of the key, hex. */
  keyDigest: string;
  /** The current version about to be rewritten, and the rows it holds per member (task id). */
  rewrite?: { versionId: string; rows: Record<string, number> };
  /** Versions about to be deleted, and the members whose rows each holds. */
  deletes: Array<{ versionId: string; taskIds: string[] }>;
  /** Delete markers about to go once they hide nothing, and the members they are credited to. */
  markers?: { versionIds: string[]; taskIds: string[] };
}

const keyDigest = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/**
 * `scan-s3-prefix`: purges one configured location (bucket + prefix) of every member's rows in
 * one pass (Invariant 7): a person erased today and fifty others in the same window cost one
 * listing and one read of each object, not fifty-one.
 *
 * For each key (ListObjectVersions, every page; versions and delete markers):
 * - every version is read (streamed, gunzipped when it is gzip) and its rows matched exactly;
 * - a current version holding a member's rows is rewritten without them, same key, same format,
 *   same content type and metadata, every other row byte-identical;
 * - in a versioned bucket, every noncurrent version holding a member's rows (including the one
 *   just replaced) is deleted for good, and delete markers left hiding nothing go too;
 *   in an unversioned bucket the rewrite is all there is.
 * Then each touched key is read back, every version, and must hold none of the members' rows;
 * otherwise the batch fails this attempt and runs again (which is safe: it is idempotent).
 *
 * Verification (README "Verification values"): the bucket is confirmed first (GetBucketVersioning, a
 * bucket-level read: a missing bucket is a MisconfiguredVendorError naming
 * `vendors.s3.locations[i].bucket`). A prefix that holds no object at all is `unverifiable`
 * (`empty_prefix`), never `verified_absent`: a mistyped prefix looks exactly like it, and S3 has no
 * notion of a prefix existing. The evidence names the config key so the operator can check it.
 */
const purgeLocation: BatchProcessor<S3VendorClient> = async (input, deps) => {
  const s3 = requireClient(deps, 's3');
  const { bucket, prefix } = parseLocationResource(resourceValue(input.scope, 'location'));
  const matcher = new EndpointMatcher(
    input.members.map((m) => ({ email: m.subject.email, phone: m.subject.phone, userId: m.subject.userId })),
  );
  const everyone = new Set(input.members.map((_, i) => i));
  const indexOf = new Map(input.members.map((m, i) => [m.taskId, i]));
  const totals = { objectsScanned: 0, versionsScanned: 0, objectsSkipped: 0, keysTouched: 0 };
  const { counts, intents } = memberProgress(input);
  // Left by a run that died between changing a key and recording it: resolved when the listing meets the key.
  let unresolved = (input.previous.intent ?? undefined) as KeyIntent | undefined;

  const index = s3.settings.locations.findIndex((l) => l.bucket === bucket && l.prefix === prefix);
  const locationKey = `vendors.s3.locations[${index < 0 ? '?' : index}]`;
  try {
    const versioning = await confirmBucket(s3, bucket, locationKey, input.signal);
    const versioned = versioning !== 'Unversioned';
    const touched: string[] = [];
    const ctx: PurgeContext = {
      matcher,
      everyone,
      versioned,
      totals,
      taskIdOf: (i) => input.members[i].taskId,
      intents,
      signal: input.signal,
    };
    let keysListed = 0;
    for await (const group of s3.listVersions(bucket, prefix, input.signal)) {
      keysListed++;
      if (unresolved && keyDigest(group.key) === unresolved.keyDigest) {
        await intents.confirm(await resolveIntent(s3, bucket, unresolved, group, indexOf, matcher, input.signal));
        unresolved = undefined;
      }
      const changed = await purgeKey(s3, bucket, group, ctx);
      if (changed) {
        touched.push(group.key);
        totals.keysTouched++;
      }
    }
    // The key is gone altogether: every version and marker it was to lose went.
    if (unresolved)
      await intents.confirm(await resolveIntent(s3, bucket, unresolved, undefined, indexOf, matcher, input.signal));

    // Read back every version of every key we changed: none may hold a member's rows any more.
    const stillHolding = await versionsStillHolding(s3, bucket, touched, matcher, input.signal);
    if (stillHolding > 0)
      throw new TransientVendorError(
        { vendor: 's3', operation: 'GetObject', code: 'StillPresent' },
        `still holds searched rows in ${stillHolding} version(s) after the purge`,
      );

    const verification =
      keysListed > 0
        ? verifiedAbsent()
        : {
            ...unverifiable('empty_prefix'),
            configKey: `${locationKey}.prefix`,
            note: `"${prefix}" holds no object in "${bucket}": check ${locationKey}.prefix`,
          };
    const members = new Map<string, MemberResult>(
      input.members.map((m, i) => [
        m.taskId,
        { state: 'done', result: { bucket, prefix, versioned, ...counts[i], ...verification } },
      ]),
    );
    return {
      outcome: 'done',
      evidence: { bucket, prefix, versioned, members: input.members.length, keysListed, ...totals, progress: null },
      members,
    };
  } catch (err) {
    // What was done is already recorded (each key's counts with its confirmation, an unfinished
    // key as its intent): let the taxonomy decide.
    throw classify(err);
  }
};

/** One scan of a location at a time: two would rewrite a file from a version the other had replaced. */
export const scanS3Prefix: BatchProcessor<S3VendorClient> = Object.assign(purgeLocation, { oneRunPerScope: true });

/**
 * Each member's counts, starting from what earlier runs recorded, and the intents that record them:
 * written ahead of every change to a key, cleared with the counts it earned (KeyIntent).
 */
function memberProgress(input: BatchInput) {
  const previous = (input.previous.progress ?? {}) as Record<string, PrefixPurgeCounts>;
  const counts = input.members.map((m) => ({ ...emptyCounts(), ...(previous[m.taskId] ?? {}) }));
  // Members with nothing counted yet are left out: this is written after every touched key.
  const progress = () =>
    Object.fromEntries(
      input.members.flatMap((m, i) => (Object.values(counts[i]).some((n) => n > 0) ? [[m.taskId, counts[i]]] : [])),
    );
  const intents = {
    declare: (intent: KeyIntent) => input.checkpoint({ intent }),
    confirm: (earned: Map<number, PrefixPurgeCounts>) => {
      for (const [i, delta] of earned) addCounts(counts[i], delta);
      return input.checkpoint({ progress: progress(), intent: null });
    },
  };
  return { counts, intents };
}

/** The bucket's versioning, which confirms it exists: a missing bucket is a configuration mistake naming its key. */
function confirmBucket(s3: S3VendorClient, bucket: string, locationKey: string, signal?: AbortSignal) {
  return s3.versioning(bucket, signal).catch((err: unknown) => {
    if (err instanceof PermanentVendorError && err.details.code === 'NoSuchBucket')
      throw scopeMissing(err.details, `${locationKey}.bucket`, `"${bucket}" does not exist`);
    throw err;
  });
}

function addCounts(into: PrefixPurgeCounts, delta: PrefixPurgeCounts): void {
  into.objectsRewritten += delta.objectsRewritten;
  into.rowsRemoved += delta.rowsRemoved;
  into.versionsDeleted += delta.versionsDeleted;
  into.deleteMarkersDeleted += delta.deleteMarkersDeleted;
}

/**
 * What an intent left by an earlier run earned, read from the key as it is now (`group`, or
 * undefined when the key is gone): the rewrite happened when the version it was to replace is no
 * longer current, or still is but holds none of the rows (an unversioned bucket rewrites in place);
 * a version or marker was deleted when it is no longer listed. What did not happen is left to this
 * run, which finds it again and records it under an intent of its own.
 */
async function resolveIntent(
  s3: S3VendorClient,
  bucket: string,
  intent: KeyIntent,
  group: S3KeyVersions | undefined,
  indexOf: ReadonlyMap<string, number>,
  matcher: EndpointMatcher,
  signal?: AbortSignal,
): Promise<Map<number, PrefixPurgeCounts>> {
  const earned = new Map<number, PrefixPurgeCounts>();
  const credit = (taskId: string, field: keyof PrefixPurgeCounts, n: number) => {
    const i = indexOf.get(taskId);
    if (i === undefined || n === 0) return; // no longer a member (its task settled): nobody to tell
    countsOf(earned, i)[field] += n;
  };
  const listed = new Set(group?.entries.map((e) => e.versionId) ?? []);
  if (intent.rewrite) {
    const latest = group?.entries.find((e) => e.isLatest);
    let rewritten =
      !latest || latest.isDeleteMarker ? group === undefined : latest.versionId !== intent.rewrite.versionId;
    if (group && latest && !latest.isDeleteMarker && !rewritten) {
      const scan = await readRows(s3, bucket, group.key, latest, matcher, signal);
      rewritten = !Object.keys(intent.rewrite.rows).some((taskId) => {
        const i = indexOf.get(taskId);
        return i !== undefined && (scan?.matched.get(i) ?? 0) > 0;
      });
    }
    if (rewritten) {
      for (const [taskId, rows] of Object.entries(intent.rewrite.rows)) {
        credit(taskId, 'objectsRewritten', 1);
        credit(taskId, 'rowsRemoved', rows);
      }
    }
  }
  for (const { versionId, taskIds } of intent.deletes)
    if (!listed.has(versionId)) for (const taskId of taskIds) credit(taskId, 'versionsDeleted', 1);
  if (intent.markers) {
    // Cut off between the last version and its markers: nothing else would ever remove them (a key
    // of markers only holds nothing to scan), so the work is finished here, under the same intent.
    let left = intent.markers.versionIds.filter((v) => listed.has(v));
    if (group && left.length > 0 && group.entries.every((e) => e.isDeleteMarker)) {
      await s3.deleteVersions(
        bucket,
        left.map((versionId) => ({ key: group.key, versionId })),
        signal,
      );
      left = [];
    }
    for (const taskId of intent.markers.taskIds)
      credit(taskId, 'deleteMarkersDeleted', intent.markers.versionIds.length - left.length);
  }
  return earned;
}

interface PurgeContext {
  matcher: EndpointMatcher;
  everyone: ReadonlySet<number>;
  versioned: boolean;
  totals: { objectsScanned: number; versionsScanned: number; objectsSkipped: number };
  taskIdOf(memberIndex: number): string;
  /** Records what is about to change before the first change, and what it earned after the last. */
  intents: {
    declare(intent: KeyIntent): Promise<void>;
    confirm(earned: Map<number, PrefixPurgeCounts>): Promise<void>;
  };
  signal?: AbortSignal;
}

/** Purges one key of the members' rows; true when anything changed. */
async function purgeKey(s3: S3VendorClient, bucket: string, group: S3KeyVersions, ctx: PurgeContext): Promise<boolean> {
  const scans: Array<{ entry: S3VersionEntry; scan: RowScan }> = [];
  for (const entry of group.entries) {
    if (entry.isDeleteMarker) continue;
    const scan = await readRows(s3, bucket, group.key, entry, ctx.matcher, ctx.signal);
    ctx.totals.versionsScanned++;
    if (entry.isLatest) ctx.totals.objectsScanned++;
    if (!scan) continue;
    if (scan.format === 'unknown') ctx.totals.objectsSkipped++;
    if (scan.matched.size > 0) scans.push({ entry, scan });
  }
  if (scans.length === 0) return false;

  // The plan, written ahead (Invariant 11). In a versioned bucket the version a rewrite replaces
  // is to be deleted too, unless the write replaces it in place (the `null` version of a suspended
  // bucket): listed anyway, as a resolution only credits versions that are gone.
  const current = scans.find((s) => s.entry.isLatest);
  const planned = scans.filter((s) => ctx.versioned || s.entry.isLatest);
  const markers = group.entries.filter((e) => e.isDeleteMarker);
  const objectsLeftIfPlanned =
    !!current || group.entries.some((e) => !e.isDeleteMarker && !planned.some((p) => p.entry === e));
  const owners = [...new Set(scans.flatMap((s) => [...s.scan.matched.keys()]))];
  const taskIdsOf = (scan: RowScan) => [...scan.matched.keys()].map((i) => ctx.taskIdOf(i));
  await ctx.intents.declare({
    keyDigest: keyDigest(group.key),
    ...(current
      ? {
          rewrite: {
            versionId: current.entry.versionId,
            rows: Object.fromEntries([...current.scan.matched].map(([i, rows]) => [ctx.taskIdOf(i), rows])),
          },
        }
      : {}),
    deletes: ctx.versioned ? scans.map((s) => ({ versionId: s.entry.versionId, taskIds: taskIdsOf(s.scan) })) : [],
    ...(ctx.versioned && !objectsLeftIfPlanned && markers.length
      ? { markers: { versionIds: markers.map((m) => m.versionId), taskIds: owners.map((i) => ctx.taskIdOf(i)) } }
      : {}),
  });

  // Counted here and recorded only with the confirmation: a run cut off midway records nothing of
  // this key, and the next resolves its intent from the vendor instead.
  const earned = new Map<number, PrefixPurgeCounts>(owners.map((i) => [i, emptyCounts()]));
  const toDelete: S3VersionEntry[] = [];
  for (const { entry, scan } of scans) {
    if (entry.isLatest) {
      const written = await rewriteVersion(s3, bucket, group.key, entry.versionId, ctx);
      for (const [i, rows] of scan.matched) {
        const counts = countsOf(earned, i);
        counts.objectsRewritten++;
        counts.rowsRemoved += rows;
      }
      // The version just replaced still holds the rows, unless the write replaced it in place
      // (unversioned buckets, and the `null` version of a suspended one).
      if (ctx.versioned && (written.versionId ?? 'null') !== entry.versionId) toDelete.push(entry);
    } else if (ctx.versioned) {
      toDelete.push(entry);
    }
  }
  if (toDelete.length) {
    await s3.deleteVersions(
      bucket,
      toDelete.map((e) => ({ key: group.key, versionId: e.versionId })),
      ctx.signal,
    );
    for (const { entry, scan } of scans)
      if (toDelete.includes(entry)) for (const i of scan.matched.keys()) countsOf(earned, i).versionsDeleted++;
    // A key whose every object version went keeps only delete markers, hiding nothing: they go too.
    const objectsLeft =
      group.entries.some((e) => !e.isDeleteMarker && !toDelete.includes(e)) || scans.some((s) => s.entry.isLatest);
    if (!objectsLeft && markers.length) {
      await s3.deleteVersions(
        bucket,
        markers.map((e) => ({ key: group.key, versionId: e.versionId })),
        ctx.signal,
      );
      for (const i of owners) countsOf(earned, i).deleteMarkersDeleted += markers.length;
    }
  }
  await ctx.intents.confirm(earned);
  return true;
}

/** A member's counts in `earned`, started at zero the first time it earns anything. */
function countsOf(earned: Map<number, PrefixPurgeCounts>, memberIndex: number): PrefixPurgeCounts {
  let counts = earned.get(memberIndex);
  if (!counts) {
    counts = emptyCounts();
    earned.set(memberIndex, counts);
  }
  return counts;
}

function classify(err: unknown): Error {
  if (isVendorError(err) || err instanceof RateLimitedError) return err;
  if (err instanceof ObjectRowsError)
    return new TransientVendorError(
      { vendor: 's3', operation: 'ReadObject', code: err.code },
      'could not read an object to its end',
    );
  return new TransientVendorError(
    { vendor: 's3', operation: SCAN_S3_PREFIX, code: (err as Error | undefined)?.name ?? 'Error' },
    'failed',
  );
}
