import type { PinpointClient } from '../src/vendors/pinpoint-client.js';
import type { ResolvedPinpointSettings } from '../src/vendors/pinpoint-settings.js';
import { scopeGone, verifiedAbsent } from '../src/receipts/verification.js';
import type { Subject } from '../src/privacy/subject.js';
import { normaliseAddress } from '../src/vendors/pinpoint-export-scanner.js';
import type { EndpointReadBack } from '../src/vendors/pinpoint-client.js';
import { PermanentVendorError, TransientVendorError } from '../src/vendors/vendor-errors.js';
import { EXPORT_SEGMENT } from './export-segment.js';
import {
  requireClient,
  resourceValue,
  windowBatchPollMs,
  type TaskInput,
  type TaskProcessor,
  type TaskResult,
} from '../src/connectors/processor-contract.js';

/** What a run leaves in the task's evidence for the next (vendor ids and counts only). */
interface FindState {
  deletedIds?: string[];
  alreadyGoneIds?: string[];
  changedIds?: string[];
  /**
   * Written ahead of each DeleteEndpoint and cleared after (Invariant 11): a run cut off between the
   * two leaves it, and the next run, finding that endpoint gone, counts it deleted, not already gone.
   */
  deletingId?: string | null;
}

/**
 * `find-endpoint`: Pinpoint by e-mail or phone, for one app.
 *
 * Find: the task joins the app's shared `export-segment` batch (one export and one scan for every
 * request in the window, Invariant 7) and waits, as a delayed job, until the batch hands it the
 * endpoint ids whose Address (or User.UserId) is exactly this person's.
 *
 * Delete (the "delete-endpoint" step, one DeleteEndpoint per endpoint id): done here, one id at a
 * time, rather than as one child job per id. Why: a person has a handful of endpoints; the
 * DeleteEndpoint quota (5/s) is enforced by construction by the Pinpoint client's rate gate,
 * one budget in Redis that every job of every worker process shares; and the task checkpoints after every endpoint,
 * so a crash resumes with the next id. Child jobs would add a flow level per request, a
 * failure policy per child and Redis keys per endpoint, for the same at-least-once guarantee.
 * Each endpoint is read back before its deletion (GetEndpoint, paced at its own quota) so an
 * endpoint that changed hands since the export (a new Address, another user) is left alone
 * (Invariant 2); a 404 at either step means it is already gone, which is success.
 *
 * Verify: every deleted id is read back again and must be gone; otherwise its deletion is undone
 * from the checkpoint and the task is retried (reopened).
 */
export const findEndpoint: TaskProcessor<PinpointClient> = async (input, deps) => {
  const pinpoint = requireClient(deps, 'pinpoint');
  const settings = pinpoint.settings;
  const appId = resourceValue(input.resource, 'app');
  const { subject } = input;
  if (!subject.email && !subject.phone)
    return { outcome: 'skipped', evidence: { reason: 'no e-mail or phone for this person' } };
  if (!settings.addressScan)
    throw new PermanentVendorError(
      { vendor: 'pinpoint', operation: 'find-endpoint', code: 'NotConfigured' },
      'has no addressScan settings',
    );

  const scan = await awaitExportScan(input, settings, appId);
  if ('result' in scan) return scan.result;
  const { batchId, endpointIds } = scan;

  const run = endpointRun(pinpoint, appId, input);
  const { deleted, alreadyGone, changed } = run;
  await deleteMatching(run, endpointIds);
  await readBack(run);

  const evidence = {
    appId,
    batchId,
    endpointsFound: endpointIds.length,
    endpointsDeleted: deleted.size,
    endpointIds: [...deleted],
    alreadyGone: alreadyGone.size,
    changedSinceExport: changed.size,
    // The export ran in this app in this run (so it exists), and every deletion was read back.
    ...verifiedAbsent(),
  };
  return { outcome: deleted.size + alreadyGone.size > 0 ? 'succeeded' : 'not_found', evidence };
};

/** Joins the app's shared export scan: the endpoint ids it found for this person, or what this run answers now. */
async function awaitExportScan(
  input: TaskInput,
  settings: ResolvedPinpointSettings,
  appId: string,
): Promise<{ batchId: string; endpointIds: string[] } | { result: TaskResult }> {
  // The batch's answer stays in the ledger: a re-run (crash, retry) asks again and gets the same ids.
  const outcome = await input.awaitBatch({
    kind: EXPORT_SEGMENT,
    scope: `app/${appId}`,
    windowMs: settings.batchWindowMs,
    maxMembers: settings.batchMaxSubjects,
  });
  if (outcome.state === 'waiting') {
    return {
      result: {
        outcome: 'waiting_vendor',
        evidence: { appId, batchId: outcome.batchId },
        pollAfterMs: windowBatchPollMs(outcome.closesAt),
        reason: `waiting for the shared export scan of app ${appId}`,
      },
    };
  }
  if (outcome.state === 'failed')
    throw new PermanentVendorError(
      { vendor: 'pinpoint', operation: EXPORT_SEGMENT, code: 'BatchFailed' },
      'shared export scan failed',
    );
  const batchId = outcome.batchId;
  if (outcome.result.appGone) {
    // Pinpoint is past its end of support, or the app seen before is gone (the batch looked the app up before trusting the answer).
    return {
      result: {
        outcome: 'not_found',
        evidence: {
          appId,
          batchId,
          appGone: true,
          vendorAnswer: outcome.result.vendorAnswer,
          endOfSupportAt: outcome.result.endOfSupportAt,
          ...(outcome.result.lastSeenAt ? { lastSeenAt: outcome.result.lastSeenAt } : {}),
          endpointsFound: 0,
          endpointsDeleted: 0,
          ...scopeGone(),
        },
      },
    };
  }
  const endpointIds = Array.isArray(outcome.result.endpointIds) ? (outcome.result.endpointIds as string[]) : [];
  return { batchId, endpointIds };
}

/** One run over the endpoints: the progress of earlier runs (checkpointed after every endpoint) and how to record it. */
function endpointRun(pinpoint: PinpointClient, appId: string, input: TaskInput) {
  const state = input.previous as FindState;
  const deleted = new Set(state.deletedIds ?? []);
  const alreadyGone = new Set(state.alreadyGoneIds ?? []);
  const changed = new Set(state.changedIds ?? []);
  const interrupted = state.deletingId ?? undefined;
  const progress = () => ({
    deletedIds: [...deleted],
    alreadyGoneIds: [...alreadyGone],
    changedIds: [...changed],
    endpointsDeleted: deleted.size,
    deletingId: null,
  });
  return { pinpoint, appId, input, deleted, alreadyGone, changed, interrupted, progress };
}

type EndpointRun = ReturnType<typeof endpointRun>;

/** Reads each endpoint back and deletes those still this person's, one at a time, checkpointing each. */
async function deleteMatching(run: EndpointRun, endpointIds: string[]): Promise<void> {
  const { pinpoint, appId, input, deleted, alreadyGone, changed, interrupted, progress } = run;
  for (const endpointId of endpointIds) {
    if (deleted.has(endpointId) || alreadyGone.has(endpointId) || changed.has(endpointId)) continue;
    const current = await pinpoint.getEndpoint({ appId, endpointId, signal: input.signal });
    // Gone, and an earlier run was deleting it when it stopped: that run's deletion went through.
    if (!current) (endpointId === interrupted ? deleted : alreadyGone).add(endpointId);
    else if (!belongsTo(current, input.subject)) changed.add(endpointId);
    else {
      await input.checkpoint({ ...progress(), deletingId: endpointId });
      if ((await pinpoint.deleteEndpoint({ appId, endpointId, signal: input.signal })) === 'deleted')
        deleted.add(endpointId);
      else alreadyGone.add(endpointId);
    }
    await input.checkpoint(progress());
  }
}

/** Read back: each endpoint deleted must now be unknown to Pinpoint. */
async function readBack(run: EndpointRun): Promise<void> {
  const { pinpoint, appId, input, deleted, progress } = run;
  const survivors: string[] = [];
  for (const endpointId of deleted) {
    const back = await pinpoint.getEndpoint({ appId, endpointId, signal: input.signal });
    if (back && belongsTo(back, input.subject)) survivors.push(endpointId);
  }
  if (survivors.length) {
    for (const id of survivors) deleted.delete(id);
    await input.checkpoint(progress());
    throw new TransientVendorError(
      { vendor: 'pinpoint', operation: 'GetEndpoint', code: 'StillPresent' },
      `still returns ${survivors.length} endpoint(s) after deletion`,
    );
  }
}

/** Whether an endpoint still names this person, by the same exact rules as the scan. */
function belongsTo(endpoint: EndpointReadBack, subject: Subject): boolean {
  if (endpoint.address !== undefined) {
    const address = normaliseAddress(endpoint.address);
    if (address === subject.email || address === subject.phone) return true;
  }
  return endpoint.userId !== undefined && endpoint.userId === subject.userId;
}
