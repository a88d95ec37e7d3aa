import { expect } from 'chai';
import { findEndpoint } from '../../jobs/find-endpoint.js';
import type { TaskInput, TaskResult } from '../../src/connectors/processor-contract.js';
import type { EndpointReadBack, PinpointClient } from '../../src/vendors/pinpoint-client.js';

class Crash extends Error {
  override readonly name = 'Crash';
}

/**
 * A Pinpoint app holding the person's endpoints and a neighbour's, and a task ledger, where the
 * process dies right after its `crashAfter`-th step that changes something (a checkpoint or a
 * DeleteEndpoint): what the crash leaves is what the next run starts from.
 */
function world() {
  const endpoints = new Map<string, EndpointReadBack>([
    ['e-1', { id: 'e-1', address: 'ann@x.com' }],
    ['e-2', { id: 'e-2', address: '+15550000001' }],
    ['e-3', { id: 'e-3', address: 'ann@x.com', userId: 'u-ann' }],
    ['e-9', { id: 'e-9', address: 'joann@x.com' }],
  ]);
  const removed: string[] = [];
  let evidence: Record<string, unknown> = {};
  let steps = 0;
  let crashAfter: number | undefined;
  let dead = false;
  const step = async <T>(work: () => T): Promise<T> => {
    if (dead) throw new Crash('the process is gone');
    const out = work();
    if (++steps === crashAfter) {
      dead = true;
      throw new Crash(`crashed after step ${steps}`);
    }
    return out;
  };
  const pinpoint = {
    settings: { addressScan: { bucket: 'b' }, batchWindowMs: 10, batchMaxSubjects: 10 },
    getEndpoint: async ({ endpointId }: { endpointId: string }) => endpoints.get(endpointId),
    deleteEndpoint: ({ endpointId }: { endpointId: string }) =>
      step(() => {
        if (!endpoints.delete(endpointId)) return 'not_found' as const;
        removed.push(endpointId);
        return 'deleted' as const;
      }),
  } as unknown as PinpointClient;
  const run = (limit: number | undefined, attempt: number): Promise<TaskResult> => {
    crashAfter = limit === undefined ? undefined : steps + limit;
    dead = false;
    const input: TaskInput = {
      requestId: 'r-1',
      taskId: 't-1',
      resource: 'app/app-1',
      subject: { email: 'ann@x.com', phone: '+15550000001' },
      attempt,
      previous: evidence,
      checkpoint: (more) => step(() => void (evidence = { ...evidence, ...JSON.parse(JSON.stringify(more)) })),
      awaitBatch: async () => ({ state: 'done', batchId: 'b-1', result: { endpointIds: ['e-1', 'e-2', 'e-3'] } }),
    };
    return findEndpoint(input, { client: pinpoint });
  };
  return { run, removed, endpoints, steps: () => steps };
}

describe('find-endpoint after a crash at any step (Invariant 11: each deletion written ahead)', () => {
  it('counts as deleted exactly the endpoints Pinpoint saw deleted, whichever step the first run died after', async () => {
    const clean = world();
    const cleanResult = await clean.run(undefined, 1);
    expect(cleanResult.outcome).to.equal('succeeded');
    expect(cleanResult.evidence).to.include({ endpointsDeleted: 3, alreadyGone: 0 });
    const total = clean.steps();
    expect(total, 'per endpoint: intent, DeleteEndpoint, confirmation').to.equal(9);

    for (let crashAfter = 1; crashAfter < total; crashAfter++) {
      const w = world();
      const first = await w.run(crashAfter, 1).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(first, `the first run dies after step ${crashAfter}`).to.be.instanceOf(Crash);
      const result = await w.run(undefined, 2);
      expect(result.outcome, `crash after step ${crashAfter}`).to.equal('succeeded');
      expect(result.evidence.endpointsDeleted, `crash after step ${crashAfter}: deleted as Pinpoint saw it`).to.equal(
        w.removed.length,
      );
      expect(
        result.evidence.alreadyGone,
        `crash after step ${crashAfter}: nothing of ours counted as already gone`,
      ).to.equal(0);
      expect([...w.endpoints.keys()], 'the neighbour stays').to.deep.equal(['e-9']);
    }
  });

  it('still counts an endpoint that someone else removed before any run reached it as already gone', async () => {
    const w = world();
    w.endpoints.delete('e-2');
    const result = await w.run(undefined, 1);
    expect(result.evidence).to.include({ endpointsDeleted: 2, alreadyGone: 1 });
  });
});
