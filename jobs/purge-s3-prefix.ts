import type { S3VendorClient } from '../src/vendors/s3-client.js';
import { PermanentVendorError } from '../src/vendors/vendor-errors.js';
import { SCAN_S3_PREFIX } from './scan-s3-prefix.js';
import { requireClient, windowBatchPollMs, type TaskProcessor } from '../src/connectors/processor-contract.js';

/**
 * `purge-s3-prefix`: removes a person's rows from one configured location (import files, older
 * exports): CSV and NDJSON, plain or gzipped, every version. The work is done once for every
 * request of the window by the location's shared `scan-s3-prefix` batch, which also reads every
 * touched version back; this task joins it, waits for it as a delayed job, and records the
 * person's counts and the verification as its evidence.
 */
export const purgeS3Prefix: TaskProcessor<S3VendorClient> = async (input, deps) => {
  const s3 = requireClient(deps, 's3');
  const { email, phone, userId } = input.subject;
  if (!email && !phone && !userId)
    return { outcome: 'skipped', evidence: { reason: 'no e-mail, phone or user id for this person' } };

  const { batchWindowMs, batchMaxSubjects } = s3.settings;
  const outcome = await input.awaitBatch({
    kind: SCAN_S3_PREFIX,
    scope: input.resource,
    windowMs: batchWindowMs,
    maxMembers: batchMaxSubjects,
  });
  if (outcome.state === 'waiting') {
    return {
      outcome: 'waiting_vendor',
      evidence: { batchId: outcome.batchId },
      pollAfterMs: windowBatchPollMs(outcome.closesAt),
      reason: 'waiting for the shared scan of this S3 location',
    };
  }
  if (outcome.state === 'failed')
    throw new PermanentVendorError(
      { vendor: 's3', operation: SCAN_S3_PREFIX, code: 'BatchFailed' },
      'shared scan of the location failed',
    );
  const result = outcome.result;
  const removed = Number(result.rowsRemoved ?? 0) + Number(result.versionsDeleted ?? 0);
  return { outcome: removed > 0 ? 'succeeded' : 'not_found', evidence: { batchId: outcome.batchId, ...result } };
};
