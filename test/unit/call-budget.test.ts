import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { CallBudget } from '../../src/vendors/call-budget.js';

describe('CallBudget (a vendor call budget per window)', () => {
  it('lets a burst of the whole budget through at once, then one call per share of the window, in call order', async () => {
    const budget = new CallBudget(3, 300);
    const started = performance.now();
    const at: number[] = [];
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        await budget.take();
        at.push(performance.now() - started);
        order.push(i);
      }),
    );
    expect(order).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(at.slice(0, 3).every((ms) => ms < 60), `burst at ${at.slice(0, 3).map(Math.round)} ms`).to.equal(true);
    // Three more calls need three more tokens: 100 ms each at 3 per 300 ms.
    expect(at[5], 'the sixth call').to.be.within(280, 1000);
  });
});
