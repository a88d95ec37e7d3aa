import { expect } from 'chai';
import { groupCommit } from '../../src/ledger/group-commit.js';

describe('groupCommit (src/ledger/group-commit.ts)', () => {
  it('runs a lone call at once, and the calls that arrive meanwhile together in the next batch, each answered with its own result', async () => {
    const batches: number[][] = [];
    const double = groupCommit(async (inputs: number[]) => {
      batches.push(inputs);
      await Promise.resolve();
      return inputs.map((n) => n * 2);
    });
    const answers = await Promise.all([1, 2, 3, 4].map((n) => double(n)));
    expect(answers).to.deep.equal([2, 4, 6, 8]);
    expect(batches).to.deep.equal([[1], [2, 3, 4]]);
    expect(await double(5)).to.equal(10);
    expect(batches.at(-1)).to.deep.equal([5]);
  });

  it('runs each call of a failed batch again alone, so only the call that fails gets the error', async () => {
    const batches: string[][] = [];
    const write = groupCommit(async (inputs: string[]) => {
      batches.push(inputs);
      await Promise.resolve();
      if (inputs.includes('bad')) throw new Error('refused');
      return inputs.map((s) => s.toUpperCase());
    });
    const answers = await Promise.allSettled(['a', 'b', 'bad', 'c'].map((s) => write(s)));
    expect(answers.map((a) => (a.status === 'fulfilled' ? a.value : (a.reason as Error).message))).to.deep.equal([
      'A',
      'B',
      'refused',
      'C',
    ]);
    expect(batches).to.deep.equal([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('never puts two calls with the same key in one batch: the later goes in a later batch', async () => {
    const batches: string[][] = [];
    const write = groupCommit(
      async (inputs: Array<{ task: string; n: number }>) => {
        batches.push(inputs.map((i) => `${i.task}${i.n}`));
        await Promise.resolve();
        return inputs.map((i) => i.n);
      },
      { keyOf: (input) => input.task },
    );
    const calls = [
      { task: 'a', n: 1 },
      { task: 'a', n: 2 },
      { task: 'b', n: 3 },
      { task: 'a', n: 4 },
    ];
    expect(await Promise.all(calls.map((c) => write(c)))).to.deep.equal([1, 2, 3, 4]);
    expect(batches).to.deep.equal([['a1'], ['a2', 'b3'], ['a4']]);
  });

  it('keeps each batch within its limit', async () => {
    const sizes: number[] = [];
    const echo = groupCommit(
      async (inputs: number[]) => {
        sizes.push(inputs.length);
        await Promise.resolve();
        return inputs;
      },
      { maxBatch: 2 },
    );
    expect(await Promise.all([1, 2, 3, 4, 5, 6].map((n) => echo(n)))).to.deep.equal([1, 2, 3, 4, 5, 6]);
    expect(sizes).to.deep.equal([1, 2, 2, 1]);
  });
});
