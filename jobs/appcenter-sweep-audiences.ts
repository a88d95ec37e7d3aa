import type { AppCenterAudience, AppCenterClient } from '../src/vendors/appcenter-client.js';
import type { ScopeSightings } from '../src/ledger/scope-sightings.js';
import { confirmGoneApp } from './appcenter-batch-member.js';
import { namesAny, redactIdentifiers, subjectNeedles, type Needle } from '../src/privacy/token-match.js';
import { isGone } from '../src/vendors/appcenter-client.js';
import { TransientVendorError } from '../src/vendors/vendor-errors.js';
import {
  requireClient,
  resourceValue,
  type BatchMemberInput,
  type BatchProcessor,
  type MemberResult,
} from '../src/connectors/processor-contract.js';

/** Listings per batch run: delete what matched, then list again until a listing finds nothing. */
const MAX_PASSES = 3;

interface AudienceProgress {
  /**
   * Redacted names of the audiences deleted for the member (an audience's name is its id, and may
   * name the person). A matching audience listed and then answered 404 counts too: it is gone since
   * (deleted by a duplicate run of this batch, or by someone else), so re-runs agree.
   */
  deleted: string[];
}

/**
 * One listing of an app's audiences per window serves every member (Invariant 7). An audience is
 * a member's when its name, description or definition holds one of the member's identifiers as a
 * whole token (`src/privacy/token-match.ts`); it is deleted once (204, or 404 when already gone)
 * and credited to every member it names. The listing is repeated until one finds nothing left,
 * which also catches audiences a listing skipped while other deletions shifted its pages.
 *
 * Member results hold the deleted audiences' names with every identifier of any member (and
 * anything shaped like an e-mail, UUID or phone number) redacted: `vip-user-42` → `vip-[redacted]`.
 */
const sweepAudiences: BatchProcessor<AppCenterClient> = async (input, deps) => {
  const client = requireClient(deps, 'appcenter');
  const app = resourceValue(input.scope, 'app');
  const needles = new Map<string, Needle[]>(input.members.map((m) => [m.taskId, subjectNeedles(m.subject)]));
  const everyNeedle = [...needles.values()].flat();
  const previous = (input.previous.progress ?? {}) as Partial<Record<string, AudienceProgress>>;
  const progress = new Map<string, Set<string>>(
    input.members.map((m) => [m.taskId, new Set(previous[m.taskId]?.deleted ?? [])]),
  );
  const save = () =>
    input.checkpoint({
      progress: Object.fromEntries(
        [...progress].map(([taskId, names]): [string, AudienceProgress] => [taskId, { deleted: [...names] }]),
      ),
    });

  let listed = 0;
  let passes = 0;
  let verified = false;
  try {
    // Ends early by `break` once a pass finds nothing left (verified).
    while (passes < MAX_PASSES) {
      passes += 1;
      const audiences = await client.listAudiences(app, input.signal);
      if (isGone(audiences)) {
        if (passes === 1)
          return gone(
            input.members.map((m) => m.taskId),
            app,
            await confirmGoneApp(client, app, audiences.status, {
              push: false,
              signal: input.signal,
              sightings: deps.scopeSightings,
            }),
          );
        break;
      }
      listed = audiences.length;
      if (passes === 1 && deps.scopeSightings) await appSeen(client, app, deps.scopeSightings);
      const hits = audienceHits(audiences, input.members, needles);
      if (hits.length === 0) {
        verified = true;
        break;
      }
      // Recorded before the deletes (Invariant 3): a run that dies midway, or a duplicate run, keeps them.
      for (const { audience, taskIds } of hits) {
        const name = redactIdentifiers(audience.name, [...everyNeedle, ...definitionLiterals(audience.definition)]);
        for (const taskId of taskIds) progress.get(taskId)?.add(name);
      }
      await save();
      // 204, or 404 when it went meanwhile: gone either way; the next listing checks.
      for (const { audience } of hits) await client.deleteAudience(app, audience.name, input.signal);
    }
  } catch (err) {
    await save();
    throw err;
  }
  if (!verified && passes >= MAX_PASSES) {
    await save();
    throw new TransientVendorError(
      { vendor: 'appcenter', operation: 'Analytics_ListAudiences', code: 'StillListed' },
      `still lists matching audiences after ${MAX_PASSES} passes`,
    );
  }

  const members = memberResults(progress, verified);
  const deleted = new Set([...progress.values()].flatMap((names) => [...names])).size;
  return {
    outcome: 'done',
    evidence: { app, members: input.members.length, audiencesListed: listed, passes, audiencesDeleted: deleted },
    members,
  };
};

/** One sweep of an app at a time: each reads every audience, out of one call budget. */
export const appcenterSweepAudiences: BatchProcessor<AppCenterClient> = Object.assign(sweepAudiences, {
  oneRunPerScope: true,
});

/** The app answered its listing: it exists (src/ledger/scope-sightings.ts). */
async function appSeen(client: AppCenterClient, app: string, sightings: ScopeSightings): Promise<void> {
  const index = client.settings.apps.indexOf(app);
  await sightings.seen({
    vendor: 'appcenter',
    configKey: `vendors.appcenter.apps[${index < 0 ? '?' : index}]`,
    scopeId: `${client.settings.owner}/${app}`,
  });
}

/** The audiences naming a member (name, description or definition), each with the members it names. */
function audienceHits(audiences: AppCenterAudience[], members: BatchMemberInput[], needles: Map<string, Needle[]>) {
  return audiences
    .map((audience) => ({
      audience,
      taskIds: members
        .filter((m) =>
          namesAny([audience.name, audience.description, audience.definition], needles.get(m.taskId) ?? []),
        )
        .map((m) => m.taskId),
    }))
    .filter((hit) => hit.taskIds.length > 0);
}

/** Each member's deleted audiences (redacted names), and how their absence was established. */
function memberResults(progress: Map<string, Set<string>>, verified: boolean): Map<string, MemberResult> {
  const members = new Map<string, MemberResult>();
  for (const [taskId, names] of progress) {
    const sorted = [...names].sort();
    members.set(taskId, {
      state: 'done',
      result: {
        audiencesDeleted: sorted.length,
        audienceIds: sorted,
        ...(verified
          ? { verification: 'verified_absent' }
          : { verification: 'scope_gone', vendorAnswer: 'listed in this sweep, then answered gone' }),
      },
    });
  }
  return members;
}

/**
 * The quoted literals of an audience definition (`CustomProperties/user_id eq 'user-42'`), for
 * redaction: they are values of device properties, often an identifier the request did not give
 * (`vip-user-42` found by the person's e-mail in its description).
 */
function definitionLiterals(definition: string | undefined): Needle[] {
  const literals: Needle[] = [];
  for (const match of (definition ?? '').matchAll(/'((?:[^']|'')+)'/g)) {
    const value = match[1].replace(/''/g, "'");
    // Shorter literals are codes ('US', 'iOS'), not identifiers; redacting them would only garble names.
    if (value.length >= 4) literals.push({ kind: 'userId', value, caseInsensitive: true });
  }
  return literals;
}

/** Every member done with the confirmed "App Center retired" answer (confirmGoneApp, jobs/appcenter-batch-member.ts). */
function gone(taskIds: string[], app: string, answer: Record<string, unknown>) {
  return {
    outcome: 'done' as const,
    evidence: { app, members: taskIds.length, ...answer },
    members: new Map<string, MemberResult>(taskIds.map((id) => [id, { state: 'done', result: answer }])),
  };
}
