import { expect } from 'chai';
import { parseCommandLine, UsageError } from '../../src/cli/command.js';

describe('CLI flag parsing', () => {
  it('takes a flag value that starts with a dash, as a generated API token can', () => {
    const { values } = parseCommandLine(['--token', '-Zk3_q', '--json', '--reason', '--not-a-flag of ours'], {
      reason: { type: 'string' },
    });
    expect(values).to.include({ token: '-Zk3_q', json: true, reason: '--not-a-flag of ours' });
  });

  it('still says a flag needs a value when the next word is one of its flags', () => {
    expect(() => parseCommandLine(['--token', '--json'], {})).to.throw(UsageError, '--token needs a value');
  });

  it('keeps --flag=value and plain values as they were', () => {
    const { values, positionals } = parseCommandLine(['status', '--url=http://127.0.0.1:3000', '--token', 'abc'], {});
    expect(values).to.include({ url: 'http://127.0.0.1:3000', token: 'abc' });
    expect(positionals).to.deep.equal(['status']);
  });
});
