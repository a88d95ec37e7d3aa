import { EndpointMatcher, ExportScan, ExportScanError } from '../src/vendors/pinpoint-export-scanner.js';
import { batchExportPrefix, type ResolvedPinpointSettings } from '../src/vendors/pinpoint-settings.js';
import {
  isGone,
  type AppGone,
  type ExportJobState,
  type PinpointAppGone,
  type PinpointClient,
} from '../src/vendors/pinpoint-client.js';
import type { ObjectStoreClient } from '../src/vendors/s3-client.js';
import {
  PermanentVendorError,
  RateLimitedError,
  TransientVendorError,
  isVendorError,
  scopeMissing,
} from '../src/vendors/vendor-errors.js';
import {
  requireClient,
  resourceValue,
  type BatchInput,
  type BatchProcessor,
  type BatchResult,
  type MemberResult,
  type ProcessorDeps,
} from '../src/connectors/processor-contract.js';

/** The batch job's name, in the Pinpoint queue; its members are `find-endpoint` tasks. */
export const EXPORT_SEGMENT = 'export-segment';

/** A failure on this attempt or later ends the batch (its members move to a fresh batch): see below. */
const FINAL_ATTEMPT = 2;

/** What the batch keeps in the ledger between runs (no identifier of a person in any of it). */
interface ExportState {
  phase?: 'exporting' | 'scanning' | 'purging' | 'done';
  /** Export targets CreateExportJob was called for (`*` = the whole app, else a segment id), recorded before each call. */
  exportRequested?: string[];
  exportJobs?: Array<{ target: string; jobId: string }>;
  /** Per member task: the endpoint ids the scan found (vendor ids). Kept only between the scan and the end of the purge. */
  matches?: Record<string, string[]> | null;
  scan?: Record<string, number>;
}

/**
 * `export-segment`: the shared batch behind finding Pinpoint endpoints by e-mail or phone
 * (Invariant 7). One run of this job serves every `find-endpoint` task of one app that arrived
 * within the batching window:
 *
 * 1. CreateExportJob for the app (or for each configured segment) to `s3://bucket/prefix<batch>/`;
 *    the call is recorded before it is made, so a crash right after it adopts the job instead
 *    of starting a second one.
 * 2. GetExportJob until COMPLETED, as delayed re-runs of this job (`waiting_vendor`), never a sleep.
 * 3. One streaming scan of every `.gz` file under the prefix (ListObjectsV2, all pages) for all
 *    members at once; the endpoint ids found are checkpointed per member.
 * 4. Purge: every version and delete marker under the prefix is deleted (the export holds
 *    everyone's data), checked by listing again; then each member gets its endpoint ids.
 *
 * If the batch fails for good (the export FAILED, a vendor refusal, or a second failed attempt)
 * the export files are purged before the failure is reported; the members then join a fresh
 * batch. An app that no longer exists (or Pinpoint past end of support) ends every member as
 * `appGone` with the vendor's answer.
 */
export const exportSegment: BatchProcessor<PinpointClient> = async (input, deps) => {
  const pinpoint = requireClient(deps, 'pinpoint');
  const settings = pinpoint.settings.addressScan;
  const s3 = pinpoint.exports;
  if (!settings || !s3)
    throw new PermanentVendorError(
      { vendor: 'pinpoint', operation: EXPORT_SEGMENT, code: 'NotConfigured' },
      'has no addressScan settings',
    );
  const appId = resourceValue(input.scope, 'app');
  const prefix = batchExportPrefix(settings, input.batchId);
  const state = input.previous as ExportState;

  try {
    // `purging` was written ahead of the purge (Invariant 11): an earlier run was cut off in it, and
    // what it deleted is not in this run's counts, which are then a lower bound.
    if (state.phase === 'purging' && state.matches)
      return await purgeAndFinish(input, s3, settings.bucket, prefix, state.matches, {
        exportPurge: 'removed_in_earlier_attempt',
      });

    const run: ExportRun = { pinpoint, settings, s3, appId, prefix, input, deps };
    // 1. The export job(s), created once.
    const created = await createExportJobs(run, state);
    if ('result' in created) return created.result;

    // 2. Poll: each run asks once; until every job is COMPLETED the batch waits as a delayed job.
    const polled = await pollExportJobs(run, created.jobs);
    if ('result' in polled) return polled.result;

    // 3. One scan for every member.
    const { matches, scanEvidence } = await scanExport(run, polled.states);

    // 4. Purge, then hand out the results.
    return await purgeAndFinish(input, s3, settings.bucket, prefix, matches, { scan: scanEvidence });
  } catch (err) {
    throw await onFailure(err, input, s3, settings.bucket, prefix);
  }
};

/** One run of the batch: the app, its export prefix and what reaches the vendor. */
interface ExportRun {
  pinpoint: PinpointClient;
  settings: NonNullable<ResolvedPinpointSettings['addressScan']>;
  s3: ObjectStoreClient;
  appId: string;
  prefix: string;
  input: BatchInput;
  deps: ProcessorDeps<PinpointClient>;
}

type Answered<T> = T | { result: BatchResult };

/** Creates each target's export job once (recorded before the call; adopted after a crash); the app gone ends the batch. */
async function createExportJobs(
  run: ExportRun,
  state: ExportState,
): Promise<Answered<{ jobs: Array<{ target: string; jobId: string }> }>> {
  const { pinpoint, settings, s3, appId, prefix, input } = run;
  const targets = settings.segments?.[appId] ?? ['*'];
  const jobs = [...(state.exportJobs ?? [])];
  const requested = [...(state.exportRequested ?? [])];
  for (const target of targets) {
    if (jobs.some((j) => j.target === target)) continue;
    const s3UrlPrefix = `s3://${settings.bucket}/${target === '*' ? prefix : `${prefix}${target}/`}`;
    let job: ExportJobState | AppGone | undefined;
    if (requested.includes(target)) job = await pinpoint.findExportJob({ appId, s3UrlPrefix, signal: input.signal });
    if (!job) {
      requested.push(target);
      await input.checkpoint({ phase: 'exporting', exportPrefix: prefix, exportRequested: requested });
      job = await pinpoint.createExportJob({
        appId,
        s3UrlPrefix,
        roleArn: settings.roleArn,
        segmentId: target === '*' ? undefined : target,
        signal: input.signal,
      });
    }
    if (isGone(job))
      return {
        result: await appGone(
          input,
          s3,
          settings.bucket,
          prefix,
          await confirmGone(pinpoint, appId, job, input.signal, run.deps),
        ),
      };
    jobs.push({ target, jobId: job.jobId });
    await input.checkpoint({ exportJobs: jobs });
  }
  return { jobs };
}

/** Asks once for each job's state: all COMPLETED, or the batch waits (a FAILED export ends it). */
async function pollExportJobs(
  run: ExportRun,
  jobs: Array<{ jobId: string }>,
): Promise<Answered<{ states: ExportJobState[] }>> {
  const { pinpoint, settings, s3, appId, prefix, input } = run;
  const states: ExportJobState[] = [];
  for (const { jobId } of jobs) {
    const job = await pinpoint.getExportJob({ appId, jobId, signal: input.signal });
    if (isGone(job))
      return {
        result: await appGone(
          input,
          s3,
          settings.bucket,
          prefix,
          await confirmGone(pinpoint, appId, job, input.signal, run.deps),
        ),
      };
    states.push(job);
  }
  const failed = states.find((s) => s.status === 'FAILED');
  if (failed) {
    throw new PermanentVendorError(
      { vendor: 'pinpoint', operation: 'GetExportJob', code: 'ExportJobFailed' },
      `reports the export FAILED (${failed.failedPieces} of ${failed.totalPieces} pieces failed)`,
    );
  }
  if (states.some((s) => s.status !== 'COMPLETED')) {
    return {
      result: {
        outcome: 'waiting_vendor',
        evidence: {
          phase: 'exporting',
          exportStatus: states.map((s) => ({
            jobId: s.jobId,
            status: s.status,
            completedPieces: s.completedPieces,
            totalPieces: s.totalPieces,
          })),
        },
        pollAfterMs: pinpoint.settings.pollIntervalMs,
        reason: `waiting for Pinpoint to finish exporting app ${appId}`,
      },
    };
  }
  return { states };
}

/** Streams every `.gz` file under the prefix once for all members; the endpoint ids found are checkpointed per member. */
async function scanExport(run: ExportRun, states: ExportJobState[]) {
  const { settings, s3, prefix, input } = run;
  await input.checkpoint({ phase: 'scanning', exportedEndpoints: states.reduce((n, s) => n + s.totalProcessed, 0) });
  const scan = new ExportScan(
    new EndpointMatcher(
      input.members.map((m) => ({ email: m.subject.email, phone: m.subject.phone, userId: m.subject.userId })),
    ),
  );
  for await (const object of s3.listKeys(settings.bucket, prefix, input.signal)) {
    if (!object.key.endsWith('.gz')) continue;
    const read = await s3.getObject(settings.bucket, object.key, undefined, input.signal);
    if (!read)
      throw new TransientVendorError(
        { vendor: 'pinpoint', operation: 'ScanExport', code: 'FileVanished' },
        'lost an export file between listing and reading it',
      );
    await scan.scanGzip(read.body, { signal: input.signal });
  }
  const matches = Object.fromEntries(input.members.map((m, i) => [m.taskId, scan.endpointIds(i)]));
  const scanEvidence = { ...scan.stats };
  await input.checkpoint({ phase: 'purging', matches, scan: scanEvidence });
  return { matches, scanEvidence };
}

async function purgeAndFinish(
  input: BatchInput,
  s3: ObjectStoreClient,
  bucket: string,
  prefix: string,
  matches: Record<string, string[]>,
  extra: Record<string, unknown>,
): Promise<BatchResult> {
  const purged = await s3.purgePrefix(bucket, prefix, input.signal);
  const members = new Map<string, MemberResult>();
  let matchedMembers = 0;
  let matchedEndpoints = 0;
  for (const m of input.members) {
    const endpointIds = matches[m.taskId] ?? [];
    if (endpointIds.length) matchedMembers++;
    matchedEndpoints += endpointIds.length;
    members.set(m.taskId, { state: 'done', result: { endpointIds } });
  }
  const previous = (input.previous as ExportState).scan;
  return {
    outcome: 'done',
    evidence: {
      phase: 'done',
      // The per-member lists now live in the members' results; the batch keeps counts only.
      matches: null,
      members: input.members.length,
      matchedMembers,
      matchedEndpoints,
      ...(previous ? { scan: previous } : {}),
      ...extra,
      exportFilesDeleted: purged.versionsDeleted,
      exportDeleteMarkersDeleted: purged.markersDeleted,
      exportBytesDeleted: purged.bytesDeleted,
      exportPurgeVerified: true,
    },
    members,
  };
}

/**
 * An export call answered that the app is gone: never trusted alone (README "Verification values"). The
 * app is looked up (PinpointClient.confirmApp): a mistyped app id throws a MisconfiguredVendorError
 * naming the config key; Pinpoint past its end of support is the answer the members record.
 */
async function confirmGone(
  pinpoint: PinpointClient,
  appId: string,
  gone: AppGone,
  signal: AbortSignal | undefined,
  deps: ProcessorDeps<PinpointClient>,
): Promise<PinpointAppGone> {
  const app = await pinpoint.confirmApp({ appId, signal, sightings: deps.scopeSightings });
  if (!isGone(app))
    throw new TransientVendorError(
      { vendor: 'pinpoint', operation: 'GetApp', code: 'AppStillDescribed' },
      `answered ${gone.vendorAnswer} for an app it still describes`,
    );
  return app;
}

/** Pinpoint is past its end of support (confirmed by confirmGone): nothing to find, recorded with the vendor's answer and the date. */
async function appGone(
  input: BatchInput,
  s3: ObjectStoreClient,
  bucket: string,
  prefix: string,
  gone: PinpointAppGone,
): Promise<BatchResult> {
  const purged = await s3.purgePrefix(bucket, prefix, input.signal);
  const answer = {
    appGone: true,
    vendorAnswer: gone.vendorAnswer,
    ...(gone.endOfSupportAt ? { endOfSupportAt: gone.endOfSupportAt } : {}),
    ...(gone.lastSeenAt ? { lastSeenAt: gone.lastSeenAt } : {}),
  };
  const members = new Map<string, MemberResult>(
    input.members.map((m) => [m.taskId, { state: 'done', result: answer }]),
  );
  return {
    outcome: 'done',
    evidence: { phase: 'done', ...answer, exportFilesDeleted: purged.versionsDeleted },
    members,
  };
}

/**
 * A failed run. Throttling and shutdowns come back as they are (nothing is lost: the files stay
 * for the next run). Anything else is retried once; a failure that ends the batch (a refusal, the
 * export FAILED, or the second failed attempt) first deletes the export files, since a failed
 * batch must not leave everyone's endpoints lying in S3; its members then join a fresh batch.
 */
async function onFailure(
  err: unknown,
  input: BatchInput,
  s3: ObjectStoreClient,
  bucket: string,
  prefix: string,
): Promise<Error> {
  if (err instanceof RateLimitedError || input.signal?.aborted) return err as Error;
  const failure = classify(err);
  if (!(failure instanceof PermanentVendorError) && input.attempt < FINAL_ATTEMPT) return failure;
  // Best effort: when even this fails, the batch's prefix (under the configured export prefix) is what an operator deletes.
  const purge = await s3.purgePrefix(bucket, prefix, input.signal).then(
    () => 'deleted',
    () => 'not deleted',
  );
  if (failure instanceof PermanentVendorError) return failure;
  return new PermanentVendorError(
    failure.details,
    `failed on attempt ${input.attempt}, ending the shared export batch (export files ${purge})`,
  );
}

function classify(err: unknown): PermanentVendorError | TransientVendorError | RateLimitedError {
  // The export bucket is configured under Pinpoint's settings: a missing one is a config error naming that key.
  if (err instanceof PermanentVendorError && err.details.vendor === 's3' && err.details.code === 'NoSuchBucket') {
    return scopeMissing(err.details, 'vendors.pinpoint.addressScan.bucket', 'does not exist');
  }
  if (isVendorError(err)) return err;
  if (err instanceof ExportScanError)
    return new TransientVendorError(
      { vendor: 'pinpoint', operation: 'ScanExport', code: err.code },
      'could not read an export file to its end',
    );
  return new TransientVendorError(
    { vendor: 'pinpoint', operation: 'ScanExport', code: (err as Error | undefined)?.name ?? 'Error' },
    'failed',
  );
}
