import { expect } from 'chai';
import {
  PinpointClient,
  CreateAppCommand,
  CreateSegmentCommand,
  DeleteSegmentCommand,
  GetAppsCommand,
  GetSegmentCommand,
  GetSegmentsCommand,
  GetSegmentVersionCommand,
  UpdateSegmentCommand,
  BadRequestException,
  NotFoundException,
} from '@aws-sdk/client-pinpoint';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { SANDBOX_PINPOINT_SEGMENT_IDS } from '../../src/sandbox/pinpoint/pinpoint-seed.js';

describe('Pinpoint segments and list paging, driven by @aws-sdk/client-pinpoint', () => {
  let sandbox: Sandbox;
  let client: PinpointClient;
  let appId: string;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    client = new PinpointClient({
      endpoint: sandbox.vendors.pinpoint.baseUrl,
      region,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
    appId = sandbox.pinpoint.appId;
  });
  afterEach(async () => {
    client.destroy();
    await sandbox.close();
  });

  /** Every item of a paged list, following NextToken until it is absent, with each page's size and whether more followed. */
  async function allPages<T>(fetch: (token?: string) => Promise<{ Item?: T[]; NextToken?: string }>) {
    const items: T[] = [];
    const pages: Array<{ size: number; more: boolean }> = [];
    let token: string | undefined;
    do {
      const page = await fetch(token);
      items.push(...(page.Item ?? []));
      token = page.NextToken;
      pages.push({ size: page.Item?.length ?? 0, more: !!token });
    } while (token);
    return { items, pages };
  }

  it('has the seeded dimensional and imported segments', async () => {
    const pro = await client.send(
      new GetSegmentCommand({ ApplicationId: appId, SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }),
    );
    expect(pro.SegmentResponse).to.include({
      SegmentType: 'DIMENSIONAL',
      Name: 'pro-users',
      Version: 1,
      ApplicationId: appId,
    });
    expect(pro.SegmentResponse!.Dimensions?.UserAttributes?.plan?.Values).to.deep.equal(['pro']);
    const newsletter = await client.send(
      new GetSegmentCommand({ ApplicationId: appId, SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.newsletter }),
    );
    expect(newsletter.SegmentResponse).to.include({ SegmentType: 'IMPORT', Name: 'newsletter' });
    expect(newsletter.SegmentResponse!.ImportDefinition).to.deep.include({ Format: 'CSV', Size: 5 });
  });

  it('creates a segment with 201 and returns it from GetSegment with an ARN under the app', async () => {
    const created = await client.send(
      new CreateSegmentCommand({
        ApplicationId: appId,
        WriteSegmentRequest: {
          Name: 'android',
          Dimensions: { Demographic: { Platform: { DimensionType: 'INCLUSIVE', Values: ['android'] } } },
          tags: { team: 'growth' },
        },
      }),
    );
    expect(created.$metadata.httpStatusCode).to.equal(201);
    const segment = created.SegmentResponse!;
    expect(segment).to.include({ Name: 'android', SegmentType: 'DIMENSIONAL', Version: 1 });
    expect(segment.Arn).to.match(new RegExp(`apps/${appId}/segments/${segment.Id}$`));
    const got = await client.send(new GetSegmentCommand({ ApplicationId: appId, SegmentId: segment.Id }));
    expect(got.$metadata.httpStatusCode).to.equal(200);
    expect(got.SegmentResponse).to.deep.equal(segment);
  });

  it('rejects an invalid dimension type and an unknown source segment with BadRequestException', async () => {
    const badType = await client
      .send(
        new CreateSegmentCommand({
          ApplicationId: appId,
          WriteSegmentRequest: {
            Name: 'x',
            Dimensions: { Demographic: { Platform: { DimensionType: 'SOMETIMES' as never, Values: ['a'] } } },
          },
        }),
      )
      .catch((e: unknown) => e);
    expect(badType).to.be.instanceOf(BadRequestException);
    const badSource = await client
      .send(
        new CreateSegmentCommand({
          ApplicationId: appId,
          WriteSegmentRequest: { Name: 'y', SegmentGroups: { Groups: [{ SourceSegments: [{ Id: 'nope' }] }] } },
        }),
      )
      .catch((e: unknown) => e);
    expect(badSource).to.be.instanceOf(BadRequestException);
  });

  it('keeps older versions readable after UpdateSegment', async () => {
    const id = (
      await client.send(
        new CreateSegmentCommand({
          ApplicationId: appId,
          WriteSegmentRequest: { Name: 'v', Dimensions: { Demographic: { Channel: { Values: ['EMAIL'] } } } },
        }),
      )
    ).SegmentResponse!.Id!;
    const updated = await client.send(
      new UpdateSegmentCommand({
        ApplicationId: appId,
        SegmentId: id,
        WriteSegmentRequest: { Dimensions: { Demographic: { Channel: { Values: ['SMS'] } } } },
      }),
    );
    expect(updated.SegmentResponse).to.include({ Version: 2, Name: 'v' });
    const v1 = await client.send(new GetSegmentVersionCommand({ ApplicationId: appId, SegmentId: id, Version: '1' }));
    expect(v1.SegmentResponse!.Dimensions?.Demographic?.Channel?.Values).to.deep.equal(['EMAIL']);
  });

  it('pages GetSegments with NextToken until it is absent, returning a short page on the way', async () => {
    for (let i = 0; i < 8; i++)
      await client.send(new CreateSegmentCommand({ ApplicationId: appId, WriteSegmentRequest: { Name: `s${i}` } }));
    const first = await client.send(new GetSegmentsCommand({ ApplicationId: appId, PageSize: '3' }));
    expect(first.$metadata.httpStatusCode).to.equal(200);
    const { items, pages } = await allPages((Token) =>
      client
        .send(new GetSegmentsCommand({ ApplicationId: appId, PageSize: '3', Token }))
        .then((r) => r.SegmentsResponse!),
    );
    expect(items.map((s) => s.Name)).to.deep.equal([
      'pro-users',
      'newsletter',
      's0',
      's1',
      's2',
      's3',
      's4',
      's5',
      's6',
      's7',
    ]);
    expect(pages.every((p) => p.size <= 3)).to.equal(true);
    expect(
      pages.some((p) => p.size < 3 && p.more),
      'a short page that is not the last',
    ).to.equal(true);
    expect(pages[pages.length - 1].more).to.equal(false);
  });

  it('rejects a token it did not issue', async () => {
    const err = await client
      .send(new GetSegmentsCommand({ ApplicationId: appId, Token: 'not-a-token' }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(BadRequestException);
  });

  it('deletes a segment with 200, returning it, after which it answers 404', async () => {
    const deleted = await client.send(
      new DeleteSegmentCommand({ ApplicationId: appId, SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }),
    );
    expect(deleted.$metadata.httpStatusCode).to.equal(200);
    expect(deleted.SegmentResponse!.Name).to.equal('pro-users');
    const err = await client
      .send(new GetSegmentCommand({ ApplicationId: appId, SegmentId: SANDBOX_PINPOINT_SEGMENT_IDS.proUsers }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NotFoundException);
    const unknownApp = await client
      .send(new GetSegmentsCommand({ ApplicationId: 'no-such-app' }))
      .catch((e: unknown) => e);
    expect(unknownApp).to.be.instanceOf(NotFoundException);
  });

  it('pages GetApps with NextToken until it is absent', async () => {
    const names = ['a1', 'a2', 'a3', 'a4', 'a5'];
    for (const Name of names) await client.send(new CreateAppCommand({ CreateApplicationRequest: { Name } }));
    const { items } = await allPages((Token) =>
      client.send(new GetAppsCommand({ PageSize: '2', Token })).then((r) => r.ApplicationsResponse!),
    );
    expect(items.map((a) => a.Name)).to.deep.equal(['erasure-sandbox', ...names]);
  });
});
