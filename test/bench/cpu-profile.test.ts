import { expect } from 'chai';
import { shareByPackage, type CpuProfile } from '../../bench/cpu-profile.js';

/** A profile tree: root → our runner → the AWS SDK → Node's socket write; root → the garbage collector. */
function profileOf(samples: Array<[number, number]>): CpuProfile {
  const frame = (functionName: string, url: string) => ({ functionName, url });
  return {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 5] },
      { id: 2, callFrame: frame('runTask', 'file:///app/src/workers/task-runner.ts'), children: [3] },
      {
        id: 3,
        callFrame: frame('signRequest', 'file:///app/node_modules/@smithy/signature-v4/dist-cjs/index.js'),
        children: [4],
      },
      { id: 4, callFrame: frame('writev', ''), children: [] },
      { id: 5, callFrame: frame('(garbage collector)', ''), children: [] },
    ],
    samples: samples.map(([id]) => id),
    timeDeltas: samples.map(([, dt]) => dt),
  };
}

describe('CPU profile breakdown for the bench', () => {
  it("charges time in Node's own code to the nearest package on the stack that called it", () => {
    const shares = shareByPackage(
      profileOf([
        [4, 300],
        [3, 100],
        [2, 100],
      ]),
    );
    expect(shares).to.deep.equal({ 'aws-sdk': 80, 'erasure (src, jobs, queues)': 20 });
  });

  it('names samples with no package on their stack by what they are, and the shares add up to 100', () => {
    const shares = shareByPackage(
      profileOf([
        [5, 250],
        [2, 750],
      ]),
    );
    expect(shares).to.deep.equal({ 'erasure (src, jobs, queues)': 75, gc: 25 });
  });

  it('reports nothing for an empty profile instead of dividing by zero', () => {
    expect(shareByPackage(profileOf([]))).to.deep.equal({});
  });
});
