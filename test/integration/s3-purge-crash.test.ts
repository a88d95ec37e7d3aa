import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { createS3VendorClient, type S3VendorClient } from '../../src/vendors/s3-client.js';
import type { S3Settings } from '../../src/vendors/s3-settings.js';
import { scanS3Prefix, type PrefixPurgeCounts } from '../../jobs/scan-s3-prefix.js';
import type { BatchInput, BatchMemberInput } from '../../src/connectors/processor-contract.js';
import { sandboxVendorSettings } from '../support/crash-rig.js';

/** The people whose rows the batch removes (task id → seeded person); 5 and 6 share files with them and stay. */
const PEOPLE = { 't-1': 1, 't-2': 2, 't-4': 4 } as const;
const COUNT_FIELDS = ['objectsRewritten', 'rowsRemoved', 'versionsDeleted', 'deleteMarkersDeleted'] as const;

class Crash extends Error {
  override readonly name = 'Crash';
}

/** Every version and marker of every key under a prefix (those hidden by a marker too), straight from the simulator's store. */
function snapshot(sandbox: Sandbox, bucket: string, prefix: string) {
  const { objects } = sandbox.s3.store.bucket(bucket);
  return new Map(
    [...objects]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, versions]) => [key, versions.map((v) => ({ ...v }))]),
  );
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Rows (lines) of a version that name person `i` exactly (a whole CSV field or JSON string). */
function rowsOf(body: Buffer, i: number): number {
  const text = (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body).toString('utf8');
  const p = seedPerson(i);
  const token = new RegExp(`(^|[",])(${[p.email, p.phone, p.userId].map(escape).join('|')})([",]|$)`);
  return text.split('\n').filter((line) => token.test(line)).length;
}

/**
 * What the simulator saw removed, per task, computed from its store before and after (not from
 * the processor's own counting): a current version holding the person's rows that is no longer
 * current was rewritten; a version holding them that is gone was deleted; markers gone from a key
 * holding them count for every person the key held.
 */
function removedPerTask(
  before: ReturnType<typeof snapshot>,
  after: ReturnType<typeof snapshot>,
): Record<string, PrefixPurgeCounts> {
  const out: Record<string, PrefixPurgeCounts> = {};
  for (const [taskId, i] of Object.entries(PEOPLE)) {
    const counts = { objectsRewritten: 0, rowsRemoved: 0, versionsDeleted: 0, deleteMarkersDeleted: 0 };
    for (const [key, versions] of before) {
      const now = after.get(key) ?? [];
      const held = versions.filter((v) => !v.isDeleteMarker && rowsOf(v.body, i) > 0);
      if (held.length === 0) continue;
      const latest = versions[0];
      if (!latest.isDeleteMarker && held.includes(latest) && now[0]?.sequence !== latest.sequence) {
        counts.objectsRewritten++;
        counts.rowsRemoved += rowsOf(latest.body, i);
      }
      // By version id: an unversioned bucket's rewrite replaces the `null` version in place, deleting nothing.
      counts.versionsDeleted += held.filter((v) => !now.some((n) => n.versionId === v.versionId)).length;
      counts.deleteMarkersDeleted += versions.filter(
        (v) => v.isDeleteMarker && !now.some((n) => n.versionId === v.versionId),
      ).length;
    }
    out[taskId] = counts;
  }
  return out;
}

/**
 * A batch ledger of one batch, as the batch runner keeps it: evidence merged key by key (jsonb
 * `||`), and nothing written once the process "died".
 */
function ledgerOfOneBatch() {
  let evidence: Record<string, unknown> = {};
  return {
    dead: false,
    get evidence() {
      return evidence;
    },
    async checkpoint(more: Record<string, unknown>) {
      if (this.dead) throw new Crash('the process is gone');
      evidence = { ...evidence, ...JSON.parse(JSON.stringify(more)) };
    },
  };
}

/**
 * The S3 client and the ledger, with a crash after the `crashAfter`-th step that changes anything
 * (a checkpoint, a PutObject, a DeleteObjects): the step is done, then the process is gone.
 */
function crashingRun(s3: S3VendorClient, ledger: ReturnType<typeof ledgerOfOneBatch>, crashAfter: number | undefined) {
  let steps = 0;
  const step = async <T>(work: () => Promise<T>): Promise<T> => {
    if (ledger.dead) throw new Crash('the process is gone');
    const out = await work();
    steps++;
    if (steps === crashAfter) {
      ledger.dead = true;
      throw new Crash(`crashed after step ${steps}`);
    }
    return out;
  };
  const client: S3VendorClient = {
    ...s3,
    putObject: (input) => step(() => s3.putObject(input)),
    deleteVersions: (bucket, items, signal) => step(() => s3.deleteVersions(bucket, items, signal)),
  };
  return {
    client,
    checkpoint: (evidence: Record<string, unknown>) => step(() => ledger.checkpoint(evidence)),
    steps: () => steps,
  };
}

describe('S3 purge evidence after a crash at any step (Invariant 11: intent written ahead, resolved from the vendor)', () => {
  for (const location of [
    {
      name: 'a versioned bucket (rewrites, older versions, delete markers)',
      bucket: S3_SANDBOX_BUCKETS.imports,
      prefix: 'segments/',
    },
    {
      name: 'an unversioned bucket (rewrites in place)',
      bucket: S3_SANDBOX_BUCKETS.legacyExports,
      prefix: 'pinpoint-export/',
    },
  ]) {
    describe(location.name, () => {
      async function purge(crashAfter: number | undefined): Promise<{
        evidence: Record<string, PrefixPurgeCounts>;
        seen: Record<string, PrefixPurgeCounts>;
        steps: number;
        crashed: boolean;
      }> {
        const sandbox = await startSandbox({ subjects: 8 });
        const settings = {
          ...(sandboxVendorSettings(sandbox).s3 as object),
          throttleDelayMs: 50,
        } as unknown as S3Settings;
        const s3 = createS3VendorClient(settings);
        try {
          const before = snapshot(sandbox, location.bucket, location.prefix);
          const members: BatchMemberInput[] = Object.entries(PEOPLE).map(([taskId, i]) => {
            const p = seedPerson(i);
            return { taskId, requestId: taskId, subject: { email: p.email, phone: p.phone, userId: p.userId } };
          });
          const ledger = ledgerOfOneBatch();
          const input = (attempt: number, run: ReturnType<typeof crashingRun>): BatchInput => ({
            batchId: 'b-1',
            scope: `location/${location.bucket}/${location.prefix}`,
            members,
            attempt,
            previous: ledger.evidence,
            checkpoint: run.checkpoint,
          });
          const first = crashingRun(s3, ledger, crashAfter);
          let crashed = false;
          let result = await scanS3Prefix(input(1, first), { client: first.client }).catch((err: unknown) => {
            crashed = true;
            return err;
          });
          if (crashed) {
            ledger.dead = false; // a new process takes the job
            const second = crashingRun(s3, ledger, undefined);
            result = await scanS3Prefix(input(2, second), { client: second.client });
          }
          const done = result as Awaited<ReturnType<typeof scanS3Prefix>>;
          if (done.outcome !== 'done') throw new Error('the purge did not finish');
          const evidence = Object.fromEntries(
            [...done.members].map(([taskId, m]) => [
              taskId,
              Object.fromEntries(COUNT_FIELDS.map((f) => [f, m.result[f]])) as unknown as PrefixPurgeCounts,
            ]),
          );
          const seen = removedPerTask(before, snapshot(sandbox, location.bucket, location.prefix));
          return { evidence, seen, steps: first.steps(), crashed };
        } finally {
          s3.close();
          await sandbox.close();
        }
      }

      it('records exactly what the simulator saw removed, whichever step the first run died after', async function () {
        this.timeout(180_000);
        const clean = await purge(undefined);
        expect(clean.crashed).to.equal(false);
        expect(clean.evidence, 'a run without a crash').to.deep.equal(clean.seen);
        expect(
          Object.values(clean.seen).every((c) => c.rowsRemoved > 0),
          'each person had rows to remove',
        ).to.equal(true);
        // Every step of the clean run, one crash each: after the intent, after the rewrite, after
        // each DeleteObjects, after the confirmation.
        expect(
          clean.steps,
          'steps that change something: at least an intent, a rewrite and a confirmation',
        ).to.be.at.least(3);
        for (let crashAfter = 1; crashAfter < clean.steps; crashAfter++) {
          const run = await purge(crashAfter);
          expect(run.crashed, `a crash after step ${crashAfter}`).to.equal(true);
          expect(run.evidence, `evidence after a crash after step ${crashAfter} of ${clean.steps}`).to.deep.equal(
            run.seen,
          );
          expect(run.evidence, `same counts as the run without a crash (crash after step ${crashAfter})`).to.deep.equal(
            clean.evidence,
          );
        }
      });
    });
  }
});
