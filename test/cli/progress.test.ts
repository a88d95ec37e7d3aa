import { expect } from 'chai';
import { Progress } from '../../src/cli/progress.js';

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  const stream = { isTTY, columns: 100, write: (s: string) => writes.push(s) > 0 } as unknown as NodeJS.WriteStream;
  return { stream, writes };
}

describe('The CLI progress display', () => {
  it('redraws one bar in place on a terminal and clears it for other output', () => {
    const { stream, writes } = fakeStream(true);
    const progress = new Progress(stream, 200, 'submitting');
    progress.update(50, '10 rows', true);
    progress.update(200, '40 rows', true);
    // eslint-disable-next-line no-control-regex -- matching the terminal's escape and control characters is what this checks
    expect(writes[0]).to.match(/^\r\x1b\[Ksubmitting █+░+ {2}25% {2}10 rows$/);
    // eslint-disable-next-line no-control-regex -- matching the terminal's escape and control characters is what this checks
    expect(writes[1]).to.match(/^\r\x1b\[Ksubmitting █+ 100% {2}40 rows$/);
    expect(
      writes.every((w) => !w.includes('\n')),
      'no new line while the bar runs',
    ).to.equal(true);
    progress.clear();
    expect(writes.at(-1)).to.equal('\r\x1b[K');
    progress.update(200, '40 rows', true);
    progress.finish();
    expect(writes.at(-1)).to.equal('\n');
  });

  it('prints a plain line per new percentage when not on a terminal', () => {
    const { stream, writes } = fakeStream(false);
    const progress = new Progress(stream, 1000, 'submitting');
    progress.update(100, '5 rows');
    progress.update(101, '6 rows');
    progress.update(1000, '50 rows');
    expect(writes).to.deep.equal(['submitting: 10% 5 rows\n', 'submitting: 100% 50 rows\n']);
    const silent = fakeStream(false);
    new Progress(silent.stream, 10, 'x', false).update(5, 'y', true);
    expect(silent.writes).to.deep.equal([]);
  });
});
