import {
  normaliseEmail,
  normaliseInstallId,
  normalisePhone,
  normaliseUserId,
  type Subject,
} from '../src/privacy/subject.js';
import type { AppCenterClient } from '../src/vendors/appcenter-client.js';
import type { AppCenterCustomProperties, AppCenterSettings } from '../src/vendors/appcenter-settings.js';
import type { BatchMemberInput } from '../src/connectors/processor-contract.js';

// Reading App Center's device export for `appcenter-export-devices` (jobs/appcenter-export-devices.ts):
// the members' identifiers indexed, and each row matched by exact lookup after normalisation.

type CustomKind = keyof AppCenterCustomProperties;
const CUSTOM_KINDS: readonly CustomKind[] = ['email', 'userId', 'phone'];
const NORMALISE: Record<CustomKind, (raw: string) => string> = {
  email: normaliseEmail,
  userId: normaliseUserId,
  phone: normalisePhone,
};

/** The identifier kinds of this person that configured custom properties can find devices by. */
export function customPropertyKinds(
  subject: Subject,
  settings: Pick<AppCenterSettings, 'customProperties' | 'exportContainerSasUri'>,
): CustomKind[] {
  if (!settings.exportContainerSasUri) return [];
  return CUSTOM_KINDS.filter((kind) => subject[kind] && (settings.customProperties[kind]?.length ?? 0) > 0);
}

/** Custom property value of an export row, flat (`row.email`) or nested (`row.custom_properties.email`). */
function propertyValue(row: Record<string, unknown>, name: string): unknown {
  const nested = row.custom_properties;
  if (nested && typeof nested === 'object' && name in nested) return (nested as Record<string, unknown>)[name];
  return row[name];
}

function normalised(kind: CustomKind | 'installId', value: unknown): string | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  try {
    return kind === 'installId' ? normaliseInstallId(String(value)) : NORMALISE[kind](String(value));
  } catch {
    return undefined;
  }
}

/** Normalised identifier → the member tasks it belongs to, and each member's install ids to erase. */
export interface MemberIndex {
  index: Map<string, string[]>;
  targets: Map<string, Set<string>>;
}

/** Indexes the pending members' identifiers; rows are matched by exact lookup only. */
export function indexMembers(pending: BatchMemberInput[], settings: AppCenterSettings): MemberIndex {
  const index = new Map<string, string[]>();
  const add = (key: string, taskId: string) => index.set(key, [...(index.get(key) ?? []), taskId]);
  const targets = new Map<string, Set<string>>();
  for (const m of pending) {
    const installIds = new Set<string>();
    targets.set(m.taskId, installIds);
    if (m.subject.installId) {
      add(`installId\u0000${m.subject.installId}`, m.taskId);
      // Deleted even when the export missed it (a device registered after the export began).
      installIds.add(m.subject.installId);
    }
    for (const kind of customPropertyKinds(m.subject, settings)) add(`${kind}\u0000${m.subject[kind]}`, m.taskId);
  }
  return { index, targets };
}

/** Streams every blob of the export once, adding each matched row's install id to its members' targets. */
export async function scanExport(
  client: AppCenterClient,
  blobs: string[],
  members: MemberIndex & { signal?: AbortSignal },
) {
  const { index, targets } = members;
  const properties = client.settings.customProperties;
  const lookups = CUSTOM_KINDS.flatMap((kind) => (properties[kind] ?? []).map((name) => ({ kind, name })));
  const listed = new Set<string>();
  let rows = 0;
  let rowsWithoutIds = 0;
  for (const blob of blobs) {
    rows += await client.readExportRows(
      blob,
      (row) => {
        const installId = normalised('installId', installIdOf(row));
        if (!installId) {
          // A row the scanner cannot read could be the person's: the whole export is refused below.
          if (!lookups.some(({ name }) => propertyValue(row, name) !== undefined)) rowsWithoutIds += 1;
          return;
        }
        const hits = [...(index.get(`installId\u0000${installId}`) ?? [])];
        for (const { kind, name } of lookups) {
          const value = normalised(kind, propertyValue(row, name));
          if (value) hits.push(...(index.get(`${kind}\u0000${value}`) ?? []));
        }
        for (const taskId of hits) {
          // Every indexed task id is a pending member's, which has its target set.
          targets.get(taskId)?.add(installId);
          listed.add(installId);
        }
      },
      members.signal,
    );
  }
  return { rows, rowsWithoutIds, listed };
}

/**
 * The install id of an export row. The export's field names are not in App Center's docs
 * (docs/vendors/appcenter.md): `install_id` as the API's other answers spell it, or `installId` as
 * the SDKs do. Anything else is an unexpected format.
 */
function installIdOf(row: Record<string, unknown>): unknown {
  return row.install_id ?? row.installId;
}
