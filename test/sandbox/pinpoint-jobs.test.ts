import { expect } from 'chai';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  PinpointClient,
  CreateAppCommand,
  CreateExportJobCommand,
  CreateImportJobCommand,
  CreateSegmentCommand,
  DeleteAppCommand,
  DeleteUserEndpointsCommand,
  GetEndpointCommand,
  GetExportJobCommand,
  GetExportJobsCommand,
  GetImportJobCommand,
  GetImportJobsCommand,
  GetSegmentCommand,
  GetSegmentExportJobsCommand,
  UpdateEndpointCommand,
  UpdateSegmentCommand,
  BadRequestException,
  NotFoundException,
  type ExportJobResponse,
  type ImportJobResponse,
} from '@aws-sdk/client-pinpoint';
import type { SandboxObjectStore } from '../../src/sandbox/object-store.js';
import { SandboxClock } from '../../src/sandbox/sandbox-clock.js';
import { SandboxStats } from '../../src/sandbox/sandbox-stats.js';
import { FaultKnobs } from '../../src/sandbox/fault-knobs.js';
import { listen, type ListeningServer } from '../../src/sandbox/vendor-http.js';
import { PinpointStore } from '../../src/sandbox/pinpoint/pinpoint-store.js';
import {
  createPinpointSimulator,
  type PinpointSimulatorOptions,
} from '../../src/sandbox/pinpoint/pinpoint-simulator.js';
import { seedPinpoint, SANDBOX_PINPOINT_SEGMENT_IDS } from '../../src/sandbox/pinpoint/pinpoint-seed.js';
import type { PinpointJobFailure } from '../../src/sandbox/pinpoint/pinpoint-job.js';
import { SANDBOX_CREDENTIALS } from '../../src/sandbox/sandbox.js';

/** A minimal S3 stand-in: these tests are about Pinpoint's jobs, not about S3. */
class MemoryObjectStore implements SandboxObjectStore {
  readonly buckets = new Map<string, Map<string, Buffer>>();
  putObject(bucket: string, key: string, body: Buffer): void {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new Error('NoSuchBucket');
    objects.set(key, body);
  }
  getObject(bucket: string, key: string): Buffer | undefined {
    return this.buckets.get(bucket)?.get(key);
  }
  listKeys(bucket: string, prefix: string): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].filter((k) => k.startsWith(prefix)).sort();
  }
  bucketExists(bucket: string): boolean {
    return this.buckets.has(bucket);
  }
  createBucket(bucket: string): void {
    if (!this.buckets.has(bucket)) this.buckets.set(bucket, new Map());
  }
}

// 20 people: 2 endpoints each, a push endpoint for every third (7), an anonymous email for every tenth (2).
const SEEDED_ENDPOINTS = 20 * 2 + 7 + 2;
// Odd-numbered people (10) with 2 endpoints each, plus push endpoints for persons 3, 9 and 15.
const PRO_USER_ENDPOINTS = 10 * 2 + 3;
const ROLE = 'arn:aws:iam::123456789012:role/pinpoint-export';
const ENDPOINT_RESPONSE_FIELDS = [
  'Address',
  'ApplicationId',
  'Attributes',
  'ChannelType',
  'CohortId',
  'CreationDate',
  'Demographic',
  'EffectiveDate',
  'EndpointStatus',
  'Id',
  'Location',
  'Metrics',
  'OptOut',
  'RequestId',
  'User',
];

describe('Pinpoint export and import jobs, driven by @aws-sdk/client-pinpoint', () => {
  let clock: SandboxClock;
  let objects: MemoryObjectStore;
  let store: PinpointStore;
  let server: ListeningServer;
  let client: PinpointClient;
  let appId: string;
  let injected: PinpointJobFailure | undefined;

  async function start(options: Partial<PinpointSimulatorOptions> = {}): Promise<void> {
    clock = new SandboxClock(0);
    objects = new MemoryObjectStore();
    objects.createBucket('exports-bucket');
    store = new PinpointStore();
    appId = seedPinpoint(store, 20).appId;
    injected = undefined;
    server = await listen(
      createPinpointSimulator({
        store,
        stats: new SandboxStats(),
        faults: new FaultKnobs(),
        clock,
        objectStore: objects,
        injectJobFailure: () => injected,
        ...options,
      }),
    );
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    client = new PinpointClient({
      endpoint: server.url,
      region,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
  }

  beforeEach(() => start());
  afterEach(async () => {
    client.destroy();
    await server.close();
  });

  const exportTo = (prefix: string, extra: { SegmentId?: string; SegmentVersion?: number } = {}) =>
    client.send(
      new CreateExportJobCommand({
        ApplicationId: appId,
        ExportJobRequest: { RoleArn: ROLE, S3UrlPrefix: prefix, ...extra },
      }),
    );
  const exportJob = async (id: string): Promise<ExportJobResponse> =>
    (await client.send(new GetExportJobCommand({ ApplicationId: appId, JobId: id }))).ExportJobResponse!;
  const importJob = async (id: string): Promise<ImportJobResponse> =>
    (await client.send(new GetImportJobCommand({ ApplicationId: appId, JobId: id }))).ImportJobResponse!;
  /** Every exported line under a prefix, as parsed objects. */
  const exportedLines = (bucket: string, prefix: string): Array<Record<string, unknown>> =>
    objects
      .listKeys(bucket, prefix)
      .flatMap((key) => gunzipSync(objects.getObject(bucket, key)!).toString('utf8').split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  it('answers CreateExportJob with 202 and walks CREATED → … → COMPLETED on the sandbox clock only', async () => {
    const created = await exportTo('s3://exports-bucket/exports/');
    expect(created.$metadata.httpStatusCode).to.equal(202);
    const id = created.ExportJobResponse!.Id!;
    expect(created.ExportJobResponse).to.include({ JobStatus: 'CREATED', Type: 'EXPORT', ApplicationId: appId });
    expect(created.ExportJobResponse!.Definition).to.deep.equal({
      RoleArn: ROLE,
      S3UrlPrefix: 's3://exports-bucket/exports/',
    });

    const seen: string[] = [];
    for (const step of [500, 1_000, 2_000, 3_000, 10_000, 10_000, 2_000, 2_000]) {
      clock.advance(step);
      seen.push((await exportJob(id)).JobStatus!);
    }
    expect(seen).to.deep.equal([
      'CREATED',
      'PREPARING_FOR_INITIALIZATION',
      'INITIALIZING',
      'PROCESSING',
      'PROCESSING',
      'COMPLETING',
      'COMPLETING',
      'COMPLETED',
    ]);
    const done = await exportJob(id);
    expect(done).to.include({
      TotalPieces: 3,
      CompletedPieces: 3,
      FailedPieces: 0,
      TotalProcessed: SEEDED_ENDPOINTS,
      TotalFailures: 0,
    });
    expect(done.CompletionDate).to.equal(new Date(Date.parse(done.CreationDate!) + 30_000).toISOString());
  });

  it('has written no files before PROCESSING and every piece by COMPLETED', async () => {
    const id = (await exportTo('s3://exports-bucket/exports/')).ExportJobResponse!.Id!;
    clock.advance(5_999);
    expect((await exportJob(id)).JobStatus).to.equal('INITIALIZING');
    expect(objects.listKeys('exports-bucket', 'exports/')).to.have.length(0);
    clock.advance(30_000);
    expect((await exportJob(id)).JobStatus).to.equal('COMPLETED');
    expect(objects.listKeys('exports-bucket', 'exports/')).to.have.length(3);
  });

  it('writes gzip NDJSON pieces under the prefix in a random folder, one EndpointResponse per line', async () => {
    const first = (await exportTo('s3://exports-bucket/exports/')).ExportJobResponse!.Id!;
    const second = (await exportTo('s3://exports-bucket/exports')).ExportJobResponse!.Id!;
    clock.advance(31_000);
    expect((await exportJob(first)).JobStatus).to.equal('COMPLETED');
    expect((await exportJob(second)).JobStatus).to.equal('COMPLETED');

    const keys = objects.listKeys('exports-bucket', 'exports/');
    expect(keys).to.have.length(6);
    for (const key of keys) expect(key).to.match(/^exports\/[0-9a-f]{16}\/[0-9a-f-]{36}\.gz$/);
    const folders = new Set(keys.map((k) => k.split('/')[1]));
    expect(folders.size, 'each job writes into its own unguessable folder').to.equal(2);
    expect(
      keys.some((k) => k.includes(first) || k.includes(second)),
      'names do not reveal the job id',
    ).to.equal(false);

    const lines = exportedLines('exports-bucket', `exports/${[...folders][0]}/`);
    expect(lines).to.have.length(SEEDED_ENDPOINTS);
    for (const line of lines) expect(ENDPOINT_RESPONSE_FIELDS).to.include.members(Object.keys(line));
    expect(
      lines.filter((l) => JSON.stringify(l.User) === '{}'),
      'anonymous endpoints carry User: {}',
    ).to.have.length(2);
    expect(lines.find((l) => l.Address === 'user7@example.com')).to.deep.include({
      ApplicationId: appId,
      ChannelType: 'EMAIL',
      User: { UserId: 'user-7', UserAttributes: { plan: ['pro'] } },
    });
  });

  it('exports the endpoints the app had when the job reached PROCESSING', async () => {
    const id = (await exportTo('s3://exports-bucket/snap/')).ExportJobResponse!.Id!;
    await client.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-2' }));
    clock.advance(6_000);
    expect((await exportJob(id)).JobStatus).to.equal('PROCESSING');
    await client.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-5' }));
    clock.advance(30_000);
    expect((await exportJob(id)).JobStatus).to.equal('COMPLETED');
    const lines = exportedLines('exports-bucket', 'snap/');
    expect(lines.map((l) => (l.User as { UserId?: string }).UserId)).not.to.include('user-2');
    expect(lines.filter((l) => (l.User as { UserId?: string }).UserId === 'user-5')).to.have.length(2);
    expect(lines).to.have.length(SEEDED_ENDPOINTS - 2);
  });

  it('exports only the segment’s endpoints when SegmentId is given', async () => {
    const id = (await exportTo('s3://exports-bucket/pro/', { SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }))
      .ExportJobResponse!.Id!;
    clock.advance(31_000);
    expect(await exportJob(id)).to.include({ JobStatus: 'COMPLETED', TotalProcessed: PRO_USER_ENDPOINTS });
    expect((await exportJob(id)).Definition?.SegmentId).to.equal(SANDBOX_PINPOINT_SEGMENT_IDS.proUsers);
    const lines = exportedLines('exports-bucket', 'pro/');
    expect(lines).to.have.length(PRO_USER_ENDPOINTS);
    for (const line of lines)
      expect((line.User as { UserAttributes: { plan: string[] } }).UserAttributes.plan).to.deep.equal(['pro']);
  });

  it('exports the named SegmentVersion rather than the current one', async () => {
    const segment = await client.send(
      new CreateSegmentCommand({
        ApplicationId: appId,
        WriteSegmentRequest: { Name: 'by-channel', Dimensions: { Demographic: { Channel: { Values: ['GCM'] } } } },
      }),
    );
    const segmentId = segment.SegmentResponse!.Id!;
    const updated = await client.send(
      new UpdateSegmentCommand({
        ApplicationId: appId,
        SegmentId: segmentId,
        WriteSegmentRequest: { Dimensions: { Demographic: { Channel: { Values: ['SMS'] } } } },
      }),
    );
    expect(updated.SegmentResponse!.Version).to.equal(2);
    await exportTo('s3://exports-bucket/v1/', { SegmentId: segmentId, SegmentVersion: 1 });
    await exportTo('s3://exports-bucket/v2/', { SegmentId: segmentId });
    clock.advance(31_000);
    await client.send(new GetExportJobsCommand({ ApplicationId: appId }));
    expect(new Set(exportedLines('exports-bucket', 'v1/').map((l) => l.ChannelType))).to.deep.equal(new Set(['GCM']));
    expect(exportedLines('exports-bucket', 'v1/')).to.have.length(7);
    expect(exportedLines('exports-bucket', 'v2/')).to.have.length(20);
  });

  it('fails the export with a Failures message when the bucket does not exist', async () => {
    const id = (await exportTo('s3://no-such-bucket/exports/')).ExportJobResponse!.Id!;
    clock.advance(6_000);
    expect((await exportJob(id)).JobStatus).to.equal('FAILING');
    clock.advance(2_000);
    const failed = await exportJob(id);
    expect(failed.JobStatus).to.equal('FAILED');
    expect(failed.CompletionDate).to.be.a('string');
    expect(failed.Failures).to.have.length(1);
    expect(failed.Failures![0]).to.match(/Access Denied.*s3:\/\/no-such-bucket\/exports\//);
  });

  it('fails the export when a piece fails partway, after writing the other pieces', async () => {
    injected = { kind: 'pieces_failed', pieces: 1 };
    const id = (await exportTo('s3://exports-bucket/partial/')).ExportJobResponse!.Id!;
    clock.advance(26_000);
    expect((await exportJob(id)).JobStatus).to.equal('FAILING');
    clock.advance(2_000);
    const failed = await exportJob(id);
    expect(failed).to.include({ JobStatus: 'FAILED', TotalPieces: 3, CompletedPieces: 2, FailedPieces: 1 });
    expect(failed.TotalFailures).to.be.greaterThan(0);
    expect(failed.Failures![0]).to.match(/piece 3 of 3/);
    expect(objects.listKeys('exports-bucket', 'partial/')).to.have.length(2);
  });

  it('fails the export as access denied when the failure hook says so', async () => {
    injected = { kind: 'access_denied' };
    const id = (await exportTo('s3://exports-bucket/denied/')).ExportJobResponse!.Id!;
    clock.advance(31_000);
    expect((await exportJob(id)).JobStatus).to.equal('FAILED');
    expect((await exportJob(id)).Failures![0]).to.match(/Access Denied/);
    expect(objects.listKeys('exports-bucket', 'denied/')).to.have.length(0);
  });

  it('rejects a malformed S3UrlPrefix, a missing RoleArn and an unknown segment', async () => {
    const notS3 = await exportTo('https://exports-bucket/x/').catch((e: unknown) => e);
    expect(notS3).to.be.instanceOf(BadRequestException);
    const noRole = await client
      .send(
        new CreateExportJobCommand({
          ApplicationId: appId,
          ExportJobRequest: { S3UrlPrefix: 's3://exports-bucket/x/' } as never,
        }),
      )
      .catch((e: unknown) => e);
    expect(noRole).to.be.instanceOf(BadRequestException);
    const noSegment = await exportTo('s3://exports-bucket/x/', { SegmentId: 'missing' }).catch((e: unknown) => e);
    expect(noSegment).to.be.instanceOf(NotFoundException);
    const noJob = await exportJob('missing').catch((e: unknown) => e);
    expect(noJob).to.be.instanceOf(NotFoundException);
  });

  it('pages GetExportJobs with NextToken until it is absent, with a short page on the way', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await exportTo(`s3://exports-bucket/many${i}/`)).ExportJobResponse!.Id!);
    const seen: string[] = [];
    const pages: Array<{ size: number; more: boolean }> = [];
    let token: string | undefined;
    do {
      const page = await client.send(new GetExportJobsCommand({ ApplicationId: appId, PageSize: '2', Token: token }));
      expect(page.$metadata.httpStatusCode).to.equal(200);
      const items = page.ExportJobsResponse!.Item!;
      seen.push(...items.map((j) => j.Id!));
      token = page.ExportJobsResponse!.NextToken;
      pages.push({ size: items.length, more: !!token });
    } while (token);
    expect(seen).to.deep.equal(ids);
    expect(
      pages.some((p) => p.size < 2 && p.more),
      'a short page that is not the last',
    ).to.equal(true);
  });

  it('lists only that segment’s jobs in GetSegmentExportJobs', async () => {
    const mine = (await exportTo('s3://exports-bucket/a/', { SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }))
      .ExportJobResponse!.Id!;
    await exportTo('s3://exports-bucket/b/');
    const out = await client.send(
      new GetSegmentExportJobsCommand({ ApplicationId: appId, SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }),
    );
    expect(out.ExportJobsResponse!.Item!.map((j) => j.Id)).to.deep.equal([mine]);
  });

  it('imports a CSV with dotted headers, repeated columns and quoted values, into a new IMPORT segment', async () => {
    const csv = [
      'ChannelType,Address,Id,Location.City,Attributes.interests,Attributes.interests,User.UserId,User.UserAttributes.plan,Metrics.score',
      'EMAIL,ann@example.org,imp-1,"Portland, OR",cats,"dogs ""and"" birds",ann,gold,4.5',
      'SMS,+15557654321,imp-2,,,,bob,,',
      'EMAIL,,imp-3,,,,,,',
    ].join('\n');
    objects.createBucket('imports-bucket');
    objects.putObject('imports-bucket', 'in/people.csv', Buffer.from(csv));
    const created = await client.send(
      new CreateImportJobCommand({
        ApplicationId: appId,
        ImportJobRequest: {
          Format: 'CSV',
          S3Url: 's3://imports-bucket/in/',
          RoleArn: ROLE,
          DefineSegment: true,
          SegmentName: 'imported people',
        },
      }),
    );
    expect(created.$metadata.httpStatusCode).to.equal(201);
    const job = created.ImportJobResponse!;
    expect(job).to.include({ Type: 'IMPORT', JobStatus: 'CREATED' });
    const segmentId = job.Definition!.SegmentId!;
    expect(segmentId).to.be.a('string');
    const early = await client
      .send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'imp-1' }))
      .catch((e: unknown) => e);
    expect(early, 'nothing is imported before PROCESSING').to.be.instanceOf(NotFoundException);

    clock.advance(31_000);
    const done = await importJob(job.Id!);
    expect(done).to.include({ JobStatus: 'COMPLETED', TotalProcessed: 3, TotalFailures: 1 });
    expect(done.Failures![0]).to.match(/people\.csv line 4/);
    const ann = (await client.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'imp-1' })))
      .EndpointResponse!;
    expect(ann.Location?.City).to.equal('Portland, OR');
    expect(ann.Attributes?.interests).to.deep.equal(['cats', 'dogs "and" birds']);
    expect(ann.User).to.deep.equal({ UserId: 'ann', UserAttributes: { plan: ['gold'] } });
    expect(ann.Metrics?.score).to.equal(4.5);

    const segment = (await client.send(new GetSegmentCommand({ ApplicationId: appId, SegmentId: segmentId })))
      .SegmentResponse!;
    expect(segment).to.include({ SegmentType: 'IMPORT', Name: 'imported people' });
    expect(segment.ImportDefinition).to.deep.include({ Format: 'CSV', Size: 2, ChannelCounts: { EMAIL: 1, SMS: 1 } });
    const exported = (await exportTo('s3://exports-bucket/imported/', { SegmentId: segmentId })).ExportJobResponse!.Id!;
    clock.advance(31_000);
    expect((await exportJob(exported)).JobStatus).to.equal('COMPLETED');
    expect(
      exportedLines('exports-bucket', 'imported/')
        .map((l) => l.Id)
        .sort(),
    ).to.deep.equal(['imp-1', 'imp-2']);
  });

  it('imports newline-delimited JSON, skipping CSV files and counting unreadable lines as failures', async () => {
    objects.createBucket('imports-bucket');
    objects.putObject(
      'imports-bucket',
      'mixed/a.json',
      Buffer.from('{"ChannelType":"SMS","Address":"+15550001111","Id":"j1","User":{"UserId":"jay"}}\nnot json\n'),
    );
    objects.putObject(
      'imports-bucket',
      'mixed/sub/b.json',
      Buffer.from('{"ChannelType":"EMAIL","Address":"kim@example.org","Id":"j2"}\n'),
    );
    objects.putObject(
      'imports-bucket',
      'mixed/c.csv',
      Buffer.from('ChannelType,Address,Id\nEMAIL,csv@example.org,c1\n'),
    );
    const id = (
      await client.send(
        new CreateImportJobCommand({
          ApplicationId: appId,
          ImportJobRequest: { Format: 'JSON', S3Url: 's3://imports-bucket/mixed/', RoleArn: ROLE },
        }),
      )
    ).ImportJobResponse!.Id!;
    clock.advance(31_000);
    expect(await importJob(id)).to.include({ JobStatus: 'COMPLETED', TotalProcessed: 3, TotalFailures: 1 });
    expect(
      (await client.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'j2' }))).EndpointResponse!.Address,
    ).to.equal('kim@example.org');
    const csv = await client
      .send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'c1' }))
      .catch((e: unknown) => e);
    expect(csv).to.be.instanceOf(NotFoundException);
    const jobs = await client.send(new GetImportJobsCommand({ ApplicationId: appId }));
    expect(jobs.ImportJobsResponse!.Item!.map((j) => j.Id)).to.deep.equal([id]);
  });

  it('fails an import of a gzip file', async () => {
    objects.createBucket('imports-bucket');
    objects.putObject('imports-bucket', 'zipped/people.csv', gzipSync('ChannelType,Address\nEMAIL,z@example.org\n'));
    const id = (
      await client.send(
        new CreateImportJobCommand({
          ApplicationId: appId,
          ImportJobRequest: { Format: 'CSV', S3Url: 's3://imports-bucket/zipped/people.csv', RoleArn: ROLE },
        }),
      )
    ).ImportJobResponse!.Id!;
    clock.advance(31_000);
    const failed = await importJob(id);
    expect(failed.JobStatus).to.equal('FAILED');
    expect(failed.Failures![0]).to.match(/Compressed files are not supported/);
  });

  it('deletes an app’s segments and jobs with it', async () => {
    const created = await client.send(new CreateAppCommand({ CreateApplicationRequest: { Name: 'doomed' } }));
    const doomed = created.ApplicationResponse!.Id!;
    await client.send(
      new UpdateEndpointCommand({
        ApplicationId: doomed,
        EndpointId: 'e1',
        EndpointRequest: { ChannelType: 'EMAIL', Address: 'x@x.com' },
      }),
    );
    const segmentId = (
      await client.send(new CreateSegmentCommand({ ApplicationId: doomed, WriteSegmentRequest: { Name: 's' } }))
    ).SegmentResponse!.Id!;
    const jobId = (
      await client.send(
        new CreateExportJobCommand({
          ApplicationId: doomed,
          ExportJobRequest: { RoleArn: ROLE, S3UrlPrefix: 's3://exports-bucket/doomed/' },
        }),
      )
    ).ExportJobResponse!.Id!;
    await client.send(new DeleteAppCommand({ ApplicationId: doomed }));
    for (const call of [
      client.send(new GetSegmentCommand({ ApplicationId: doomed, SegmentId: segmentId })),
      client.send(new GetExportJobCommand({ ApplicationId: doomed, JobId: jobId })),
      client.send(new GetExportJobsCommand({ ApplicationId: doomed })),
    ]) {
      expect(await call.catch((e: unknown) => e)).to.be.instanceOf(NotFoundException);
    }
    clock.advance(31_000);
    await client.send(new GetExportJobsCommand({ ApplicationId: appId }));
    expect(objects.listKeys('exports-bucket', 'doomed/'), 'a deleted app’s job never writes').to.have.length(0);
  });
});
