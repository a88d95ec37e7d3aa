import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { createInMemoryCallBudget } from '../../src/vendors/call-budget.js';

describe('createInMemoryCallBudget (a vendor call budget in one process)', () => {
  it('lets a burst of the whole budget through at once, then one call per share of the window, in call order', async () => {
    const budget = createInMemoryCallBudget();
    const started = performance.now();
    const at: number[] = [];
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        await budget.pace('vendor', { max: 3, durationMs: 300 });
        at.push(performance.now() - started);
        order.push(i);
      }),
    );
    expect(order).to.deep.equal([0, 1, 2, 3, 4, 5]);
    expect(
      at.slice(0, 3).every((ms) => ms < 60),
      `burst at ${at.slice(0, 3).map(Math.round).join(',')} ms`,
    ).to.equal(true);
    // Three more calls need three more tokens: 100 ms each at 3 per 300 ms.
    expect(at[5], 'the sixth call').to.be.within(280, 1000);
  });

  it('keeps at most `max` calls of a scope in flight at once, and hands a freed slot to the next caller', async () => {
    const budget = createInMemoryCallBudget();
    let running = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        const release = await budget.hold('vendor', 2, 60_000);
        try {
          running += 1;
          most = Math.max(most, running);
          await new Promise((resolve) => setTimeout(resolve, 20));
          running -= 1;
        } finally {
          release();
        }
      }),
    );
    expect(most).to.equal(2);
  });

  it('keeps scopes apart: one operation’s turns do not delay another’s', async () => {
    const budget = createInMemoryCallBudget();
    await budget.pace('pinpoint:GetEndpoint', { max: 1, durationMs: 60_000, burst: 1 });
    const started = performance.now();
    await budget.pace('pinpoint:DeleteEndpoint', { max: 1, durationMs: 60_000, burst: 1 });
    expect(performance.now() - started).to.be.below(50);
  });
});
