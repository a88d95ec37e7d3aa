import type { AppCenterClient } from '../src/vendors/appcenter-client.js';
import { subjectNeedles } from '../src/privacy/token-match.js';
import { APPCENTER_JOBS } from '../queues/appcenter-queue.js';
import { awaitAppCenterBatch, goneEvidence } from './appcenter-batch-member.js';
import { requireClient, resourceValue, type TaskProcessor } from '../src/connectors/processor-contract.js';

const ACTION = 'delete-audiences';

/**
 * The audiences of one App Center app that name a person (name, description or definition, whole
 * tokens only), through the app's shared audience sweep (`appcenter-sweep-audiences`). Evidence:
 * how many were deleted and their names with the person's identifiers redacted, read back absent.
 */
export const appcenterDeleteAudiences: TaskProcessor<AppCenterClient> = async (input, deps) => {
  const client = requireClient(deps, 'appcenter');
  const app = resourceValue(input.resource, 'app');
  if (subjectNeedles(input.subject).length === 0)
    return {
      outcome: 'skipped',
      evidence: { action: ACTION, app, reason: 'no e-mail, user id, install id or phone to look for' },
    };

  const batch = await awaitAppCenterBatch(input, {
    kind: APPCENTER_JOBS.sweepAudiences,
    batching: client.settings.sweep,
    waitingReason: 'waiting for the shared App Center audience sweep',
  });
  if (batch.state === 'waiting') return batch.result;
  const r = batch.result;
  if (r.appGone === true)
    return { outcome: 'not_found', evidence: { ...goneEvidence(ACTION, app, r), batchId: batch.batchId } };
  const deleted = typeof r.audiencesDeleted === 'number' ? r.audiencesDeleted : 0;
  return {
    outcome: deleted > 0 ? 'succeeded' : 'not_found',
    evidence: {
      action: ACTION,
      app,
      audiencesDeleted: deleted,
      audienceIds: r.audienceIds ?? [],
      batchId: batch.batchId,
      verification: r.verification,
      verifiedAt: new Date().toISOString(),
    },
  };
};
