import { expect } from 'chai';
import { requestSplittingRefusals } from '../../jobs/amplitude-submit-deletions.js';
import type { AmplitudeIdentifier, DeletionResult } from '../../src/vendors/amplitude-client.js';
import { PermanentVendorError, TransientVendorError } from '../../src/vendors/vendor-errors.js';

/** A fake Amplitude that answers 400 to any call holding an unknown id (the flag not honoured), recording each call. */
function fakeAmplitude(unknown: Set<string>, fail?: Error) {
  const calls: string[][] = [];
  return {
    calls,
    requestDeletions: async (ids: AmplitudeIdentifier[]): Promise<DeletionResult> => {
      calls.push(ids.map((i) => i.value));
      if (fail) throw fail;
      if (ids.some((i) => unknown.has(i.value)))
        throw new PermanentVendorError({ vendor: 'amplitude', operation: 'createDeletion', status: 400 });
      return {
        day: '2026-12-20',
        status: 'staging',
        entries: ids.map((i) => ({ userId: i.value, amplitudeId: '1' })),
        invalid: [],
      };
    },
  };
}

const ids = (...values: string[]) => values.map((value) => ({ kind: 'user_id' as const, value }));

describe('requestSplittingRefusals (Amplitude 400 for unknown ids)', () => {
  it('sends once when Amplitude accepts the call', async () => {
    const amplitude = fakeAmplitude(new Set());
    const out = await requestSplittingRefusals(amplitude, ids('a', 'b', 'c'), (x) => x);
    expect(out.calls).to.equal(1);
    expect(out.refused).to.deep.equal([]);
    expect(out.accepted.flatMap((a) => a.sent.map((s) => s.value))).to.deep.equal(['a', 'b', 'c']);
  });

  it('halves a refused call until each unknown id stands alone; every valid id is sent and accepted', async () => {
    const amplitude = fakeAmplitude(new Set(['c', 'f']));
    const out = await requestSplittingRefusals(amplitude, ids('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'), (x) => x);
    expect(out.refused.map((r) => [r.item.value, r.status])).to.deep.equal([
      ['c', 400],
      ['f', 400],
    ]);
    expect(out.accepted.flatMap((a) => a.sent.map((s) => s.value)).sort()).to.deep.equal([
      'a',
      'b',
      'd',
      'e',
      'g',
      'h',
    ]);
    expect(out.calls).to.equal(amplitude.calls.length);
    expect(out.calls, 'at most 1 + 2 calls per unknown id and halving level (2 × 2 × 3)').to.be.at.most(13);
  });

  it('does not split on other errors: a 5xx or a 401 propagates as it came', async () => {
    const transient = new TransientVendorError({ vendor: 'amplitude', operation: 'createDeletion', status: 503 });
    const err = await requestSplittingRefusals(fakeAmplitude(new Set(), transient), ids('a', 'b'), (x) => x).catch(
      (e: Error) => e,
    );
    expect(err).to.equal(transient);
    const unauthorized = new PermanentVendorError({ vendor: 'amplitude', operation: 'createDeletion', status: 401 });
    const amplitude = fakeAmplitude(new Set(), unauthorized);
    expect(await requestSplittingRefusals(amplitude, ids('a', 'b'), (x) => x).catch((e: Error) => e)).to.equal(
      unauthorized,
    );
    expect(amplitude.calls).to.have.length(1);
  });
});
