import { expect } from 'chai';
import http from 'node:http';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  S3Client,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3ServiceException,
  type ListObjectVersionsCommandOutput,
  type ObjectIdentifier,
} from '@aws-sdk/client-s3';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { S3_SANDBOX_BUCKETS, S3_SEED_PREFIXES } from '../../src/sandbox/s3/s3-seed.js';
import { failDeletesOf } from '../../src/sandbox/s3/s3-store.js';

function s3Client(
  sandbox: Sandbox,
  options: {
    maxAttempts?: number;
    accessKeyId?: string;
    forcePathStyle?: boolean;
    endpoint?: string;
    agent?: http.Agent;
  } = {},
): S3Client {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  return new S3Client({
    endpoint: options.endpoint ?? sandbox.vendors.s3.baseUrl,
    forcePathStyle: options.forcePathStyle ?? true,
    region,
    credentials: { accessKeyId: options.accessKeyId ?? accessKeyId, secretAccessKey },
    maxAttempts: options.maxAttempts ?? 1,
    ...(options.agent ? { requestHandler: { httpAgent: options.agent } } : {}),
  });
}

async function failure(promise: Promise<unknown>): Promise<S3ServiceException> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, 'the call should have failed').to.be.instanceOf(S3ServiceException);
  return outcome as S3ServiceException;
}

/** Writes objects through the SDK with a few requests in flight. */
async function putAll(
  client: S3Client,
  bucket: string,
  keys: string[],
  body: (key: string) => string = (k) => `body of ${k}`,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++];
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body(key) }));
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

async function createBucket(client: S3Client, bucket: string, versioning?: 'Enabled' | 'Suspended'): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  if (versioning)
    await client.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: versioning } }),
    );
}

/** Versions and markers of one listing page as `key@versionId`, in the order S3 lists them. */
function entriesOf(
  page: ListObjectVersionsCommandOutput,
): Array<{ key: string; versionId: string; isLatest: boolean; marker: boolean }> {
  const all = [
    ...(page.Versions ?? []).map((v) => ({
      key: v.Key!,
      versionId: v.VersionId!,
      isLatest: v.IsLatest!,
      marker: false,
      at: v.LastModified!,
    })),
    ...(page.DeleteMarkers ?? []).map((m) => ({
      key: m.Key!,
      versionId: m.VersionId!,
      isLatest: m.IsLatest!,
      marker: true,
      at: m.LastModified!,
    })),
  ];
  return all.map(({ key, versionId, isLatest, marker }) => ({ key, versionId, isLatest, marker }));
}

describe('S3 simulator, driven by @aws-sdk/client-s3', () => {
  let sandbox: Sandbox;
  let client: S3Client;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    client = s3Client(sandbox);
  });
  afterEach(async () => {
    client.destroy();
    await sandbox.close();
  });

  describe('seed', () => {
    it('has the import, legacy export and empty export buckets, with a person’s rows beside other people’s', async () => {
      const buckets = await client.send(new ListBucketsCommand({}));
      expect(buckets.Buckets?.map((b) => b.Name)).to.include.members(Object.values(S3_SANDBOX_BUCKETS));
      const empty = await client.send(new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.exports }));
      expect(empty.KeyCount).to.equal(0);

      const csv = await client.send(
        new GetObjectCommand({
          Bucket: S3_SANDBOX_BUCKETS.imports,
          Key: `${S3_SEED_PREFIXES.csvImports}batch-0000.csv`,
        }),
      );
      const text = await csv.Body!.transformToString();
      expect(text.split('\n')[0]).to.match(/^ChannelType,Address,Id,User\.UserId/);
      expect(text).to.include('user7@example.com').and.to.include('user8@example.com').and.to.include('+15550000007');

      const legacy = await client.send(
        new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Prefix: S3_SEED_PREFIXES.legacyExports }),
      );
      const exported = await client.send(
        new GetObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Key: legacy.Contents![0].Key! }),
      );
      const lines = gunzipSync(await exported.Body!.transformToByteArray())
        .toString('utf8')
        .trim()
        .split('\n');
      const addresses = lines.map((l) => (JSON.parse(l) as { Address: string }).Address);
      expect(addresses).to.include.members(['user0@example.com', 'user19@example.com']);
    });

    it('keeps rows the current import file dropped in an older version, and hides a retired file behind a delete marker', async () => {
      const bucket = S3_SANDBOX_BUCKETS.imports;
      const key = `${S3_SEED_PREFIXES.csvImports}batch-0000.csv`;
      const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      expect(versions.Versions).to.have.length(2);
      const [current, older] = versions.Versions!;
      expect(current.IsLatest).to.equal(true);
      const currentText = await (
        await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
      ).Body!.transformToString();
      const olderText = await (
        await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: older.VersionId }))
      ).Body!.transformToString();
      expect(currentText).not.to.include('user5@example.com');
      expect(olderText).to.include('user5@example.com');
      expect(currentText).to.include('user4@example.com');

      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: S3_SEED_PREFIXES.ndjsonImports }),
      );
      expect(listed.Contents?.map((c) => c.Key)).to.deep.equal([`${S3_SEED_PREFIXES.ndjsonImports}batch-0000.json`]);
      const retired = await client.send(
        new ListObjectVersionsCommand({ Bucket: bucket, Prefix: `${S3_SEED_PREFIXES.ndjsonImports}retired-` }),
      );
      expect(retired.DeleteMarkers?.[0]?.IsLatest).to.equal(true);
      expect(retired.Versions?.[0]?.IsLatest).to.equal(false);
    });
  });

  describe('versioning and deletes', () => {
    it('leaves the data as a noncurrent version behind a delete marker after a DELETE without VersionId', async () => {
      const bucket = S3_SANDBOX_BUCKETS.exports;
      const put = await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'exports/job-1/part-0.gz',
          Body: gzipSync('{"Address":"a@x.com"}\n'),
        }),
      );
      expect(put.VersionId).to.be.a('string').and.not.equal('null');

      const deleted = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'exports/job-1/part-0.gz' }));
      expect(deleted.$metadata.httpStatusCode).to.equal(204);
      expect(deleted.DeleteMarker).to.equal(true);
      expect(deleted.VersionId).to.be.a('string').and.not.equal(put.VersionId);

      const hidden = await failure(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'exports/job-1/part-0.gz' })),
      );
      expect(hidden.name).to.equal('NoSuchKey');
      expect(hidden.$response?.headers?.['x-amz-delete-marker']).to.equal('true');
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'exports/' }));
      expect(listed.KeyCount).to.equal(0);

      const versions = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'exports/' }));
      expect(versions.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest])).to.deep.equal([[deleted.VersionId, true]]);
      expect(versions.Versions?.map((v) => [v.VersionId, v.IsLatest])).to.deep.equal([[put.VersionId, false]]);

      const old = await client.send(
        new GetObjectCommand({ Bucket: bucket, Key: 'exports/job-1/part-0.gz', VersionId: put.VersionId }),
      );
      expect(gunzipSync(await old.Body!.transformToByteArray()).toString()).to.equal('{"Address":"a@x.com"}\n');
    });

    it('makes a key vanish from ListObjectVersions once every version and marker is deleted by VersionId', async () => {
      const bucket = S3_SANDBOX_BUCKETS.exports;
      const v1 = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'purge/me.json', Body: 'one' }));
      const v2 = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'purge/me.json', Body: 'two' }));
      const marker = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'purge/me.json' }));
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'purge/neighbour.json', Body: 'stays' }));

      const listing = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'purge/me.json' }));
      const objects: ObjectIdentifier[] = entriesOf(listing).map((e) => ({ Key: e.key, VersionId: e.versionId }));
      expect(objects).to.have.length(3);
      const out = await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects } }));
      expect(out.$metadata.httpStatusCode).to.equal(200);
      expect(out.Errors ?? []).to.have.length(0);
      const markerEntry = out.Deleted?.find((d) => d.VersionId === marker.VersionId);
      expect(markerEntry?.DeleteMarker).to.equal(true);
      expect(markerEntry?.DeleteMarkerVersionId).to.equal(marker.VersionId);
      expect(out.Deleted?.find((d) => d.VersionId === v1.VersionId)?.DeleteMarker).to.equal(undefined);

      const after = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'purge/' }));
      expect(entriesOf(after).map((e) => e.key)).to.deep.equal(['purge/neighbour.json']);
      const gone = await failure(
        client.send(new GetObjectCommand({ Bucket: bucket, Key: 'purge/me.json', VersionId: v2.VersionId })),
      );
      expect(gone.name).to.equal('NoSuchVersion');
    });

    it('removes an object for good in an unversioned bucket, with version id null before', async () => {
      const bucket = S3_SANDBOX_BUCKETS.legacyExports;
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      const key = listed.Contents![0].Key!;
      const before = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      expect(before.Versions?.map((v) => v.VersionId)).to.deep.equal(['null']);

      const deleted = await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      expect(deleted.$metadata.httpStatusCode).to.equal(204);
      expect(deleted.DeleteMarker).to.equal(undefined);
      const after = await client.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }));
      expect(entriesOf(after)).to.have.length(0);
      expect((await failure(client.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).name).to.equal(
        'NoSuchKey',
      );
    });

    it('in a suspended bucket replaces the null version and deletes by putting a null delete marker, keeping older versions', async () => {
      await createBucket(client, 'contract-suspended', 'Enabled');
      const v1 = await client.send(new PutObjectCommand({ Bucket: 'contract-suspended', Key: 'k', Body: 'versioned' }));
      await client.send(
        new PutBucketVersioningCommand({
          Bucket: 'contract-suspended',
          VersioningConfiguration: { Status: 'Suspended' },
        }),
      );
      expect((await client.send(new GetBucketVersioningCommand({ Bucket: 'contract-suspended' }))).Status).to.equal(
        'Suspended',
      );

      await client.send(new PutObjectCommand({ Bucket: 'contract-suspended', Key: 'k', Body: 'null one' }));
      await client.send(new PutObjectCommand({ Bucket: 'contract-suspended', Key: 'k', Body: 'null two' }));
      const listing = await client.send(new ListObjectVersionsCommand({ Bucket: 'contract-suspended' }));
      expect(entriesOf(listing).map((e) => e.versionId)).to.deep.equal(['null', v1.VersionId]);
      const current = await client.send(new GetObjectCommand({ Bucket: 'contract-suspended', Key: 'k' }));
      expect(await current.Body!.transformToString()).to.equal('null two');

      const deleted = await client.send(new DeleteObjectCommand({ Bucket: 'contract-suspended', Key: 'k' }));
      expect(deleted.DeleteMarker).to.equal(true);
      expect(deleted.VersionId).to.equal('null');
      const after = await client.send(new ListObjectVersionsCommand({ Bucket: 'contract-suspended' }));
      expect(after.DeleteMarkers?.map((m) => [m.VersionId, m.IsLatest])).to.deep.equal([['null', true]]);
      expect(after.Versions?.map((v) => v.VersionId)).to.deep.equal([v1.VersionId]);
      const old = await client.send(
        new GetObjectCommand({ Bucket: 'contract-suspended', Key: 'k', VersionId: v1.VersionId }),
      );
      expect(await old.Body!.transformToString()).to.equal('versioned');
    });

    it('reports an unversioned bucket’s versioning as unset and refuses a status other than Enabled or Suspended', async () => {
      const unset = await client.send(new GetBucketVersioningCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports }));
      expect(unset.Status).to.equal(undefined);
      const err = await failure(
        client.send(
          new PutBucketVersioningCommand({
            Bucket: S3_SANDBOX_BUCKETS.legacyExports,
            VersioningConfiguration: { Status: 'Off' as 'Enabled' },
          }),
        ),
      );
      expect(err.name).to.equal('MalformedXML');
    });
  });

  describe('DeleteObjects', () => {
    it('rejects 1,001 keys with 400 MalformedXML and deletes none of them', async () => {
      const key = `${S3_SEED_PREFIXES.ndjsonImports}batch-0000.json`;
      const Objects = [{ Key: key }, ...Array.from({ length: 1000 }, (_, i) => ({ Key: `missing/${i}` }))];
      const err = await failure(
        client.send(new DeleteObjectsCommand({ Bucket: S3_SANDBOX_BUCKETS.imports, Delete: { Objects } })),
      );
      expect(err.name).to.equal('MalformedXML');
      expect(err.$metadata.httpStatusCode).to.equal(400);
      const still = await client.send(new GetObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.imports, Key: key }));
      expect(still.$metadata.httpStatusCode).to.equal(200);
    });

    it('accepts exactly 1,000 keys and reports keys that never existed as Deleted', async () => {
      const Objects = Array.from({ length: 1000 }, (_, i) => ({ Key: `never/${i}` }));
      const out = await client.send(
        new DeleteObjectsCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Delete: { Objects } }),
      );
      expect(out.Deleted).to.have.length(1000);
      expect(out.Errors ?? []).to.have.length(0);
    });

    it('answers only errors in Quiet mode', async () => {
      const bucket = S3_SANDBOX_BUCKETS.legacyExports;
      await putAll(client, bucket, ['q/a', 'q/b', 'q/c']);
      sandbox.s3.store.failDeleteKeys = failDeletesOf(['q/b']);
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [{ Key: 'q/a' }, { Key: 'q/b' }, { Key: 'q/c' }], Quiet: true },
        }),
      );
      expect(out.Deleted ?? []).to.have.length(0);
      expect(out.Errors?.map((e) => [e.Key, e.Code])).to.deep.equal([['q/b', 'AccessDenied']]);
      const left = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'q/' }));
      expect(left.Contents?.map((c) => c.Key)).to.deep.equal(['q/b']);
    });

    it('puts injected per-key failures in Errors of a 200 and deletes the other keys', async () => {
      const bucket = S3_SANDBOX_BUCKETS.exports;
      const put = await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'x/denied', Body: 'secret' }));
      await putAll(client, bucket, ['x/ok', 'x/broken']);
      sandbox.s3.store.failDeleteKeys = (key, versionId) =>
        key === 'x/denied' && versionId === put.VersionId
          ? { Code: 'AccessDenied', Message: 'Access Denied' }
          : key === 'x/broken'
            ? { Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' }
            : undefined;
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [{ Key: 'x/denied', VersionId: put.VersionId }, { Key: 'x/ok' }, { Key: 'x/broken' }] },
        }),
      );
      expect(out.$metadata.httpStatusCode).to.equal(200);
      expect(out.Errors?.map((e) => [e.Key, e.VersionId, e.Code])).to.deep.equal([
        ['x/denied', put.VersionId, 'AccessDenied'],
        ['x/broken', undefined, 'InternalError'],
      ]);
      expect(out.Deleted?.map((d) => [d.Key, d.DeleteMarker])).to.deep.equal([['x/ok', true]]);
      const single = await failure(
        client.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'x/denied', VersionId: put.VersionId })),
      );
      expect(single.name).to.equal('AccessDenied');
      expect(single.$metadata.httpStatusCode).to.equal(403);

      sandbox.s3.store.failDeleteKeys = undefined;
      const retried = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [{ Key: 'x/denied', VersionId: put.VersionId }] },
        }),
      );
      expect(retried.Deleted?.map((d) => d.VersionId)).to.deep.equal([put.VersionId]);
    });

    it('refuses a request that carries neither Content-MD5 nor a checksum header', async () => {
      client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { headers: Record<string, string> };
          for (const name of Object.keys(request.headers)) {
            if (name.toLowerCase().startsWith('x-amz-checksum-') || name.toLowerCase() === 'content-md5')
              Reflect.deleteProperty(request.headers, name);
          }
          return next(args);
        },
        { step: 'deserialize', name: 'stripIntegrityHeaders' },
      );
      const err = await failure(
        client.send(
          new DeleteObjectsCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Delete: { Objects: [{ Key: 'a' }] } }),
        ),
      );
      expect(err.$metadata.httpStatusCode).to.equal(400);
      expect(err.name).to.equal('InvalidRequest');
    });
  });

  describe('listing', () => {
    it('pages 2,500 keys in three pages of at most 1,000, all keys once and in order, by hand and with the SDK paginator', async () => {
      await createBucket(client, 'contract-listing');
      const keys = Array.from({ length: 2500 }, (_, i) => `k/${String(i).padStart(5, '0')}`);
      await putAll(client, 'contract-listing', [...keys].reverse());

      const pages: string[][] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: 'contract-listing', MaxKeys: 5000, ContinuationToken: token }),
        );
        expect(page.KeyCount).to.equal(page.Contents?.length);
        expect(page.IsTruncated).to.equal(page.NextContinuationToken !== undefined);
        pages.push(page.Contents!.map((c) => c.Key!));
        token = page.NextContinuationToken;
      } while (token);
      expect(pages.map((p) => p.length)).to.deep.equal([1000, 1000, 500]);
      expect(pages.flat()).to.deep.equal(keys);

      const viaPaginator: string[] = [];
      for await (const page of paginateListObjectsV2({ client, pageSize: 700 }, { Bucket: 'contract-listing' })) {
        viaPaginator.push(...(page.Contents ?? []).map((c) => c.Key!));
      }
      expect(viaPaginator).to.deep.equal(keys);
    });

    it('orders keys by UTF-8 bytes, not by UTF-16 code units', async () => {
      await createBucket(client, 'contract-order');
      const keys = ['a', 'B', '\uFF21', '\u{1F600}', 'é'];
      await putAll(client, 'contract-order', keys);
      const out = await client.send(new ListObjectsV2Command({ Bucket: 'contract-order' }));
      const expected = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      expect(expected).to.deep.equal(['B', 'a', 'é', '\uFF21', '\u{1F600}']);
      expect(out.Contents?.map((c) => c.Key)).to.deep.equal(expected);
    });

    it('rolls keys up into CommonPrefixes with a delimiter, counting them toward MaxKeys, and honours StartAfter', async () => {
      await createBucket(client, 'contract-prefixes');
      await putAll(client, 'contract-prefixes', ['top.txt', 'a/1', 'a/2', 'b/1', 'c/x/1', 'd']);
      const first = await client.send(
        new ListObjectsV2Command({ Bucket: 'contract-prefixes', Delimiter: '/', MaxKeys: 2 }),
      );
      expect(first.CommonPrefixes?.map((p) => p.Prefix)).to.deep.equal(['a/', 'b/']);
      expect(first.KeyCount).to.equal(2);
      expect(first.IsTruncated).to.equal(true);
      const rest = await client.send(
        new ListObjectsV2Command({
          Bucket: 'contract-prefixes',
          Delimiter: '/',
          ContinuationToken: first.NextContinuationToken,
        }),
      );
      expect(rest.CommonPrefixes?.map((p) => p.Prefix)).to.deep.equal(['c/']);
      expect(rest.Contents?.map((c) => c.Key)).to.deep.equal(['d', 'top.txt']);
      expect(rest.ContinuationToken).to.equal(first.NextContinuationToken);

      const after = await client.send(
        new ListObjectsV2Command({ Bucket: 'contract-prefixes', StartAfter: 'a/1', Prefix: 'a/' }),
      );
      expect(after.Contents?.map((c) => c.Key)).to.deep.equal(['a/2']);
      expect(after.StartAfter).to.equal('a/1');
    });

    it('answers a continuation token it did not issue with 400 InvalidArgument', async () => {
      const err = await failure(
        client.send(
          new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.imports, ContinuationToken: 'bm90LWEtdG9rZW4=' }),
        ),
      );
      expect(err.name).to.equal('InvalidArgument');
      expect(err.$metadata.httpStatusCode).to.equal(400);
      expect(err.message).to.equal('The continuation token provided is incorrect');
    });

    it('pages ListObjectVersions with key and version-id markers, versions and delete markers counting together', async () => {
      await createBucket(client, 'contract-versions', 'Enabled');
      const expected: string[] = [];
      const write = async (key: string, n: number) => {
        const ids: string[] = [];
        for (let i = 0; i < n; i++)
          ids.push(
            (await client.send(new PutObjectCommand({ Bucket: 'contract-versions', Key: key, Body: `${key}-${i}` })))
              .VersionId!,
          );
        return ids;
      };
      const a = await write('a', 3);
      const b = await write('b', 2);
      const bMarker = (await client.send(new DeleteObjectCommand({ Bucket: 'contract-versions', Key: 'b' })))
        .VersionId!;
      const c = await write('c', 1);
      expected.push(
        ...[...a].reverse().map((v) => `a@${v}`),
        `b@${bMarker}`,
        ...[...b].reverse().map((v) => `b@${v}`),
        ...c.map((v) => `c@${v}`),
      );

      for (const maxKeys of [2, 3]) {
        const seen: string[] = [];
        let keyMarker: string | undefined;
        let versionIdMarker: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await client.send(
            new ListObjectVersionsCommand({
              Bucket: 'contract-versions',
              MaxKeys: maxKeys,
              KeyMarker: keyMarker,
              VersionIdMarker: versionIdMarker,
            }),
          );
          const entries = entriesOf(page).map((e) => `${e.key}@${e.versionId}`);
          expect(new Set(entries), `page ${pages} at max-keys ${maxKeys}`).to.deep.equal(
            new Set(expected.slice(seen.length, seen.length + maxKeys)),
          );
          seen.push(...expected.slice(seen.length, seen.length + entries.length));
          pages += 1;
          if (!page.IsTruncated) break;
          keyMarker = page.NextKeyMarker;
          versionIdMarker = page.NextVersionIdMarker;
        }
        expect(seen).to.deep.equal(expected);
        expect(pages).to.equal(Math.ceil(expected.length / maxKeys));
      }
      const all = await client.send(new ListObjectVersionsCommand({ Bucket: 'contract-versions' }));
      expect(
        entriesOf(all)
          .filter((e) => e.isLatest)
          .map((e) => `${e.key}@${e.versionId}`),
      ).to.have.members([`a@${a[2]}`, `b@${bMarker}`, `c@${c[0]}`]);
    });

    it('caps a ListObjectVersions page at 1,000 entries over a key with 1,050 versions', async () => {
      await createBucket(client, 'contract-many', 'Enabled');
      await putAll(
        client,
        'contract-many',
        Array.from({ length: 1050 }, () => 'same-key'),
      );
      const first = await client.send(new ListObjectVersionsCommand({ Bucket: 'contract-many', MaxKeys: 5000 }));
      expect(first.Versions).to.have.length(1000);
      expect(first.IsTruncated).to.equal(true);
      expect(first.NextKeyMarker).to.equal('same-key');
      expect(first.NextVersionIdMarker).to.equal(first.Versions!.at(-1)!.VersionId);
      const second = await client.send(
        new ListObjectVersionsCommand({
          Bucket: 'contract-many',
          KeyMarker: first.NextKeyMarker,
          VersionIdMarker: first.NextVersionIdMarker,
        }),
      );
      expect(second.Versions).to.have.length(50);
      expect(second.IsTruncated).to.equal(false);
      const ids = new Set([...first.Versions!, ...second.Versions!].map((v) => v.VersionId));
      expect(ids.size).to.equal(1050);
    });

    it('resumes ListObjectVersions after a version-id marker whose version was deleted in between, as a purge does', async () => {
      await createBucket(client, 'contract-purge', 'Enabled');
      const ids: string[] = [];
      for (let i = 0; i < 5; i++)
        ids.push(
          (await client.send(new PutObjectCommand({ Bucket: 'contract-purge', Key: 'k', Body: String(i) }))).VersionId!,
        );
      const first = await client.send(new ListObjectVersionsCommand({ Bucket: 'contract-purge', MaxKeys: 2 }));
      expect(first.Versions?.map((v) => v.VersionId)).to.deep.equal([ids[4], ids[3]]);
      await client.send(
        new DeleteObjectsCommand({
          Bucket: 'contract-purge',
          Delete: { Objects: first.Versions!.map((v) => ({ Key: v.Key!, VersionId: v.VersionId! })) },
        }),
      );
      const next = await client.send(
        new ListObjectVersionsCommand({
          Bucket: 'contract-purge',
          MaxKeys: 2,
          KeyMarker: first.NextKeyMarker,
          VersionIdMarker: first.NextVersionIdMarker,
        }),
      );
      expect(next.Versions?.map((v) => v.VersionId)).to.deep.equal([ids[2], ids[1]]);
      const bogus = await failure(
        client.send(
          new ListObjectVersionsCommand({ Bucket: 'contract-purge', KeyMarker: 'k', VersionIdMarker: 'not-a-version' }),
        ),
      );
      expect(bogus.name).to.equal('InvalidArgument');
    });
  });

  describe('objects', () => {
    it('round-trips gzip objects byte for byte, from a buffer and from a streamed aws-chunked upload, with a checksum the SDK validates', async () => {
      const bucket = S3_SANDBOX_BUCKETS.exports;
      const gz = gzipSync(
        Buffer.from(Array.from({ length: 2000 }, (_, i) => `{"Address":"user${i}@example.com"}\n`).join('')),
      );
      await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: 'gz/buffer.gz', Body: gz, ContentType: 'application/gzip' }),
      );
      const streamed = await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: 'gz/stream.gz',
          Body: Readable.from([gz.subarray(0, 1000), gz.subarray(1000)]),
          ContentLength: gz.length,
        }),
      );
      expect(streamed.ChecksumCRC32).to.be.a('string');

      for (const key of ['gz/buffer.gz', 'gz/stream.gz']) {
        const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ChecksumMode: 'ENABLED' }));
        expect(got.ChecksumCRC32, key).to.be.a('string');
        expect(got.ContentLength).to.equal(gz.length);
        const bytes = Buffer.from(await got.Body!.transformToByteArray());
        expect(bytes.equals(gz), key).to.equal(true);
      }
      const listed = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'gz/' }));
      expect(listed.Contents?.map((c) => c.Size)).to.deep.equal([gz.length, gz.length]);
      expect(listed.Contents?.[0]?.ETag).to.match(/^"[0-9a-f]{32}"$/);
    });

    it('answers 404 NoSuchBucket and NoSuchKey with S3 error XML and a request id', async () => {
      const noBucket = await failure(client.send(new GetObjectCommand({ Bucket: 'no-such-bucket', Key: 'k' })));
      expect(noBucket.name).to.equal('NoSuchBucket');
      expect(noBucket.$metadata.httpStatusCode).to.equal(404);
      expect(noBucket.$metadata.requestId).to.match(/^[0-9A-F]{16}$/);
      const noKey = await failure(
        client.send(new GetObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.imports, Key: 'nothing/here' })),
      );
      expect(noKey.name).to.equal('NoSuchKey');
      expect((noKey as S3ServiceException & { Key?: string }).Key).to.equal('nothing/here');
      const head = await failure(client.send(new HeadBucketCommand({ Bucket: 'no-such-bucket' })));
      expect(head.$metadata.httpStatusCode).to.equal(404);
    });

    it('refuses an unknown access key with 403 InvalidAccessKeyId', async () => {
      const stranger = s3Client(sandbox, { accessKeyId: 'AKIASTRANGER' });
      const err = await failure(stranger.send(new ListBucketsCommand({})));
      expect(err.name).to.equal('InvalidAccessKeyId');
      expect(err.$metadata.httpStatusCode).to.equal(403);
      stranger.destroy();
    });

    it('refuses a request without an Authorization header with 403 AccessDenied', async () => {
      client.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { headers: Record<string, string> };
          for (const name of Object.keys(request.headers))
            if (name.toLowerCase() === 'authorization') Reflect.deleteProperty(request.headers, name);
          return next(args);
        },
        { step: 'deserialize', name: 'stripAuthorization' },
      );
      const err = await failure(client.send(new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.imports })));
      expect(err.name).to.equal('AccessDenied');
    });

    it('serves virtual-hosted-style requests (bucket in the Host name)', async () => {
      // `sandbox-pinpoint-exports.localhost` has no DNS entry here, so the agent resolves every name to loopback.
      const lookup = (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
        options.all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
      };
      const agent = new http.Agent({ lookup: lookup as unknown as http.AgentOptions['lookup'] });
      const port = new URL(sandbox.vendors.s3.baseUrl).port;
      const virtual = s3Client(sandbox, { forcePathStyle: false, endpoint: `http://localhost:${port}`, agent });
      const sent: Array<{ hostname: string; path: string }> = [];
      virtual.middlewareStack.add(
        (next) => async (args) => {
          const request = args.request as { hostname: string; path: string };
          sent.push({ hostname: request.hostname, path: request.path });
          return next(args);
        },
        { step: 'deserialize', name: 'recordHost' },
      );
      await virtual.send(
        new PutObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.exports, Key: 'vhost/a.txt', Body: 'hello' }),
      );
      const listed = await client.send(
        new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.exports, Prefix: 'vhost/' }),
      );
      expect(listed.Contents?.map((c) => c.Key)).to.deep.equal(['vhost/a.txt']);
      expect(sent).to.deep.equal([{ hostname: `${S3_SANDBOX_BUCKETS.exports}.localhost`, path: '/vhost/a.txt' }]);
      virtual.destroy();
      agent.destroy();
    });
  });

  describe('throttling and faults', () => {
    it('lets the SDK’s own retries see 503 SlowDown, and shows SlowDown to a client that does not retry', async () => {
      sandbox.faults.set('s3', { throttleForMs: 60_000 });
      const retrying = s3Client(sandbox, { maxAttempts: 3 });
      const retried = await failure(retrying.send(new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.imports })));
      expect(retried.name).to.equal('SlowDown');
      expect(retried.$metadata.attempts).to.equal(3);
      retrying.destroy();

      const once = await failure(client.send(new ListObjectsV2Command({ Bucket: S3_SANDBOX_BUCKETS.imports })));
      expect(once.name).to.equal('SlowDown');
      expect(once.$metadata.httpStatusCode).to.equal(503);
      expect(once.$metadata.attempts).to.equal(1);
      expect(sandbox.stats.snapshot().s3.operations.ListObjectsV2.throttled).to.equal(4);
    });

    it('answers 500 InternalError when the error-rate fault is on', async () => {
      sandbox.faults.set('s3', { errorRate: 1 });
      const err = await failure(client.send(new HeadBucketCommand({ Bucket: S3_SANDBOX_BUCKETS.imports })));
      expect(err.$metadata.httpStatusCode).to.equal(500);
      const get = await failure(client.send(new GetObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.imports, Key: 'x' })));
      expect(get.name).to.equal('InternalError');
    });
  });

  describe('per-prefix request rates', () => {
    let throttled: Sandbox;
    beforeEach(async () => {
      throttled = await startSandbox({ subjects: 20, s3: { readsPerSecond: 2, writesPerSecond: 50 } });
    });
    afterEach(async () => {
      await throttled.close();
    });

    it('answers one hot prefix with 503 SlowDown while another prefix is still served, and counts the throttled calls', async () => {
      const c = s3Client(throttled);
      const bucket = S3_SANDBOX_BUCKETS.exports;
      await putAll(c, bucket, ['hot/a', 'cold/b']);
      const results = await Promise.all(
        Array.from({ length: 6 }, () =>
          c.send(new GetObjectCommand({ Bucket: bucket, Key: 'hot/a' })).catch((e: unknown) => e),
        ),
      );
      const slowDowns = results.filter(
        (r) => r instanceof S3ServiceException && r.name === 'SlowDown',
      ) as S3ServiceException[];
      expect(slowDowns.length).to.be.at.least(4);
      expect(slowDowns[0].$metadata.httpStatusCode).to.equal(503);
      const cold = await c.send(new GetObjectCommand({ Bucket: bucket, Key: 'cold/b' }));
      expect(await cold.Body!.transformToString()).to.equal('body of cold/b');
      expect(throttled.stats.snapshot().s3.operations.GetObject.throttled).to.equal(slowDowns.length);
      c.destroy();
    });

    it('counts every key of a DeleteObjects against the write budget of its prefix', async () => {
      const c = s3Client(throttled);
      const Objects = Array.from({ length: 200 }, (_, i) => ({ Key: `bulk/${i}` }));
      const first = await c.send(
        new DeleteObjectsCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Delete: { Objects, Quiet: true } }),
      );
      expect(first.$metadata.httpStatusCode).to.equal(200);
      const err = await failure(
        c.send(new DeleteObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Key: 'bulk/1' })),
      );
      expect(err.name).to.equal('SlowDown');
      const elsewhere = await c.send(
        new DeleteObjectCommand({ Bucket: S3_SANDBOX_BUCKETS.legacyExports, Key: 'other/1' }),
      );
      expect(elsewhere.$metadata.httpStatusCode).to.equal(204);
      c.destroy();
    });
  });
});
