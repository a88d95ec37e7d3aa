import { expect } from 'chai';
import {
  deleteProject,
  type AppDeletionEvidence,
  type PrefixDeletionEvidence,
  type ProjectDeletionResult,
} from '../../jobs/delete-project.js';
import type { PinpointClient } from '../../src/vendors/pinpoint-client.js';
import type { S3VendorClient } from '../../src/vendors/s3-client.js';

class Crash extends Error {
  override readonly name = 'Crash';
}

const LOCATIONS = [
  { bucket: 'imports', prefix: 'app-1/' },
  { bucket: 'exports', prefix: 'app-1/' },
];

/**
 * A Pinpoint app with files under two prefixes, and a deletion's ledger, where the process dies
 * right after its `crashAfter`-th step that changes something: a checkpoint, DeleteApp, or one page
 * of a prefix's purge (each prefix is purged in two pages of DeleteObjects).
 */
function world() {
  let appExists = true;
  const files = new Map(LOCATIONS.map((l) => [`${l.bucket}/${l.prefix}`, 4]));
  const removed = new Map(LOCATIONS.map((l) => [`${l.bucket}/${l.prefix}`, 0]));
  let evidence: Record<string, unknown> = {};
  let steps = 0;
  let crashAfter: number | undefined;
  let dead = false;
  const step = () => {
    if (dead) throw new Crash('the process is gone');
    if (++steps === crashAfter) {
      dead = true;
      throw new Crash(`crashed after step ${steps}`);
    }
  };
  const gone = { gone: true as const, vendorAnswer: '404 NotFoundException' };
  const pinpoint = {
    getApp: async () => (appExists ? { arn: 'arn:app-1', name: 'shop' } : gone),
    deleteApp: async () => {
      if (dead) throw new Crash('the process is gone');
      const answer = appExists ? { arn: 'arn:app-1', name: 'shop' } : gone;
      appExists = false;
      step();
      return answer;
    },
  } as unknown as PinpointClient;
  const s3 = {
    async purgePrefix(bucket: string, prefix: string) {
      const where = `${bucket}/${prefix}`;
      let versionsDeleted = 0;
      while (files.get(where)! > 0) {
        const page = Math.min(2, files.get(where)!);
        if (dead) throw new Crash('the process is gone');
        files.set(where, files.get(where)! - page);
        removed.set(where, removed.get(where)! + page);
        versionsDeleted += page;
        step();
      }
      return { versionsDeleted, markersDeleted: 0, bytesDeleted: versionsDeleted * 100 };
    },
  } as unknown as S3VendorClient;
  const run = (limit: number | undefined, attempt: number): Promise<ProjectDeletionResult> => {
    crashAfter = limit === undefined ? undefined : steps + limit;
    dead = false;
    return deleteProject(
      {
        deletionId: 'd-1',
        appId: 'app-1',
        s3Locations: LOCATIONS,
        attempt,
        previous: evidence,
        checkpoint: async (more) => {
          if (dead) throw new Crash('the process is gone');
          evidence = { ...evidence, ...JSON.parse(JSON.stringify(more)) };
          step();
        },
      },
      { pinpoint, s3 },
    );
  };
  return { run, removed, steps: () => steps };
}

describe('delete-project after a crash at any step (Invariant 11: never "not found" for what an earlier run removed)', () => {
  it('is deleted, with exact counts or counts marked as a lower bound, whichever step the first run died after', async () => {
    const clean = world();
    const result = await clean.run(undefined, 1);
    expect(result.outcome).to.equal('deleted');
    expect((result.evidence.app as AppDeletionEvidence).result).to.equal('deleted');
    expect((result.evidence.s3 as PrefixDeletionEvidence[]).map((p) => p.versionsDeleted)).to.deep.equal([4, 4]);
    const total = clean.steps();

    for (let crashAfter = 1; crashAfter < total; crashAfter++) {
      const w = world();
      const first = await w.run(crashAfter, 1).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(first, `the first run dies after step ${crashAfter}`).to.be.instanceOf(Crash);
      const rerun = await w.run(undefined, 2);
      const label = `crash after step ${crashAfter} of ${total}`;
      expect(rerun.outcome, label).to.equal('deleted');
      const app = rerun.evidence.app as AppDeletionEvidence;
      expect(app.result, label).to.be.oneOf(['deleted', 'removed_in_earlier_attempt']);
      for (const prefix of rerun.evidence.s3 as PrefixDeletionEvidence[]) {
        const removed = w.removed.get(`${prefix.bucket}/${prefix.prefix}`)!;
        expect(prefix.versionsDeleted, `${label}: never more than was removed`).to.be.at.most(removed);
        if (prefix.versionsDeleted < removed)
          expect(prefix.earlierAttempt, `${label}: a count short of what was removed says so`).to.equal(
            'removed_in_earlier_attempt',
          );
      }
    }
  });

  it('still says not_found when the app and its files were gone before the first run', async () => {
    // A first run, nothing cut off: the app answers gone, and there are no prefixes.
    const result = await deleteProject(
      {
        deletionId: 'd-2',
        appId: 'app-1',
        s3Locations: [],
        attempt: 1,
        previous: {},
        checkpoint: async () => undefined,
      },
      {
        pinpoint: {
          deleteApp: async () => ({ gone: true, vendorAnswer: '404 NotFoundException' }),
        } as unknown as PinpointClient,
      },
    );
    expect(result.outcome).to.equal('not_found');
    expect((result.evidence.app as AppDeletionEvidence).result).to.equal('not_found');
  });
});
