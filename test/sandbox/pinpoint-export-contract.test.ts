import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import {
  PinpointClient,
  CreateExportJobCommand,
  CreateImportJobCommand,
  GetEndpointCommand,
  GetExportJobCommand,
  GetImportJobCommand,
  GetSegmentCommand,
  type ExportJobResponse,
} from '@aws-sdk/client-pinpoint';
import { S3Client, GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { SANDBOX_PINPOINT_SEGMENT_IDS } from '../../src/sandbox/pinpoint/pinpoint-seed.js';

// 20 people: 2 endpoints each, a push endpoint for every third (7), an anonymous email for every tenth (2).
const SEEDED_ENDPOINTS = 20 * 2 + 7 + 2;
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

describe('Pinpoint export and import jobs through the S3 simulator, driven by the real AWS clients', () => {
  let sandbox: Sandbox;
  let pinpoint: PinpointClient;
  let s3: S3Client;
  let appId: string;
  let exportsBucket: string;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    const credentials = { accessKeyId, secretAccessKey };
    pinpoint = new PinpointClient({ endpoint: sandbox.vendors.pinpoint.baseUrl, region, credentials, maxAttempts: 1 });
    s3 = new S3Client({
      endpoint: sandbox.vendors.s3.baseUrl,
      region,
      credentials,
      forcePathStyle: true,
      maxAttempts: 1,
    });
    appId = sandbox.pinpoint.appId;
    exportsBucket = sandbox.s3.buckets.exports;
  });
  afterEach(async () => {
    pinpoint.destroy();
    s3.destroy();
    await sandbox.close();
  });

  /** Polls GetExportJob as a client would, moving the sandbox clock 3 s per poll. */
  async function waitForExport(jobId: string): Promise<ExportJobResponse> {
    for (let poll = 0; poll < 40; poll++) {
      const job = (await pinpoint.send(new GetExportJobCommand({ ApplicationId: appId, JobId: jobId })))
        .ExportJobResponse!;
      if (job.JobStatus === 'COMPLETED' || job.JobStatus === 'FAILED') return job;
      sandbox.clock.advance(3_000);
    }
    throw new Error('export job never finished');
  }

  /** Lists every key under a prefix through ListObjectsV2, following continuation tokens. */
  async function listKeys(bucket: string, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken, MaxKeys: 2 }),
      );
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return keys;
  }

  async function exportedLines(bucket: string, prefix: string): Promise<Array<Record<string, unknown>>> {
    const lines: Array<Record<string, unknown>> = [];
    for (const key of (await listKeys(bucket, prefix)).filter((k) => k.endsWith('.gz'))) {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const text = gunzipSync(Buffer.from(await object.Body!.transformToByteArray())).toString('utf8');
      lines.push(
        ...text
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
    }
    return lines;
  }

  it('exports every endpoint of the app as gzip NDJSON objects that S3 lists and serves', async () => {
    const created = await pinpoint.send(
      new CreateExportJobCommand({
        ApplicationId: appId,
        ExportJobRequest: { RoleArn: ROLE, S3UrlPrefix: `s3://${exportsBucket}/exports/` },
      }),
    );
    expect(created.$metadata.httpStatusCode).to.equal(202);
    expect(await listKeys(exportsBucket, 'exports/'), 'nothing is written before the job runs').to.have.length(0);

    const done = await waitForExport(created.ExportJobResponse!.Id!);
    expect(done).to.include({ JobStatus: 'COMPLETED', TotalProcessed: SEEDED_ENDPOINTS, FailedPieces: 0 });
    const keys = await listKeys(exportsBucket, 'exports/');
    expect(keys).to.have.length(done.TotalPieces!);
    for (const key of keys) expect(key).to.match(/^exports\/.+\.gz$/);

    const lines = await exportedLines(exportsBucket, 'exports/');
    expect(lines).to.have.length(SEEDED_ENDPOINTS);
    expect(new Set(lines.map((l) => l.Id)).size, 'one endpoint per line, none twice').to.equal(SEEDED_ENDPOINTS);
    for (const line of lines) {
      expect(ENDPOINT_RESPONSE_FIELDS).to.include.members(Object.keys(line));
      expect(line).to.include({ ApplicationId: appId });
      expect(line.User).to.be.an('object');
    }
    const person3 = lines.filter((l) => (l.User as { UserId?: string }).UserId === 'user-3').map((l) => l.ChannelType);
    expect(person3.sort()).to.deep.equal(['EMAIL', 'GCM', 'SMS']);
  });

  it('exports only the named segment’s endpoints', async () => {
    const created = await pinpoint.send(
      new CreateExportJobCommand({
        ApplicationId: appId,
        ExportJobRequest: {
          RoleArn: ROLE,
          S3UrlPrefix: `s3://${exportsBucket}/newsletter/`,
          SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.newsletter,
        },
      }),
    );
    expect((await waitForExport(created.ExportJobResponse!.Id!)).JobStatus).to.equal('COMPLETED');
    const lines = await exportedLines(exportsBucket, 'newsletter/');
    // The seeded newsletter list is every fourth person's email endpoint: persons 0, 4, 8, 12, 16.
    expect(lines.map((l) => l.Address).sort()).to.deep.equal([
      'user0@example.com',
      'user12@example.com',
      'user16@example.com',
      'user4@example.com',
      'user8@example.com',
    ]);
  });

  it('fails the export with a Failures message when the bucket does not exist', async () => {
    const created = await pinpoint.send(
      new CreateExportJobCommand({
        ApplicationId: appId,
        ExportJobRequest: { RoleArn: ROLE, S3UrlPrefix: 's3://no-such-bucket/exports/' },
      }),
    );
    const failed = await waitForExport(created.ExportJobResponse!.Id!);
    expect(failed.JobStatus).to.equal('FAILED');
    expect(failed.Failures?.[0]).to.match(/Access Denied/);
  });

  it('imports a CSV put through S3 into endpoints and an IMPORT segment', async () => {
    const imports = sandbox.s3.buckets.imports;
    const csv = [
      'ChannelType,Address,Id,User.UserId,Attributes.topic,Attributes.topic,Location.City',
      'EMAIL,new.person@example.org,import-1,new-person,news,"offers, weekly","Springfield, IL"',
      'SMS,+15559990000,import-2,new-person,,,',
    ].join('\n');
    await s3.send(
      new PutObjectCommand({ Bucket: imports, Key: 'contract-test/people.csv', Body: csv, ContentType: 'text/csv' }),
    );

    const created = await pinpoint.send(
      new CreateImportJobCommand({
        ApplicationId: appId,
        ImportJobRequest: {
          Format: 'CSV',
          S3Url: `s3://${imports}/contract-test/people.csv`,
          RoleArn: ROLE,
          DefineSegment: true,
        },
      }),
    );
    expect(created.$metadata.httpStatusCode).to.equal(201);
    sandbox.clock.advance(31_000);
    const done = (
      await pinpoint.send(new GetImportJobCommand({ ApplicationId: appId, JobId: created.ImportJobResponse!.Id! }))
    ).ImportJobResponse!;
    expect(done).to.include({ JobStatus: 'COMPLETED', TotalProcessed: 2, TotalFailures: 0 });

    const endpoint = (await pinpoint.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'import-1' })))
      .EndpointResponse!;
    expect(endpoint).to.include({ Address: 'new.person@example.org', ChannelType: 'EMAIL' });
    expect(endpoint.Attributes?.topic).to.deep.equal(['news', 'offers, weekly']);
    expect(endpoint.Location?.City).to.equal('Springfield, IL');
    const segment = (
      await pinpoint.send(new GetSegmentCommand({ ApplicationId: appId, SegmentId: done.Definition!.SegmentId! }))
    ).SegmentResponse!;
    expect(segment).to.include({ SegmentType: 'IMPORT', Name: 'people.csv' });
    expect(segment.ImportDefinition?.Size).to.equal(2);
  });
});
