import { expect } from 'chai';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { allVersions, readText, s3Sdk } from '../support/aws-sandbox.js';
import { sandboxVendorSettings, startCrashRig, type CrashRig } from '../support/crash-rig.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { NO_POSTGRES } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';

const IMPORTS = S3_SANDBOX_BUCKETS.imports;
const LEGACY = S3_SANDBOX_BUCKETS.legacyExports;

async function start(batchWindowMs = 300): Promise<TestService> {
  return startTestService({
    subjects: 20,
    file: { sandbox: { subjects: 20, clockSpeed: 1, vendorOverrides: { s3: { batchWindowMs } } } },
  });
}

async function put(
  s3: S3Client,
  bucket: string,
  key: string,
  body: string | Buffer,
  contentType = 'text/plain',
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: body,
      ContentType: contentType,
      Metadata: { owner: 'marketing' },
    }),
  );
}

/** An NDJSON import line (vendor-contracts §1.7). */
const json = (address: string, userId: string, id: string) =>
  JSON.stringify({
    ChannelType: address.includes('@') ? 'EMAIL' : 'SMS',
    Address: address,
    Id: id,
    User: { UserId: userId },
  });

describe('Purging S3 import and export prefixes of a person’s rows', () => {
  let service: TestService;
  let s3: S3Client;

  beforeEach(async function () {
    // The shared-scan test needs a window that outlasts three submissions.
    service = await start(this.currentTest?.title.startsWith('serves several people') ? 3000 : 300);
    s3 = s3Sdk(service.sandbox!);
  });
  afterEach(async () => {
    s3?.destroy();
    await service?.close();
  });

  async function erase(subject: Record<string, string>): Promise<{
    status: string;
    tasks: Array<{ resource: string; state: string; evidence: Record<string, unknown>; error: string | null }>;
  }> {
    const submitted = await service.api('/v1/requests', { body: { subject, vendors: ['s3'] } });
    expect(submitted.status).to.equal(202);
    await service.waitForRequest(submitted.body.id, 30_000);
    return (await service.api(`/v1/requests/${submitted.body.id}`)).body;
  }

  it('rewrites CSV, NDJSON and gzipped files without the person’s rows, byte for byte for everyone else, and deletes every older version holding them', async function () {
    this.timeout(40_000);
    const csvOld = 'ChannelType,Address,Id,User.UserId\nEMAIL,ann@x.com,e1,u-ann\nEMAIL,bob@y.org,e2,u-bob\n';
    const csv =
      'ChannelType,Address,Id,User.UserId,Attributes.note\r\nEMAIL,"Ann@X.com",e1,u-ann,"says ""hi"", twice"\r\nEMAIL,bob@y.org,e2,u-bob,"a,b"\r\nSMS,+15550009999,e3,u-ann,\r\nEMAIL,joann@x.com,e4,u-jo,\r\n';
    await put(s3, IMPORTS, 'segments/custom/people.csv', csvOld, 'text/csv');
    await put(s3, IMPORTS, 'segments/custom/people.csv', csv, 'text/csv');
    const ndjson = [
      json('ann@x.com', 'u-ann', 'n1'),
      json('carol@z.net', 'u-carol', 'n2'),
      '',
      json('+15550009999', 'someone', 'n3'),
    ].join('\n');
    await put(s3, IMPORTS, 'segments/custom/people.json', ndjson, 'application/x-ndjson');
    const gz = `${json('dave@w.io', 'u-dave', 'g1')}\n${json('ANN@x.com', 'other', 'g2')}\n`;
    await put(s3, IMPORTS, 'archive/custom/people.json.gz', gzipSync(gz), 'application/gzip');

    const result = await erase({ email: 'ann@x.com', userId: 'u-ann' });
    expect(result.status).to.equal('completed');
    const segments = result.tasks.find((t) => t.resource === `location/${IMPORTS}/segments/`)!;
    expect(segments.state).to.equal('succeeded');
    expect(segments.evidence).to.include({ verification: 'verified_absent', versioned: true });
    expect(segments.evidence.rowsRemoved, 'two CSV rows (address, user id) and one NDJSON row').to.equal(3);

    expect(await readText(s3, IMPORTS, 'segments/custom/people.csv')).to.equal(
      'ChannelType,Address,Id,User.UserId,Attributes.note\r\nEMAIL,bob@y.org,e2,u-bob,"a,b"\r\nEMAIL,joann@x.com,e4,u-jo,\r\n',
    );
    expect(await readText(s3, IMPORTS, 'segments/custom/people.json')).to.equal(
      [json('carol@z.net', 'u-carol', 'n2'), '', json('+15550009999', 'someone', 'n3')].join('\n'),
    );
    expect(await readText(s3, IMPORTS, 'archive/custom/people.json.gz')).to.equal(
      `${json('dave@w.io', 'u-dave', 'g1')}\n`,
    );

    // Every version left: none holds the person; the rewritten ones are the only versions left of their keys.
    for (const prefix of ['segments/custom/', 'archive/custom/']) {
      const versions = await allVersions(s3, IMPORTS, prefix);
      expect(versions.filter((v) => v.marker)).to.deep.equal([]);
      expect(
        versions.every((v) => v.isLatest),
        `${prefix}: one version per key`,
      ).to.equal(true);
      for (const v of versions)
        expect(await readText(s3, IMPORTS, v.key, v.versionId)).to.not.match(/(^|[",])(ann@x\.com|u-ann)([",]|$)/im);
    }
    // Same format, same content type and metadata.
    const head = service.sandbox!.s3.store.versionsOf(IMPORTS, 'archive/custom/people.json.gz')[0];
    expect(head.body[0]).to.equal(0x1f);
    expect(head.contentType).to.equal('application/gzip');
    expect(head.metadata).to.deep.equal({ owner: 'marketing' });
  });

  it('only rewrites in an unversioned bucket, and leaves a user-id neighbour (user-42 vs user-421) alone', async function () {
    this.timeout(40_000);
    const text =
      [json('p1@x.com', 'user-42', 'a'), json('p2@x.com', 'user-421', 'b'), json('p3@x.com', 'User-42', 'c')].join(
        '\n',
      ) + '\n';
    await put(s3, LEGACY, 'pinpoint-export/custom/export.gz', gzipSync(text));
    const result = await erase({ userId: 'user-42' });
    const legacy = result.tasks.find((t) => t.resource === `location/${LEGACY}/pinpoint-export/`)!;
    expect(legacy.state).to.equal('succeeded');
    expect(legacy.evidence).to.include({ versioned: false, versionsDeleted: 0 });
    expect(await readText(s3, LEGACY, 'pinpoint-export/custom/export.gz')).to.equal(
      [json('p2@x.com', 'user-421', 'b'), json('p3@x.com', 'User-42', 'c')].join('\n') + '\n',
    );
    expect((await allVersions(s3, LEGACY, 'pinpoint-export/custom/')).map((v) => v.versionId)).to.deep.equal(['null']);
  });

  it('deletes an old version behind a delete marker, and the marker once it hides nothing; keeps a marker that still hides others’ data', async function () {
    this.timeout(40_000);
    await put(s3, IMPORTS, 'segments/gone/only-ann.json', `${json('ann@x.com', 'u-ann', 'x')}\n`);
    await s3.send(new DeleteObjectCommand({ Bucket: IMPORTS, Key: 'segments/gone/only-ann.json' }));
    await put(s3, IMPORTS, 'segments/gone/mixed.json', `${json('bob@y.org', 'u-bob', 'y')}\n`);
    await put(
      s3,
      IMPORTS,
      'segments/gone/mixed.json',
      `${json('ann@x.com', 'u-ann', 'x')}\n${json('bob@y.org', 'u-bob', 'y')}\n`,
    );
    await s3.send(new DeleteObjectCommand({ Bucket: IMPORTS, Key: 'segments/gone/mixed.json' }));

    const result = await erase({ email: 'ann@x.com' });
    expect(result.status).to.equal('completed');
    const versions = await allVersions(s3, IMPORTS, 'segments/gone/');
    expect(
      versions.filter((v) => v.key.endsWith('only-ann.json')),
      'nothing left of a key that held only the person',
    ).to.deep.equal([]);
    const mixed = versions.filter((v) => v.key.endsWith('mixed.json'));
    expect(mixed.map((v) => v.marker)).to.have.members([true, false]);
    expect(await readText(s3, IMPORTS, 'segments/gone/mixed.json', mixed.find((v) => !v.marker)!.versionId)).to.equal(
      `${json('bob@y.org', 'u-bob', 'y')}\n`,
    );
  });

  it('retries keys DeleteObjects reports as failed, and finishes', async function () {
    this.timeout(40_000);
    await put(s3, IMPORTS, 'segments/flaky/a.csv', 'Address\nann@x.com\nbob@y.org\n');
    await put(s3, IMPORTS, 'segments/flaky/a.csv', 'Address\nann@x.com\n');
    let failures = 0;
    service.sandbox!.s3.store.failDeleteKeys = (key) =>
      key === 'segments/flaky/a.csv' && failures++ < 2
        ? { Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' }
        : undefined;
    const result = await erase({ email: 'ann@x.com' });
    expect(result.status).to.equal('completed');
    expect(failures, 'two per-key errors, then success').to.be.at.least(3);
    const versions = await allVersions(s3, IMPORTS, 'segments/flaky/');
    expect(versions).to.have.length(1);
    expect(await readText(s3, IMPORTS, 'segments/flaky/a.csv')).to.equal('Address\n');
  });

  it('serves several people arriving in one window with one scan of each location', async function () {
    this.timeout(40_000);
    await service.api('/sandbox/stats/reset', { method: 'POST' });
    const ids: string[] = [];
    for (const i of [3, 4, 7])
      ids.push(
        (await service.api('/v1/requests', { body: { subject: { email: `user${i}@example.com` }, vendors: ['s3'] } }))
          .body.id,
      );
    for (const id of ids) await service.waitForRequest(id, 30_000);
    const batchIds = new Set<string>();
    for (const id of ids) {
      const status = (await service.api(`/v1/requests/${id}`)).body;
      expect(status.status).to.equal('completed');
      for (const task of status.tasks) batchIds.add(`${task.resource} ${task.evidence.batchId}`);
    }
    expect(batchIds.size, 'one batch per location, shared by all three').to.equal(3);
    const stats = (await service.api('/sandbox/stats')).body;
    expect(stats.s3.operations.GetBucketVersioning.calls, 'one scan per location').to.equal(3);
  });

  it('fails, never "not found", when a file cannot be read to its end', async function () {
    this.timeout(60_000);
    const gz = gzipSync(`${json('ann@x.com', 'u-ann', 'x')}\n`.repeat(50));
    await put(s3, IMPORTS, 'archive/broken/cut.json.gz', gz.subarray(0, gz.length - 30));
    const result = await erase({ email: 'ann@x.com' });
    const archive = result.tasks.find((t) => t.resource === `location/${IMPORTS}/archive/`)!;
    expect(archive.state).to.equal('failed');
    expect(archive.error).to.match(/shared batch failed \d+ times/);
    // Issue 17: the cause, not just the count.
    expect(archive.error).to.match(/; last cause: s3 ReadObject could not read an object to its end/);
    expect(result.status).to.not.equal('completed');
  });
});

describe('S3 purge: a worker process killed during the purge, then started again', () => {
  let rig: CrashRig | undefined;
  let s3: S3Client;

  before(async function () {
    this.timeout(60_000);
    rig = await startCrashRig({
      subjects: 100,
      queues: ['pinpoint', 's3'],
      vendors: (sandbox) => sandboxVendorSettings(sandbox),
    });
    if (!rig) skipBecause(this, NO_POSTGRES);
    s3 = s3Sdk(rig.sandbox);
  });
  after(async () => {
    s3?.destroy();
    await rig?.close();
  });

  it('completes after the restart, with the person in no version of any file', async function () {
    this.timeout(90_000);
    await rig!.startWorker();
    const csvKey = 'segments/csv/batch-0000.csv';
    const versionsBefore = rig!.sandbox.s3.store.versionsOf(IMPORTS, csvKey).length;
    // What the purge of segments/ is to remove (rows with the e-mail, the only identifier given), read from the simulator before it starts.
    const rowsOfPerson = (body: Buffer) =>
      (body[0] === 0x1f && body[1] === 0x8b ? gunzipSync(body) : body)
        .toString('utf8')
        .split('\n')
        .filter((line) => /(^|[",])user42@example\.com([",]|$)/.test(line)).length;
    const currentHolding = [...rig!.sandbox.s3.store.bucket(IMPORTS).objects]
      .filter(
        ([key, versions]) =>
          key.startsWith('segments/') && !versions[0].isDeleteMarker && rowsOfPerson(versions[0].body) > 0,
      )
      .map(([, versions]) => rowsOfPerson(versions[0].body));
    expect(currentHolding.length, 'files holding the person').to.be.greaterThan(0);
    rig!.sandbox.faults.set('s3', { latencyMs: 400 });
    const id = await rig!.submit({ subject: { email: 'user42@example.com' }, vendors: ['s3'] });
    // Killed once the CSV has its rewritten version but before the old ones holding the person are deleted.
    await waitFor(async () => rig!.sandbox.s3.store.versionsOf(IMPORTS, csvKey).length > versionsBefore, 60_000, 10);
    rig!.killWorkers();
    rig!.sandbox.faults.set('s3', { latencyMs: 0 });
    const heldAtCrash = rig!.sandbox.s3.store
      .versionsOf(IMPORTS, csvKey)
      .filter((v) => v.body.toString().includes('user42@example.com'));
    expect(heldAtCrash.length, 'old versions still held the person when the worker died').to.be.greaterThan(0);
    await rig!.startWorker();

    const request = await rig!.finished(id);
    expect(request.status).to.equal('completed');
    for (const task of await rig!.service.ledger.tasks.getTasks(id)) {
      expect(task.state).to.equal('succeeded');
      expect(task.evidence.verification).to.equal('verified_absent');
    }
    // The rewrite the killed worker made is counted (its intent was written ahead), not lost with it.
    const segments = (await rig!.service.ledger.tasks.getTasks(id)).find(
      (t) => t.resource === `location/${IMPORTS}/segments/`,
    )!;
    expect(segments.evidence, 'segments/ evidence after the crash').to.include({
      objectsRewritten: currentHolding.length,
      rowsRemoved: currentHolding.reduce((a, b) => a + b, 0),
    });
    for (const [bucket, prefix] of [
      [IMPORTS, 'segments/'],
      [IMPORTS, 'archive/'],
      [LEGACY, 'pinpoint-export/'],
    ] as const) {
      for (const v of await allVersions(s3, bucket, prefix))
        if (!v.marker)
          expect(await readText(s3, bucket, v.key, v.versionId), `${bucket}/${v.key}@${v.versionId}`)
            .to.not.include('"user42@example.com"')
            .and.not.include(',user42@example.com,');
    }
  });
});
