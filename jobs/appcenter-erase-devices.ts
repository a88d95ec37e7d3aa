import type { AppCenterClient } from '../src/vendors/appcenter-client.js';
import { unverifiable, vendorConfirmed, verifiedAbsent } from '../src/receipts/verification.js';
import { APPCENTER_JOBS } from '../queues/appcenter-queue.js';
import { awaitAppCenterBatch, goneEvidence } from './appcenter-batch-member.js';
import {
  afterInterruptedRun,
  customPropertyKinds,
  eraseInstallIds,
  type DeviceErasure,
} from './appcenter-export-devices.js';
import { requireClient, resourceValue, type TaskProcessor } from '../src/connectors/processor-contract.js';

const ACTION = 'delete-devices';

/**
 * A person's App Center push devices in one app. With an identifier that configured custom
 * properties can find (e-mail, user id, phone), the task joins the app's shared device export
 * (`appcenter-export-devices`), which matches and erases for every request of its window; with an
 * install id only, it deletes that device itself (Devices_BlockLogs first when configured).
 * Evidence holds counts, never an install id. Safe to run twice: a device already gone is counted
 * as such, and a re-run keeps what an earlier run deleted.
 */
export const appcenterEraseDevices: TaskProcessor<AppCenterClient> = async (input, deps) => {
  const client = requireClient(deps, 'appcenter');
  const app = resourceValue(input.resource, 'app');
  const byExport = customPropertyKinds(input.subject, client.settings).length > 0;

  if (!byExport) {
    const installId = input.subject.installId;
    if (!installId)
      return {
        outcome: 'skipped',
        evidence: {
          action: ACTION,
          app,
          reason: 'no install id, and no custom property configured for the identifiers given',
        },
      };
    // Recorded before the delete, so a re-run that finds the device gone shows an earlier run sent it.
    const sentBefore = typeof input.previous.deleteSentAt === 'string';
    await input.checkpoint({
      action: ACTION,
      app,
      deleteSentAt: input.previous.deleteSentAt ?? new Date().toISOString(),
    });
    // Push_DeleteInstallId answers 404 too when Push or App Center is retired: not found either way,
    // unless an earlier run sent the delete (its answer lost): then it may have removed the device.
    const result = await eraseInstallIds(client, app, [installId], { signal: input.signal });
    return finish(app, sentBefore ? afterInterruptedRun(result) : result, { matchedBy: 'install id' }, false);
  }

  const batch = await awaitAppCenterBatch(input, {
    kind: APPCENTER_JOBS.exportDevices,
    batching: client.settings.deviceExport,
    waitingReason: 'waiting for the shared App Center device export',
  });
  if (batch.state === 'waiting') return batch.result;
  const result = batch.result;
  if (result.appGone === true)
    return {
      outcome: 'not_found',
      evidence: { ...goneEvidence(ACTION, app, result), logsBlocked: result.logsBlocked ?? 0, batchId: batch.batchId },
    };
  return finish(
    app,
    result as unknown as DeviceErasure,
    { matchedBy: 'device export', exportId: result.exportId, batchId: batch.batchId },
    true,
  );
};

/**
 * The verification (src/receipts/verification.ts): App Center has no read for a single push
 * device, so a device it deleted is `vendor_confirmed`. A device export of the app (a read of
 * every device, in an app that answered it) that matched nothing is `verified_absent`. An install
 * id answering 404 with no export proves nothing: Push answers 404 once it is retired, too.
 */
function finish(app: string, r: DeviceErasure, extra: Record<string, unknown>, exported: boolean) {
  const verification =
    r.devicesDeleted > 0 || r.devicesMatched > 0
      ? vendorConfirmed()
      : exported
        ? verifiedAbsent()
        : unverifiable('no_lookup');
  const evidence = {
    action: ACTION,
    app,
    devicesMatched: r.devicesMatched,
    devicesDeleted: r.devicesDeleted,
    devicesAlreadyGone: r.devicesAlreadyGone,
    logsBlocked: r.logsBlocked,
    ...(r.earlierAttempt ? { earlierAttempt: r.earlierAttempt } : {}),
    ...extra,
    ...verification,
    verifiedAt: new Date().toISOString(),
  };
  return {
    outcome: r.devicesDeleted > 0 || r.earlierAttempt ? ('succeeded' as const) : ('not_found' as const),
    evidence,
  };
}
