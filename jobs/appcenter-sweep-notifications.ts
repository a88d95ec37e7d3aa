import { confirmGoneApp } from './appcenter-batch-member.js';
import { equalsIdentifier, namesAny, subjectNeedles, type Needle } from '../src/privacy/token-match.js';
import {
  isGone,
  type AppCenterClient,
  type AppCenterNotificationContent,
  type AppCenterNotificationOverview,
} from '../src/vendors/appcenter-client.js';
import { TransientVendorError } from '../src/vendors/vendor-errors.js';
import {
  requireClient,
  resourceValue,
  type BatchInput,
  type BatchProcessor,
  type MemberResult,
} from '../src/connectors/processor-contract.js';

/** Ids per Push_Delete call. */
export const PUSH_DELETE_CHUNK = 100;
/** Listings tried before giving up on a list that keeps changing while it is paged. */
const LIST_TRIES = 3;

interface NotificationProgress {
  /** Notification ids whose content was read (so a re-run after a 429 does not read them again). */
  examined?: string[];
  /** Per member task id: ids of the notifications that name the member. */
  matches?: Record<string, string[]>;
  /** Ids already deleted. */
  deleted?: string[];
}

const list = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

/** Whether a notification's overview names the person: its name (whole tokens) or its target lists (exact). */
function overviewNames(n: AppCenterNotificationOverview, needles: Needle[]): boolean {
  if (namesAny([n.name], needles)) return true;
  const target = n.notification_target ?? {};
  return needles.some((needle) => {
    if (needle.kind === 'userId')
      return [...list(target.user_ids), ...list(target.account_ids)].some((v) => equalsIdentifier(v, needle));
    if (needle.kind === 'installId') return list(target.devices).some((v) => equalsIdentifier(v, needle));
    if (needle.kind === 'email') return list(target.account_ids).some((v) => equalsIdentifier(v, needle));
    return false;
  });
}

function contentTexts(content: AppCenterNotificationContent): string[] {
  const texts = [content.name, content.title, content.body].filter((t): t is string => typeof t === 'string');
  for (const [key, value] of Object.entries(content.custom_data ?? {})) {
    texts.push(key);
    if (typeof value === 'string' || typeof value === 'number') texts.push(String(value));
  }
  return texts;
}

async function listConsistently(client: AppCenterClient, app: string, signal?: AbortSignal) {
  for (let attempt = 1; ; attempt++) {
    const listing = await client.listNotifications(app, signal);
    if (isGone(listing) || listing.consistent) return listing;
    if (attempt >= LIST_TRIES) {
      throw new TransientVendorError(
        { vendor: 'appcenter', operation: 'Push_List', code: 'ListChanged' },
        `changed while it was paged, ${LIST_TRIES} times`,
      );
    }
  }
}

/**
 * One reading of an app's push notifications per window serves every member (Invariant 7): list
 * them all (archived too, following `nextLink`), read each one's content (Push_Get, a few in
 * flight, paced by the client), and find those naming a member: the person's user id or install id
 * among the targets, or an identifier as a whole token in the name, title, body or custom data.
 * The matches are deleted with Push_Delete `{"values": [...]}` in chunks, then a fresh listing
 * checks they are gone. Notification ids are App Center's own UUIDs, not personal data.
 */
const sweepNotifications: BatchProcessor<AppCenterClient> = async (input, deps) => {
  const client = requireClient(deps, 'appcenter');
  const app = resourceValue(input.scope, 'app');
  const needles = input.members.map((m) => ({ taskId: m.taskId, needles: subjectNeedles(m.subject) }));
  const sweep: Sweep = { client, app, needles, signal: input.signal, ...sweepProgress(input) };
  const allGone = async (status: number) =>
    gone(
      input.members.map((m) => m.taskId),
      app,
      await confirmGoneApp(client, app, status, { push: true, signal: input.signal, sightings: deps.scopeSightings }),
    );

  let listed: number;
  try {
    const listing = await listConsistently(client, app, input.signal);
    if (isGone(listing)) return await allGone(listing.status);
    listed = listing.items.length;
    await readContents(sweep, matchOverviews(sweep, listing.items));
    const goneStatus = await deleteMatches(sweep);
    if (goneStatus !== undefined) return await allGone(goneStatus);
  } catch (err) {
    await sweep.save();
    throw err;
  }

  const after = await readBack(sweep);
  const members = new Map<string, MemberResult>();
  for (const [taskId, ids] of sweep.matches) {
    const sorted = [...ids].sort();
    members.set(taskId, {
      state: 'done',
      result: {
        notificationsDeleted: sorted.length,
        notificationIds: sorted,
        ...(isGone(after)
          ? { verification: 'scope_gone', vendorAnswer: `listed in this sweep, then answered ${after.status}` }
          : { verification: 'verified_absent' }),
      },
    });
  }
  return {
    outcome: 'done',
    evidence: {
      app,
      members: input.members.length,
      notificationsListed: listed,
      notificationsRead: sweep.examined.size,
      notificationsDeleted: sweep.deleted.size,
    },
    members,
  };
};

/** One sweep's run: what it searches for, and what it has found and done so far (saved with `save`). */
interface Sweep {
  client: AppCenterClient;
  app: string;
  needles: Array<{ taskId: string; needles: Needle[] }>;
  signal?: AbortSignal;
  examined: Set<string>;
  matches: Map<string, Set<string>>;
  deleted: Set<string>;
  matchesOf(taskId: string): Set<string>;
  save(): Promise<void>;
}

/** The progress earlier runs saved (NotificationProgress), and how to save it again. */
function sweepProgress(input: BatchInput): Pick<Sweep, 'examined' | 'matches' | 'deleted' | 'matchesOf' | 'save'> {
  const previous = input.previous as NotificationProgress;
  const examined = new Set(previous.examined ?? []);
  const matches = new Map<string, Set<string>>(
    input.members.map((m) => [m.taskId, new Set(previous.matches?.[m.taskId] ?? [])]),
  );
  const deleted = new Set(previous.deleted ?? []);
  const matchesOf = (taskId: string): Set<string> => {
    const found = matches.get(taskId) ?? new Set<string>();
    matches.set(taskId, found);
    return found;
  };
  const save = () =>
    input.checkpoint({
      examined: [...examined],
      matches: Object.fromEntries([...matches].map(([k, v]) => [k, [...v]])),
      deleted: [...deleted],
    });
  return { examined, matches, deleted, matchesOf, save };
}

/** Matches the listing's overviews; returns the notifications whose content is still to be read. */
function matchOverviews(sweep: Sweep, items: AppCenterNotificationOverview[]): AppCenterNotificationOverview[] {
  const toRead: AppCenterNotificationOverview[] = [];
  for (const n of items) {
    const id = n.notification_id;
    for (const m of sweep.needles) if (overviewNames(n, m.needles)) sweep.matchesOf(m.taskId).add(id);
    if (!sweep.examined.has(id)) toRead.push(n);
  }
  return toRead;
}

/** Reads each notification's content (Push_Get, `readConcurrency` in flight) and matches it. */
async function readContents(sweep: Sweep, toRead: AppCenterNotificationOverview[]): Promise<void> {
  const { client, app } = sweep;
  let next = 0;
  const reader = async () => {
    while (next < toRead.length) {
      const id = toRead[next++].notification_id;
      const content = await client.getNotificationContent(app, id, sweep.signal);
      if (content !== 'absent') {
        const texts = contentTexts(content);
        for (const m of sweep.needles) if (namesAny(texts, m.needles)) sweep.matchesOf(m.taskId).add(id);
      }
      sweep.examined.add(id);
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(client.settings.readConcurrency, Math.max(1, toRead.length)) }, reader),
  );
}

/** Deletes the matches not yet deleted, in chunks; the app's 404/410 status when it answered gone. */
async function deleteMatches(sweep: Sweep): Promise<number | undefined> {
  const doomed = [...new Set([...sweep.matches.values()].flatMap((ids) => [...ids]))].filter(
    (id) => !sweep.deleted.has(id),
  );
  // Matches recorded before the deletes: a run that dies midway, or a duplicate run, keeps them.
  if (doomed.length > 0) await sweep.save();
  for (let i = 0; i < doomed.length; i += PUSH_DELETE_CHUNK) {
    const chunk = doomed.slice(i, i + PUSH_DELETE_CHUNK);
    const answer = await sweep.client.deleteNotifications(sweep.app, chunk, sweep.signal);
    if (isGone(answer)) return answer.status;
    for (const id of chunk) sweep.deleted.add(id);
  }
  return undefined;
}

/** A fresh listing: none of the deleted notifications may still be listed. */
async function readBack(sweep: Sweep) {
  const after = await sweep.client.listNotifications(sweep.app, sweep.signal);
  if (!isGone(after)) {
    const left = after.items.filter((n) => sweep.deleted.has(n.notification_id)).length;
    if (left > 0) {
      await sweep.save();
      throw new TransientVendorError(
        { vendor: 'appcenter', operation: 'Push_List', code: 'StillListed' },
        `still lists ${left} deleted notification(s)`,
      );
    }
  }
  return after;
}

/** One sweep of an app at a time: each reads every notification, out of one call budget. */
export const appcenterSweepNotifications: BatchProcessor<AppCenterClient> = Object.assign(sweepNotifications, {
  oneRunPerScope: true,
});

/** Every member done with the confirmed "App Center retired" answer (confirmGoneApp, jobs/appcenter-batch-member.ts). */
function gone(taskIds: string[], app: string, answer: Record<string, unknown>) {
  return {
    outcome: 'done' as const,
    evidence: { app, members: taskIds.length, ...answer },
    members: new Map<string, MemberResult>(taskIds.map((id) => [id, { state: 'done', result: answer }])),
  };
}
