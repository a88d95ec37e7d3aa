import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger } from '../../src/logger.js';
import { html } from '../../src/dashboard/html.js';

// Issue 25, item 3: the logs and the admin page print through src/privacy/printable-text.ts.
const HOSTILE = 'a\u001b]0;title\u0007b\u001b[2J\u0085c\u202ed\u2066e';

describe('Printed strings in the logs and on the admin page (issue 25, item 3)', () => {
  it('writes log lines, nested fields included, without control characters or live bidi controls', () => {
    const logger = createLogger({ logLevel: 'info' }, { silentConsole: true });
    const lines: string[] = [];
    // A stream transport sees exactly what the file and the console get (the logger's format applies to all).
    logger.add(
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk, _encoding, done) => {
            lines.push(String(chunk));
            done();
          },
        }),
      }),
    );
    const nested = { reason: HOSTILE, list: [HOSTILE] };
    logger.info(HOSTILE, { field: HOSTILE, nested });
    expect(lines).to.have.length(1);
    const entry = JSON.parse(lines[0]) as {
      message: string;
      field: string;
      nested: { reason: string; list: string[] };
    };
    for (const value of [entry.message, entry.field, entry.nested.reason, entry.nested.list[0]])
      expect(value).to.equal('a]0;titleb[2Jc<U+202E>d<U+2066>e');
    expect(lines[0]).to.not.include('\\u001b');
    expect(nested.reason, "the caller's object is not changed").to.equal(HOSTILE);
  });

  it('renders admin page text without control characters, bidi controls shown escaped', () => {
    expect(html`<td>${HOSTILE}</td>`.toString()).to.equal('<td>a]0;titleb[2Jc&lt;U+202E&gt;d&lt;U+2066&gt;e</td>');
  });
});
