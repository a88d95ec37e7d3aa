import { confirmGoneApp } from './appcenter-batch-member.js';
import type { ScopeSightings } from '../src/ledger/scope-sightings.js';
import type { Subject } from '../src/privacy/subject.js';
import { isGone, type AppCenterClient } from '../src/vendors/appcenter-client.js';
import { TransientVendorError } from '../src/vendors/vendor-errors.js';
import {
  requireClient,
  resourceValue,
  type BatchInput,
  type BatchMemberInput,
  type BatchProcessor,
  type BatchResult,
  type MemberResult,
} from '../src/connectors/processor-contract.js';
import { indexMembers, scanExport } from './appcenter-export-rows.js';

export { customPropertyKinds } from './appcenter-export-rows.js';

/** What erasing one member's devices came to. Counts only: install ids identify a person and stay in memory. */
export interface DeviceErasure {
  /** Devices aimed at: the person's install id and every device the export matched. */
  devicesMatched: number;
  /**
   * Devices now gone that were there: a 200 to the delete, or a 404 for a device the export listed
   * (erased since the export began: by this batch, a duplicate run of it, or the app itself).
   * Counting it so keeps a re-run's evidence the same as the first run's.
   */
  devicesDeleted: number;
  /** Push_DeleteInstallId answered 404 for an install id the export did not list: it was never there, or long gone. */
  devicesAlreadyGone: number;
  logsBlocked: number;
  /**
   * An earlier run was erasing these devices when it was cut off (its intent was left) and some now
   * answer 404: that run may have deleted them, which cannot be told any more. `devicesDeleted` is
   * then a lower bound, and the outcome is never `not_found` (Invariant 11).
   */
  earlierAttempt?: 'removed_in_earlier_attempt';
}

/** Marks an erasure whose 404s may be an interrupted earlier run's own deletions. */
export function afterInterruptedRun(result: DeviceErasure): DeviceErasure {
  return result.devicesAlreadyGone > 0 ? { ...result, earlierAttempt: 'removed_in_earlier_attempt' } : result;
}

/**
 * Blocks logs (when configured) and deletes each device. Idempotent: a device already gone (404)
 * is counted, not an error; `listed` holds the install ids the export listed, `erasedEarlier` the
 * ids this batch already erased for another member.
 */
export async function eraseInstallIds(
  client: AppCenterClient,
  app: string,
  installIds: Iterable<string>,
  options: { signal?: AbortSignal; listed?: Set<string>; erasedEarlier?: Set<string> } = {},
): Promise<DeviceErasure> {
  const result: DeviceErasure = { devicesMatched: 0, devicesDeleted: 0, devicesAlreadyGone: 0, logsBlocked: 0 };
  for (const installId of installIds) {
    result.devicesMatched += 1;
    if (options.erasedEarlier?.has(installId)) {
      result.devicesDeleted += 1;
      if (client.settings.blockLogs) result.logsBlocked += 1;
      continue;
    }
    // Logs first: the block is irreversible and outlives the device record, so a crash in between loses nothing.
    if (client.settings.blockLogs && (await client.blockLogs(app, installId, options.signal)) === 'blocked')
      result.logsBlocked += 1;
    const answer = await client.deleteInstallId(app, installId, options.signal);
    if (answer === 'deleted' || options.listed?.has(installId)) {
      result.devicesDeleted += 1;
      options.erasedEarlier?.add(installId);
    } else result.devicesAlreadyGone += 1;
  }
  return result;
}

interface BatchProgress {
  exportId?: string | null;
  exportsFailed?: number;
  /** Per member task id: what was done for it (counts only). */
  progress?: Record<string, DeviceErasure>;
  exportRows?: number;
  /** Members whose devices are being erased now: written before, cleared with their progress after. */
  erasing?: string[] | null;
}

const CHECKPOINT_EVERY = 10;

/**
 * One Push_ExportDevices per app and window for every member (Invariant 7): start the export,
 * poll its status (the job waits as a delayed job meanwhile), stream the NDJSON blob(s) once,
 * match each row's install id and configured custom properties exactly after normalisation
 * against every member, erase each member's devices (Devices_BlockLogs when configured,
 * Push_DeleteInstallId), then delete the export's blobs. Member results hold counts only.
 *
 * Safe to re-run: the export id and each finished member are checkpointed; a re-run reads the
 * same export again and skips members already done. An export that ends Failed is started again;
 * one that completed with no blob under `<export id>/`, or with rows that carry none of the id fields
 * the scanner matches on, fails every member as "unexpected export format" (fail closed).
 */
export const appcenterExportDevices: BatchProcessor<AppCenterClient> = async (input, deps) => {
  const client = requireClient(deps, 'appcenter');
  const app = resourceValue(input.scope, 'app');
  const previous = input.previous as BatchProgress;
  const progress: Record<string, DeviceErasure> = { ...(previous.progress ?? {}) };
  const pending = input.members.filter((m) => !Object.hasOwn(progress, m.taskId));
  const finish = (evidence: Record<string, unknown>) => ({
    outcome: 'done' as const,
    evidence: { app, members: input.members.length, ...evidence },
    members: new Map<string, MemberResult>(
      input.members.map((m) => [
        m.taskId,
        {
          state: 'done',
          result: { ...progress[m.taskId], ...(evidence.exportId ? { exportId: evidence.exportId } : {}) },
        },
      ]),
    ),
  });
  if (pending.length === 0)
    return finish({ exportId: previous.exportId ?? undefined, exportRows: previous.exportRows });

  const ready = await completedExport(client, app, input, deps.scopeSightings);
  if ('result' in ready) return ready.result;
  const { exportId } = ready;

  const blobs = await client.exportBlobNames(exportId, input.signal);
  if (blobs.length === 0) {
    // Completed, yet nothing under `<export id>/`: the blob is not where the format says (fail closed,
    // never "no match"). Members fail with the reason; the batch spends no retries on it.
    await input.checkpoint({ exportId: null });
    return unexpectedFormat(
      input.members,
      app,
      exportId,
      `the completed export wrote no blob under ${EXPORT_BLOB_PREFIX_HINT}`,
    );
  }

  const { index, targets } = indexMembers(pending, client.settings);
  const { rows, rowsWithoutIds, listed } = await scanExport(client, blobs, { index, targets, signal: input.signal });

  if (rowsWithoutIds > 0) {
    for (const blob of blobs) await client.deleteExportBlob(blob, input.signal);
    await input.checkpoint({ exportId: null });
    return unexpectedFormat(
      input.members,
      app,
      exportId,
      `${rowsWithoutIds} of ${rows} export rows have none of the expected id fields (${EXPECTED_ID_FIELDS})`,
    );
  }

  await eraseMembers(client, app, input, {
    pending,
    targets,
    listed,
    progress,
    rows,
    interrupted: new Set(previous.erasing ?? []),
  });

  let exportBlobsDeleted = 0;
  for (const blob of blobs) if (await client.deleteExportBlob(blob, input.signal)) exportBlobsDeleted += 1;
  const totals = Object.values(progress).reduce(
    (sum, p) => ({ matched: sum.matched + p.devicesMatched, deleted: sum.deleted + p.devicesDeleted }),
    { matched: 0, deleted: 0 },
  );
  return finish({
    exportId,
    exportRows: rows,
    devicesMatched: totals.matched,
    devicesDeleted: totals.deleted,
    exportBlobsDeleted,
  });
};

/**
 * Starts the export once (its id checkpointed) and reads its status: the export id once it is
 * Completed, else what this run answers now (waiting, or the app gone). A Failed export is
 * forgotten and the run fails, so a retry starts a new one.
 */
async function completedExport(
  client: AppCenterClient,
  app: string,
  input: BatchInput,
  sightings?: ScopeSightings,
): Promise<{ exportId: string } | { result: BatchResult }> {
  const previous = input.previous as BatchProgress;
  let exportId = previous.exportId ?? undefined;
  if (!exportId) {
    const started = await client.startDeviceExport(app, input.signal);
    if (isGone(started))
      return { result: await appGone(input.members, started.status, client, app, input.signal, sightings) };
    exportId = started.exportId;
    await input.checkpoint({ exportId, exportStartedAt: new Date().toISOString() });
  }
  const status = await client.deviceExportStatus(app, exportId, input.signal);
  if (isGone(status))
    return { result: await appGone(input.members, status.status, client, app, input.signal, sightings) };
  if (status === 'InProgress') {
    return {
      result: {
        outcome: 'waiting_vendor',
        evidence: { app, exportId },
        pollAfterMs: client.settings.deviceExport.pollMs,
        reason: 'App Center device export in progress',
      },
    };
  }
  if (status === 'Failed') {
    await input.checkpoint({ exportId: null, exportsFailed: (previous.exportsFailed ?? 0) + 1 });
    throw new TransientVendorError(
      { vendor: 'appcenter', operation: 'Push_ExportDevices', code: 'ExportFailed' },
      'ended Failed; a new export will be started',
    );
  }
  return { exportId };
}

interface ErasePlan {
  pending: BatchMemberInput[];
  targets: Map<string, Set<string>>;
  listed: Set<string>;
  progress: Record<string, DeviceErasure>;
  rows: number;
  /** Members a run cut off while erasing them. */
  interrupted: Set<string>;
}

/** Erases the pending members' devices, recording each member's progress into `plan.progress`. */
async function eraseMembers(client: AppCenterClient, app: string, input: BatchInput, plan: ErasePlan): Promise<void> {
  const { pending, targets, listed, progress, rows, interrupted } = plan;
  const erased = new Set<string>();
  try {
    // Written ahead, a few members at a time (Invariant 11): the members about to be erased, then their progress.
    for (let from = 0; from < pending.length; from += CHECKPOINT_EVERY) {
      const chunk = pending.slice(from, from + CHECKPOINT_EVERY);
      await input.checkpoint({ erasing: chunk.map((m) => m.taskId) });
      for (const m of chunk) {
        const result = await eraseInstallIds(client, app, targets.get(m.taskId) ?? new Set<string>(), {
          signal: input.signal,
          listed,
          erasedEarlier: erased,
        });
        progress[m.taskId] = interrupted.has(m.taskId) ? afterInterruptedRun(result) : result;
      }
      await input.checkpoint({ progress, exportRows: rows, erasing: null });
    }
  } catch (err) {
    // Members finished are recorded; the chunk's intent stays for those that are not.
    await input.checkpoint({ progress, exportRows: rows });
    throw err;
  }
}

const EXPECTED_ID_FIELDS = 'install_id or installId, or a configured custom property';
const EXPORT_BLOB_PREFIX_HINT = '<export id>/';

/**
 * The export is not in a format the scanner knows (fail closed, Invariant 8): every member fails
 * with "unexpected export format" and the reason, never "no match". No identifier is in the reason.
 */
function unexpectedFormat(members: Array<{ taskId: string }>, app: string, exportId: string, why: string) {
  const reason = `unexpected export format: ${why}`;
  const results = new Map<string, MemberResult>(
    members.map((m) => [m.taskId, { state: 'failed', result: { reason, code: 'UnexpectedExportFormat', exportId } }]),
  );
  return {
    outcome: 'done' as const,
    evidence: { app, members: members.length, exportId, unexpectedFormat: why },
    members: results,
  };
}

/**
 * Push answered 404/410 for the app (App Center or Push retired, or the app deleted): every member
 * is done with "not found" evidence. Analytics can outlive Push, so logs are still blocked by the
 * install ids people gave when that is configured.
 */
async function appGone(
  members: Array<{ taskId: string; subject: Subject }>,
  status: number,
  client: AppCenterClient,
  app: string,
  signal?: AbortSignal,
  sightings?: ScopeSightings,
) {
  const gone = await confirmGoneApp(client, app, status, { push: true, signal, sightings });
  const results = new Map<string, MemberResult>();
  for (const m of members) {
    let logsBlocked = 0;
    if (
      client.settings.blockLogs &&
      m.subject.installId &&
      (await client.blockLogs(app, m.subject.installId, signal)) === 'blocked'
    )
      logsBlocked = 1;
    results.set(m.taskId, {
      state: 'done',
      result: { ...gone, devicesMatched: 0, devicesDeleted: 0, devicesAlreadyGone: 0, logsBlocked },
    });
  }
  return { outcome: 'done' as const, evidence: { app, members: members.length, ...gone }, members: results };
}
