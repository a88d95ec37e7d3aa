import { expect } from 'chai';
import { eachConcurrently } from '../../src/workers/each-concurrently.js';

describe('eachConcurrently', () => {
  it('runs every item once with at most the limit in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const seen: number[] = [];
    await eachConcurrently([...Array(50).keys()], 7, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(n);
      inFlight -= 1;
    });
    expect(seen.sort((a, b) => a - b)).to.deep.equal([...Array(50).keys()]);
    expect(most).to.equal(7);
  });

  it('rejects with the first error once the calls already started have settled, and starts no more', async () => {
    const started: number[] = [];
    let settled = 0;
    const failing = eachConcurrently([...Array(20).keys()], 3, async (n) => {
      started.push(n);
      await new Promise((resolve) => setImmediate(resolve));
      settled += 1;
      if (n === 1) throw new Error('item 1 failed');
    });
    await failing.then(
      () => expect.fail('should have rejected'),
      (err: Error) => expect(err.message).to.equal('item 1 failed'),
    );
    expect(settled).to.equal(started.length);
    expect(started.length).to.be.below(20);
  });

  it('does nothing for no items', async () => {
    await eachConcurrently([], 4, async () => expect.fail('no call expected'));
  });
});
