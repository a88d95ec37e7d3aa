import { expect } from 'chai';
import { windowBatchPollMs } from '../../src/connectors/processor-contract.js';

describe('when a member of a windowed batch looks again on its own', () => {
  const now = Date.parse('2026-11-22T12:00:00Z');
  const closesIn = (ms: number) => new Date(now + ms);

  it('looks 30 s after a window that closes soon', () => {
    expect(windowBatchPollMs(closesIn(5_000), now)).to.equal(35_000);
  });

  it('looks after five minutes at the latest, however long the window stays open', () => {
    expect(windowBatchPollMs(closesIn(60 * 60_000), now)).to.equal(5 * 60_000);
  });

  it('falls back to five minutes once the window has closed and the batch is still running', () => {
    expect(windowBatchPollMs(closesIn(-1), now)).to.equal(5 * 60_000);
  });
});
