import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from './run-cli.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

/** The five kinds of bad row, one per ten, spread through the file. */
const BAD_KINDS = [
  'invalid e-mail',
  'phone without country code',
  'unknown column value',
  'empty subject',
  'unparseable line',
] as const;

interface Expected {
  line: number;
  text: RegExp;
}

/**
 * 2,000 data rows: 50 bad (every 40th, from row index 7), 20 duplicates (a requestId used 13 rows
 * earlier, every 100th from index 50), 1,930 good ones with seeded-style user ids.
 */
function peopleCsv(run: string): { csv: string; bad: Expected[]; duplicates: Expected[] } {
  const lines = ['userId,email,phone,requestId,vendors,regulation'];
  const bad: Expected[] = [];
  const duplicates: Expected[] = [];
  for (let i = 0; i < 2000; i++) {
    const line = i + 2;
    if (i % 40 === 7) {
      const kind = BAD_KINDS[Math.floor(i / 40) % BAD_KINDS.length];
      if (kind === 'invalid e-mail') {
        lines.push(`user-${i},not-an-email-${i},,${run}-${i},pinpoint,gdpr`);
        bad.push({ line, text: /subject\.email must be an e-mail address/ });
      } else if (kind === 'phone without country code') {
        lines.push(`user-${i},,555${String(i).padStart(7, '0')},${run}-${i},pinpoint,gdpr`);
        bad.push({ line, text: /subject\.phone must be an international number/ });
      } else if (kind === 'unknown column value') {
        lines.push(`user-${i},,,${run}-${i},pinpoint,hipaa`);
        bad.push({ line, text: /regulation must be one of gdpr, ccpa/ });
      } else if (kind === 'empty subject') {
        lines.push(`,,,${run}-${i},pinpoint,gdpr`);
        bad.push({ line, text: /subject needs at least one identifier/ });
      } else {
        lines.push(`"user-${i},,,${run}-${i},pinpoint,gdpr`);
        bad.push({ line, text: /the line is not valid CSV/ });
      }
    } else if (i % 100 === 50) {
      lines.push(`user-${i - 13},,,${run}-${i - 13},pinpoint,gdpr`);
      duplicates.push({ line, text: /duplicate of [0-9a-f-]{36}/ });
    } else {
      lines.push(`user-${i},,,${run}-${i},pinpoint,gdpr`);
    }
  }
  return { csv: `${lines.join('\n')}\n`, bad, duplicates };
}

function rowLine(stdout: string, line: number): string {
  return stdout.split('\n').find((l) => l.includes(`(line ${line}):`)) ?? '';
}

describe('erasure submit --file', function () {
  // Each command is a child process (about 0.3 s of CPU): generous on a busy machine.
  this.timeout(120_000);
  let service: TestService;
  let dir: string;

  before(async () => {
    // Intake only: this file is about what the CLI submits, not about the erasure that follows.
    service = await startTestService({ roles: { api: true, workers: [] } });
    dir = makeTestTempDir('erasure-cli-submit-');
  });
  after(async () => service?.close());

  it('submits 2,000 CSV rows in chunks with progress, accepts 1,930, names every rejected row and why, and exits 0 despite them', async function () {
    this.timeout(180_000);
    const { csv, bad, duplicates } = peopleCsv(randomBytes(4).toString('hex'));
    const file = path.join(dir, 'people.csv');
    writeFileSync(file, csv);

    const first = await runCli(['submit', '--file', file, ...serviceFlags(service)], { timeoutMs: 170_000 });
    expect(first.stderr, 'progress on stderr, as plain percentage lines when not a terminal').to.match(
      /submitting: \d+% /,
    );
    expect(first.stderr).to.match(/submitting: 100% 2000 rows/);
    expect(first.stderr.match(/submitting: \d+%/g)!.length, 'progress is shown chunk by chunk').to.be.greaterThan(2);
    expect(first.code, first.stderr).to.equal(0);
    expect(first.stdout).to.include('2000 rows: 1930 accepted, 20 duplicates, 50 rejected (10 could not be read)');
    for (const row of bad)
      expect(rowLine(first.stdout, row.line), `line ${row.line}`)
        .to.match(/: rejected: /)
        .and.to.match(row.text);
    for (const row of duplicates) expect(rowLine(first.stdout, row.line), `line ${row.line}`).to.match(row.text);
    expect(first.stdout.match(/: accepted {2}[0-9a-f-]{36}/g)).to.have.length(1930);
    expect(
      first.stdout.match(/user-\d+|not-an-email|\b555\d{7}\b|hipaa/g) ?? [],
      'no value from the file is repeated',
    ).to.deep.equal([]);
    const listed = await runCli(['list', '--limit', '5000', '--json', ...serviceFlags(service)]);
    expect(JSON.parse(listed.stdout).requests, 'erasure list follows the cursors over 4 pages').to.have.length(1930);
  });

  it('exits non-zero with --strict when a row was rejected, and prints one JSON document with --json', async function () {
    const file = path.join(dir, 'strict.csv');
    const run = randomBytes(4).toString('hex');
    writeFileSync(
      file,
      `requestId,userId,email,vendors\n${run}-1,user-1,,pinpoint\n${run}-2,user-2,not-an-email,pinpoint\n${run}-1,user-1,,pinpoint\n`,
    );
    const strict = await runCli(['submit', '--file', file, '--strict', '--json', ...serviceFlags(service)]);
    expect(strict.code).to.equal(1);
    const doc = JSON.parse(strict.stdout);
    expect(doc.summary).to.deep.equal({
      rows: 3,
      accepted: 1,
      duplicates: 1,
      conflicts: 0,
      rejected: 1,
      unreadable: 0,
      notProcessed: 0,
      complete: true,
    });
    expect(doc.results[1]).to.deep.equal({
      row: 2,
      line: 3,
      outcome: 'rejected',
      errors: [{ field: 'subject.email', problem: 'must be an e-mail address' }],
    });
    expect(doc.results[2]).to.deep.include({ row: 3, outcome: 'duplicate', id: doc.results[0].id });

    const lenient = await runCli(['submit', '--file', file, ...serviceFlags(service)]);
    expect(lenient.code, 'rejected rows alone do not fail the command').to.equal(0);
    expect(lenient.stdout).to.include('3 rows: 0 accepted, 2 duplicates, 1 rejected');
  });

  it('counts and reports rows whose requestId was used before for another person as conflicts, creating nothing for them (issue 22)', async function () {
    const file = path.join(dir, 'conflicts.csv');
    const run = randomBytes(4).toString('hex');
    // Row 2 repeats row 1's key for another person; row 3 repeats it with the same person.
    writeFileSync(
      file,
      `requestId,userId,vendors\n${run}-1,user-1,pinpoint\n${run}-1,user-2,pinpoint\n${run}-1,user-1,pinpoint\n${run}-2,user-2,pinpoint\n`,
    );
    // Counted in the ledger: earlier tests of this file leave more requests than one page lists.
    const count = async () =>
      (await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM requests`)).rows[0].n;
    const before = await count();
    const res = await runCli(['submit', '--file', file, '--json', ...serviceFlags(service)]);
    expect(res.code, res.stderr).to.equal(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.summary).to.deep.equal({
      rows: 4,
      accepted: 2,
      duplicates: 1,
      conflicts: 1,
      rejected: 0,
      unreadable: 0,
      notProcessed: 0,
      complete: true,
    });
    expect(doc.results[1]).to.deep.equal({
      row: 2,
      line: 3,
      outcome: 'conflict',
      errors: [
        { field: 'requestId', problem: 'was already used for a request with another subject, vendors or regulation' },
      ],
    });
    expect(await count(), 'only rows 1 and 4 created requests').to.equal(before + 2);

    const text = await runCli(['submit', '--file', file, '--strict', ...serviceFlags(service)]);
    expect(text.code, '--strict fails on a conflict').to.equal(1);
    expect(rowLine(text.stdout, 3)).to.equal(
      'row 2 (line 3): conflict: requestId was already used for a request with another subject, vendors or regulation; nothing created',
    );
    expect(text.stdout).to.include(
      '4 rows: 0 accepted, 3 duplicates, 1 conflict (requestId used before for another payload), 0 rejected',
    );
    expect(text.stdout).not.to.match(/user-\d/);
  });

  it('reports every row of a chunk whose rows are all invalid as rejected with its field problem, and sends the rest of the file', async function () {
    const file = path.join(dir, 'bad-chunk.csv');
    const run = randomBytes(4).toString('hex');
    // --chunk-size 2: the first chunk is two invalid rows, the second two valid ones.
    writeFileSync(
      file,
      `requestId,userId,email,vendors\n${run}-1,,not-an-email,pinpoint\n${run}-2,user-2,,nosuchvendor\n${run}-3,user-3,,pinpoint\n${run}-4,user-4,,pinpoint\n`,
    );
    const res = await runCli(['submit', '--file', file, '--chunk-size', '2', '--json', ...serviceFlags(service)]);
    expect(res.code, res.stderr).to.equal(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.error, 'the file is not stopped').to.equal(undefined);
    expect(doc.summary).to.deep.equal({
      rows: 4,
      accepted: 2,
      duplicates: 0,
      conflicts: 0,
      rejected: 2,
      unreadable: 0,
      notProcessed: 0,
      complete: true,
    });
    expect(doc.results[0]).to.deep.equal({
      row: 1,
      line: 2,
      outcome: 'rejected',
      errors: [{ field: 'subject.email', problem: 'must be an e-mail address' }],
    });
    expect(doc.results[1]).to.deep.include({ row: 2, line: 3, outcome: 'rejected' });
    expect(doc.results[1].errors[0].field).to.equal('vendors.0');
    expect(doc.results.slice(2).map((r: { outcome: string }) => r.outcome)).to.deep.equal(['accepted', 'accepted']);

    const text = await runCli(['submit', '--file', file, '--chunk-size', '2', ...serviceFlags(service)]);
    expect(text.code, text.stderr).to.equal(0);
    expect(rowLine(text.stdout, 2)).to.include('rejected: subject.email must be an e-mail address');
    expect(text.stdout).to.include('4 rows: 0 accepted, 2 duplicates, 2 rejected');
    expect(text.stderr).not.to.include('no request in the bulk submission was valid');
  });

  it('reads JSON Lines (flat or native rows), rejects an invalid JSON line locally by its line number, and applies --vendor to rows without vendors', async function () {
    const file = path.join(dir, 'people.jsonl');
    writeFileSync(
      file,
      [
        JSON.stringify({ userId: 'user-1' }),
        '{"userId": "user-2", ',
        '',
        JSON.stringify({ subject: { userId: 'user-3' }, regulation: 'ccpa' }),
        JSON.stringify({ userId: 'user-4', vendors: 'pinpoint;nosuchvendor' }),
        '[1, 2]',
      ].join('\n'),
    );
    const res = await runCli(['submit', '--file', file, '--vendor', 'pinpoint', '--json', ...serviceFlags(service)]);
    expect(res.code, res.stderr).to.equal(0);
    const doc = JSON.parse(res.stdout);
    expect(doc.summary).to.deep.include({ rows: 5, accepted: 2, duplicates: 0, rejected: 3, unreadable: 2 });
    expect(doc.results.map((r: { line: number; outcome: string }) => `${r.line}:${r.outcome}`)).to.deep.equal([
      '1:accepted',
      '2:rejected',
      '4:accepted',
      '5:rejected',
      '6:rejected',
    ]);
    expect(doc.results[1].errors).to.deep.equal([{ field: '(line)', problem: 'is not valid JSON' }]);
    expect(doc.results[3].errors[0].field).to.equal('vendors.1');
    expect(doc.results[4].errors).to.deep.equal([{ field: '(line)', problem: 'is not a JSON object' }]);
    const ccpa = await service.api(`/v1/requests/${doc.results[2].id}`);
    expect(ccpa.body).to.deep.include({ regulation: 'ccpa', vendors: ['pinpoint'] });
  });

  it('refuses a CSV file with an unknown column before submitting anything (usage error, exit 2)', async () => {
    const file = path.join(dir, 'odd.csv');
    writeFileSync(file, 'userId,shoeSize\nuser-1,44\n');
    const res = await runCli(['submit', '--file', file, ...serviceFlags(service)]);
    expect(res.code).to.equal(2);
    expect(res.stderr).to.include('column 2 of the CSV header row is not a known column');
    const headerless = path.join(dir, 'headerless.csv');
    writeFileSync(headerless, 'user-1,ann@example.org\n');
    const noHeader = await runCli(['submit', '--file', headerless, ...serviceFlags(service)]);
    expect(noHeader.code).to.equal(2);
    expect(noHeader.stderr, 'a data row taken for a header is not echoed')
      .to.include('column 1 of the CSV header row')
      .and.not.to.include('ann@');
    expect(res.stdout).to.equal('');
    const missing = await runCli(['submit', '--file', path.join(dir, 'nope.csv'), ...serviceFlags(service)]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('cannot read');
  });

  it('stops with exit code 3 when the service cannot be reached, saying the rows were not submitted', async () => {
    const file = path.join(dir, 'few.csv');
    writeFileSync(file, 'userId\nuser-1\nuser-2\n');
    const res = await runCli(['submit', '--file', file, '--url', 'http://127.0.0.1:9', '--token', 'x'.repeat(20)]);
    expect(res.code).to.equal(3);
    expect(res.stdout).to.include('2 rows: 0 accepted, 0 duplicates, 0 rejected, 2 not submitted');
    expect(res.stderr).to.include('cannot reach http://127.0.0.1:9');
  });
});
