import type { S3Location } from '../src/vendors/s3-settings.js';
import { isGone } from '../src/vendors/pinpoint-client.js';
import { PermanentVendorError, TransientVendorError } from '../src/vendors/vendor-errors.js';
import { requireVendorClient, type Evidence, type VendorClients } from '../src/connectors/processor-contract.js';

/** What the processor gets for one run of one project deletion. Ids and vendor resources only. */
export interface ProjectDeletionInput {
  deletionId: string;
  appId: string;
  /** The prefixes fixed when the deletion was requested. */
  s3Locations: S3Location[];
  /** 1 for the first run. */
  attempt: number;
  /** Evidence saved by earlier runs (after a crash or retry): parts already done are not done again. */
  previous: Record<string, unknown>;
  /** Saves evidence now, before the next destructive call, so a re-run knows what happened. */
  checkpoint(evidence: Record<string, unknown>): Promise<void>;
  signal?: AbortSignal;
}

export interface ProjectDeletionResult {
  /** `deleted` when the app or any S3 version was there and is gone now; `not_found` when everything was already gone. */
  outcome: 'deleted' | 'not_found';
  evidence: Evidence;
}

export type ProjectDeletionProcessor = (
  input: ProjectDeletionInput,
  deps: VendorClients,
) => Promise<ProjectDeletionResult>;

/** A `scope` job's processor (src/connectors/connector.ts): today the one scope job, a project deletion. */
export type ScopeProcessor = ProjectDeletionProcessor;

/** The job that deletes a whole Pinpoint project: in the Pinpoint queue, so Pinpoint's limiter paces it too. */
export const DELETE_PROJECT = 'delete-project';

/** The app part of the evidence. */
export interface AppDeletionEvidence {
  /**
   * `removed_in_earlier_attempt`: an earlier run sent DeleteApp and was cut off before it could
   * record the answer, and the app is gone now. Whether that run removed it cannot be told any
   * more; the evidence says so rather than `not_found` (Invariant 11).
   */
  result: 'deleted' | 'not_found' | 'removed_in_earlier_attempt';
  /** For `not_found`: Pinpoint's answer (status and error code), the proof that the project is gone. */
  vendorAnswer?: string;
  arn?: string;
  name?: string;
  /** GetApp after DeleteApp answered that the app is gone. */
  verification?: 'verified_absent';
  /** An earlier run sent DeleteApp and was cut off before it could record the answer. */
  deleteAppSentByEarlierRun?: boolean;
}

/** One S3 prefix's part of the evidence. */
export interface PrefixDeletionEvidence {
  bucket: string;
  prefix: string;
  versionsDeleted: number;
  deleteMarkersDeleted: number;
  bytesDeleted: number;
  /** A fresh ListObjectVersions (which answers NoSuchBucket for a missing bucket) found nothing left under the prefix. */
  verification: 'verified_absent';
  /**
   * An earlier run was cut off while purging this prefix (its intent, `purging`, was left): what it
   * removed is not in the counts, which are then a lower bound.
   */
  earlierAttempt?: 'removed_in_earlier_attempt';
}

/**
 * `delete-project`: deletes a whole Pinpoint project once its grace period is over. First
 * DeleteApp (endpoints, segments, campaigns, journeys, channel settings and analytics go with it),
 * read back with GetApp; then every object version and delete marker under each of the project's
 * S3 prefixes (ListObjectVersions every page, DeleteObjects ≤ 1,000 per call with per-key errors
 * retried, listed again until empty). An app that is already gone, deleted or past Pinpoint's end
 * of support, is `not_found` with Pinpoint's answer as evidence, not a failure. Each part is
 * checkpointed, so a re-run after a crash or a retry does only what is left.
 */
export const deleteProject: ProjectDeletionProcessor = async (input, deps) => {
  const pinpoint = requireVendorClient(deps, 'pinpoint');
  const store = deps.s3 ?? pinpoint.exports;
  // Refuse before anything is destroyed: a project deleted without its files would be half done.
  if (input.s3Locations.length > 0 && !store) {
    throw new PermanentVendorError(
      { vendor: 's3', operation: 'DeleteObjects', code: 'NoS3Access' },
      'cannot be called: no S3 access is configured (vendors.s3, or vendors.pinpoint.addressScan.s3)',
    );
  }

  let app = input.previous.app as AppDeletionEvidence | undefined;
  if (!app) {
    const sentBefore = typeof input.previous.deleteAppSentAt === 'string';
    if (!sentBefore) await input.checkpoint({ deleteAppSentAt: new Date().toISOString() });
    const answer = await pinpoint.deleteApp({ appId: input.appId, signal: input.signal });
    if (isGone(answer)) {
      app = sentBefore
        ? { result: 'removed_in_earlier_attempt', vendorAnswer: answer.vendorAnswer, deleteAppSentByEarlierRun: true }
        : { result: 'not_found', vendorAnswer: answer.vendorAnswer };
    } else {
      const after = await pinpoint.getApp({ appId: input.appId, signal: input.signal });
      // Pinpoint answered the delete but still shows the app: do not claim it; the retry sends DeleteApp again.
      if (!isGone(after))
        throw new TransientVendorError(
          { vendor: 'pinpoint', operation: 'GetApp', code: 'StillPresent' },
          'still describes the app after DeleteApp',
        );
      app = { result: 'deleted', arn: answer.arn, name: answer.name, verification: 'verified_absent' };
    }
    await input.checkpoint({ app });
  }

  const s3: PrefixDeletionEvidence[] = Array.isArray(input.previous.s3)
    ? [...(input.previous.s3 as PrefixDeletionEvidence[])]
    : [];
  // Written ahead of each prefix's purge and cleared with its counts (Invariant 11).
  const cutOff = input.previous.purging as S3Location | null | undefined;
  for (const location of input.s3Locations) {
    if (!store) break; // never: locations without a store were refused above
    if (s3.some((done) => done.bucket === location.bucket && done.prefix === location.prefix)) continue;
    await input.checkpoint({ purging: { bucket: location.bucket, prefix: location.prefix } });
    const purged = await store.purgePrefix(location.bucket, location.prefix, input.signal);
    const resumed = cutOff?.bucket === location.bucket && cutOff.prefix === location.prefix;
    s3.push({
      bucket: location.bucket,
      prefix: location.prefix,
      versionsDeleted: purged.versionsDeleted,
      deleteMarkersDeleted: purged.markersDeleted,
      bytesDeleted: purged.bytesDeleted,
      verification: 'verified_absent',
      ...(resumed ? { earlierAttempt: 'removed_in_earlier_attempt' as const } : {}),
    });
    await input.checkpoint({ s3, purging: null });
  }

  const deletedFiles = s3.some((p) => p.versionsDeleted + p.deleteMarkersDeleted > 0 || p.earlierAttempt !== undefined);
  return {
    outcome: app.result !== 'not_found' || deletedFiles ? 'deleted' : 'not_found',
    evidence: {
      app,
      s3,
      versionsDeleted: s3.reduce((n, p) => n + p.versionsDeleted, 0),
      deleteMarkersDeleted: s3.reduce((n, p) => n + p.deleteMarkersDeleted, 0),
    },
  };
};
