import { expect } from 'chai';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import {
  EndpointMatcher,
  ExportScan,
  ExportScanError,
  normaliseAddress,
  type ScanSubject,
} from '../../src/vendors/pinpoint-export-scanner.js';

/** An export line as Pinpoint writes it (EndpointResponse fields, vendor-contracts §1.6). */
function line(id: string, address: string | undefined, userId?: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    ChannelType: address?.includes('@') ? 'EMAIL' : 'SMS',
    ...(address === undefined ? {} : { Address: address }),
    EndpointStatus: 'ACTIVE',
    OptOut: 'NONE',
    EffectiveDate: '2025-01-01T00:00:00.000Z',
    Attributes: { source: ['seed'] },
    User: userId ? { UserId: userId, UserAttributes: { plan: ['pro'] } } : {},
    ApplicationId: 'app-1',
    Id: id,
    CohortId: '7',
    CreationDate: '2025-01-01T00:00:00.000Z',
    ...extra,
  });
}

/** Scans `text` gzipped, fed to the scanner in pieces of `pieceBytes` compressed bytes. */
async function scan(
  subjects: ScanSubject[],
  text: string | Buffer,
  pieceBytes = 64 * 1024,
): Promise<{ ids: string[][]; scan: ExportScan }> {
  const gz = gzipSync(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  const pieces: Buffer[] = [];
  for (let at = 0; at < gz.length; at += pieceBytes) pieces.push(gz.subarray(at, at + pieceBytes));
  const s = new ExportScan(new EndpointMatcher(subjects));
  await s.scanGzip(Readable.from(pieces));
  return { ids: subjects.map((_, i) => s.endpointIds(i)), scan: s };
}

/** Scans decompressed text handed over in chunks of exactly `chunkBytes` (to split lines anywhere). */
async function scanPlainChunks(subjects: ScanSubject[], text: string, chunkBytes: number): Promise<string[][]> {
  const bytes = Buffer.from(text, 'utf8');
  const s = new ExportScan(new EndpointMatcher(subjects));
  async function* chunks() {
    for (let at = 0; at < bytes.length; at += chunkBytes) yield bytes.subarray(at, at + chunkBytes);
  }
  await s.scanPlain(chunks());
  return subjects.map((_, i) => s.endpointIds(i));
}

async function failure(promise: Promise<unknown>): Promise<ExportScanError> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, 'the scan should have failed').to.be.instanceOf(ExportScanError);
  return outcome as ExportScanError;
}

describe('Pinpoint export scanner', () => {
  it('finds each subject’s endpoints by e-mail, phone and user id, all in one pass', async () => {
    const text = [
      line('e1', 'ann@x.com', 'user-1'),
      line('e2', '+15550000001', 'user-1'),
      line('e3', 'bob@y.org'),
      line('e4', 'fcm-token-abc', 'user-1'),
      line('e5', 'carol@z.net', 'user-3'),
    ].join('\n');
    const { ids, scan: s } = await scan(
      [
        { email: 'ann@x.com', phone: '+15550000001' },
        { userId: 'user-1' },
        { email: 'bob@y.org' },
        { email: 'nobody@x.com' },
      ],
      `${text}\n`,
    );
    expect(ids[0]).to.have.members(['e1', 'e2']);
    expect(ids[1]).to.have.members(['e1', 'e2', 'e4']);
    expect(ids[2]).to.deep.equal(['e3']);
    expect(ids[3]).to.deep.equal([]);
    expect(s.stats).to.include({ files: 1, lines: 5, matchedLines: 4 });
  });

  it('leaves substring and case neighbours alone: joann@x.com, ann@x.com.au, +155500000011', async () => {
    const text = [
      line('target-mail', 'ann@x.com'),
      line('joann', 'joann@x.com'),
      line('au', 'ann@x.com.au'),
      line('prefixed', 'xann@x.com'),
      line('target-phone', '+15550000001'),
      line('longer-phone', '+155500000011'),
      line('shorter-phone', '+1555000000'),
      line('user-42', undefined, 'user-42'),
      line('user-421', undefined, 'user-421'),
      line('USER-42', undefined, 'USER-42'),
    ].join('\n');
    const { ids } = await scan([{ email: 'ann@x.com', phone: '+15550000001', userId: 'user-42' }], text);
    expect(ids[0]).to.have.members(['target-mail', 'target-phone', 'user-42']);
  });

  it('matches e-mail addresses case-insensitively, as they are normalised', async () => {
    const { ids } = await scan(
      [{ email: 'ann@x.com' }],
      [line('upper', 'Ann@X.COM'), line('spaced', ' ann@x.com ')].join('\n'),
    );
    expect(ids[0]).to.have.members(['upper', 'spaced']);
  });

  it('matches an address a user id would also spell only as an address, and a user id only as a user id', async () => {
    // Person A is ann@x.com; person B's *user id* happens to be the string "ann@x.com".
    const { ids } = await scan(
      [{ email: 'ann@x.com' }, { userId: 'ann@x.com' }],
      [line('by-address', 'ann@x.com'), line('by-user', 'other@x.com', 'ann@x.com')].join('\n'),
    );
    expect(ids[0]).to.deep.equal(['by-address']);
    expect(ids[1]).to.deep.equal(['by-user']);
  });

  it('decodes escaped characters in JSON strings before matching', async () => {
    const escapedAt = '{"ChannelType":"EMAIL","Address":"ann\\u0040x.com","User":{},"Id":"escaped-at"}';
    const quoted = '{"ChannelType":"EMAIL","Address":"q\\"uote@x.com","User":{"UserId":"user\\\\42"},"Id":"quoted"}';
    const slash = '{"ChannelType":"EMAIL","Address":"a\\/b@x.com","User":{},"Id":"slash"}';
    const { ids } = await scan(
      [{ email: 'ann@x.com' }, { email: 'q"uote@x.com' }, { userId: 'user\\42' }, { email: 'a/b@x.com' }],
      [escapedAt, quoted, slash].join('\n'),
    );
    expect(ids).to.deep.equal([['escaped-at'], ['quoted'], ['quoted'], ['slash']]);
  });

  it('does not take an attribute or a string that merely contains the key text for the address', async () => {
    const trap = line('trap', 'someone@else.com', undefined, {
      Attributes: { Address: ['ann@x.com'], note: ['"Address":"ann@x.com"'] },
    });
    const { ids } = await scan([{ email: 'ann@x.com' }], trap);
    expect(ids[0]).to.deep.equal([]);
  });

  it('reads CRLF line ends and a last line without a newline', async () => {
    const text = `${line('crlf', 'ann@x.com')}\r\n${line('other', 'bob@y.org')}\r\n${line('last', '+15550000001')}`;
    const { ids, scan: s } = await scan([{ email: 'ann@x.com', phone: '+15550000001' }], text);
    expect(ids[0]).to.have.members(['crlf', 'last']);
    expect(s.stats.lines).to.equal(3);
  });

  it('finds lines split across chunks at every possible byte', async () => {
    const text = [line('first', 'bob@y.org'), line('target', 'ann@x.com', 'user-1'), line('third', 'carol@z.net')].join(
      '\n',
    );
    for (let size = 1; size <= text.length; size += 1) {
      const ids = await scanPlainChunks([{ email: 'ann@x.com' }, { userId: 'user-1' }], text, size);
      expect(ids, `chunks of ${size} bytes`).to.deep.equal([['target'], ['target']]);
    }
  });

  it('reads a large export in many gzip pieces, with non-ASCII neighbours', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 20_000; i++)
      lines.push(line(`ep-${i}`, i % 2 ? `user${i}@example.com` : `+1555${String(i).padStart(7, '0')}`, `user-${i}`));
    lines.push(line('unicode', 'ånn@bücher.de'));
    const subjects = [
      { email: 'user12345@example.com' },
      { phone: '+15550019998' },
      { userId: 'user-7' },
      { email: 'ånn@xn--bcher-kva.de' },
    ];
    const { ids, scan: s } = await scan(subjects, lines.join('\n'), 4096);
    expect(ids).to.deep.equal([['ep-12345'], ['ep-19998'], ['ep-7'], ['unicode']]);
    expect(s.stats.lines).to.equal(20_001);
  });

  it('serves 10,000 subjects in one pass', async () => {
    const subjects: ScanSubject[] = Array.from({ length: 10_000 }, (_, i) => ({ email: `user${i * 2}@example.com` }));
    const lines = Array.from({ length: 30_000 }, (_, i) => line(`ep-${i}`, `user${i}@example.com`));
    const { ids } = await scan(subjects, lines.join('\n'));
    expect(ids.every((found, i) => found.length === 1 && found[0] === `ep-${i * 2}`)).to.equal(true);
  });

  it('fails a truncated gzip file with a clear error, never as "not found"', async () => {
    const gz = gzipSync(Buffer.from(`${line('a', 'ann@x.com')}\n${line('b', 'bob@y.org')}\n`.repeat(200)));
    const s = new ExportScan(new EndpointMatcher([{ email: 'ann@x.com' }]));
    const err = await failure(s.scanGzip(Readable.from([gz.subarray(0, gz.length - 40)])));
    expect(err.code).to.equal('truncated');
    expect(err.message).to.match(/ended before its gzip stream was complete/);
    expect(s.stats.files, 'a file that failed is not counted as read').to.equal(0);
  });

  it('fails a file that is not gzip at all', async () => {
    const s = new ExportScan(new EndpointMatcher([{ email: 'ann@x.com' }]));
    const err = await failure(s.scanGzip(Readable.from([Buffer.from(line('a', 'ann@x.com'))])));
    expect(err.code).to.equal('corrupt');
  });

  it('fails, rather than skipping, a broken line that holds a searched identifier', async () => {
    const broken = '{"ChannelType":"EMAIL","Address":"ann@x.com","Id":"x",,}';
    const err = await failure(scan([{ email: 'ann@x.com' }], `${line('ok', 'bob@y.org')}\n${broken}\n`));
    expect(err.code).to.equal('malformed_line');
    expect(err.message).to.not.include('ann@x.com');
  });

  it('passes a failing source error through for the caller to classify', async () => {
    const source = new Readable({
      read() {
        this.destroy(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
    });
    const s = new ExportScan(new EndpointMatcher([{ email: 'ann@x.com' }]));
    const outcome = await s.scanGzip(source).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((outcome as NodeJS.ErrnoException).code).to.equal('ECONNRESET');
  });

  it('normalises addresses like the intake does: e-mail lower-cased, everything else as stored', () => {
    expect(normaliseAddress('Ann@X.com')).to.equal('ann@x.com');
    expect(normaliseAddress('+15550000001')).to.equal('+15550000001');
    expect(normaliseAddress('FCM-Token')).to.equal('FCM-Token');
    expect(normaliseAddress('ann@bücher.de')).to.equal('ann@xn--bcher-kva.de');
  });
});
