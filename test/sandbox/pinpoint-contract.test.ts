import { expect } from 'chai';
import {
  PinpointClient,
  GetUserEndpointsCommand,
  DeleteUserEndpointsCommand,
  DeleteEndpointCommand,
  GetEndpointCommand,
  UpdateEndpointCommand,
  UpdateEndpointsBatchCommand,
  CreateAppCommand,
  DeleteAppCommand,
  GetAppsCommand,
  NotFoundException,
  BadRequestException,
  TooManyRequestsException,
} from '@aws-sdk/client-pinpoint';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';

function pinpointClient(sandbox: Sandbox, maxAttempts = 1): PinpointClient {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  return new PinpointClient({
    endpoint: sandbox.vendors.pinpoint.baseUrl,
    region,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts,
  });
}

describe('Pinpoint simulator, driven by @aws-sdk/client-pinpoint', () => {
  let sandbox: Sandbox;
  let client: PinpointClient;
  let appId: string;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    client = pinpointClient(sandbox);
    appId = sandbox.pinpoint.appId;
  });
  afterEach(async () => {
    client.destroy();
    await sandbox.close();
  });

  it('returns a seeded person’s endpoints by user id, unwrapped into EndpointsResponse', async () => {
    const out = await client.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: seedPerson(7).userId }));
    const addresses = out.EndpointsResponse?.Item?.map((e) => e.Address).sort();
    expect(addresses).to.deep.equal([seedPerson(7).phone, seedPerson(7).email].sort());
    expect(out.EndpointsResponse?.Item?.[0]?.User?.UserId).to.equal('user-7');
  });

  it('deletes a user’s endpoints with 202, returns them, and leaves the neighbour untouched', async () => {
    const deleted = await client.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-7' }));
    expect(deleted.$metadata.httpStatusCode).to.equal(202);
    expect(deleted.EndpointsResponse?.Item).to.have.length(2);
    const gone = await client
      .send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-7' }))
      .catch((e: unknown) => e);
    expect(gone).to.be.instanceOf(NotFoundException);
    const neighbour = await client.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-8' }));
    expect(neighbour.EndpointsResponse?.Item).to.have.length(2);
  });

  it('answers DeleteEndpoint with 202 and the deleted endpoint, then 404 on read', async () => {
    await client.send(
      new UpdateEndpointCommand({
        ApplicationId: appId,
        EndpointId: 'EP-One',
        EndpointRequest: { ChannelType: 'EMAIL', Address: 'ann@x.com' },
      }),
    );
    const got = await client.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'ep-one' }));
    expect(got.EndpointResponse?.Address, 'ids are case-insensitive').to.equal('ann@x.com');
    const deleted = await client.send(new DeleteEndpointCommand({ ApplicationId: appId, EndpointId: 'ep-one' }));
    expect(deleted.$metadata.httpStatusCode).to.equal(202);
    expect(deleted.EndpointResponse?.Address).to.equal('ann@x.com');
    const err = await client
      .send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'ep-one' }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NotFoundException);
  });

  it('marks the older endpoint INACTIVE when another endpoint takes its address', async () => {
    await client.send(
      new UpdateEndpointCommand({
        ApplicationId: appId,
        EndpointId: 'a1',
        EndpointRequest: { ChannelType: 'EMAIL', Address: 'same@x.com' },
      }),
    );
    await client.send(
      new UpdateEndpointCommand({
        ApplicationId: appId,
        EndpointId: 'a2',
        EndpointRequest: { ChannelType: 'EMAIL', Address: 'same@x.com' },
      }),
    );
    const first = await client.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'a1' }));
    expect(first.EndpointResponse?.EndpointStatus).to.equal('INACTIVE');
  });

  it('rejects a batch of 101 endpoints and an endpoint id with a brace as BadRequestException', async () => {
    const Item = Array.from({ length: 101 }, (_, i) => ({
      Id: `b${i}`,
      ChannelType: 'EMAIL' as const,
      Address: `b${i}@x.com`,
    }));
    const err = await client
      .send(new UpdateEndpointsBatchCommand({ ApplicationId: appId, EndpointBatchRequest: { Item } }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(BadRequestException);
    const brace = await client
      .send(new UpdateEndpointCommand({ ApplicationId: appId, EndpointId: 'x{1}', EndpointRequest: {} }))
      .catch((e: unknown) => e);
    expect(brace).to.be.instanceOf(BadRequestException);
  });

  it('refuses a 16th non-push endpoint for one user', async () => {
    const Item = Array.from({ length: 12 }, (_, i) => ({
      Id: `u${i}`,
      ChannelType: 'EMAIL' as const,
      Address: `u${i}@x.com`,
      User: { UserId: 'user-3' },
    }));
    await client.send(new UpdateEndpointsBatchCommand({ ApplicationId: appId, EndpointBatchRequest: { Item } }));
    // user-3 has 2 seeded endpoints + a push endpoint (3 % 3 === 0), + 12 = 15: the next is the 16th.
    const err = await client
      .send(
        new UpdateEndpointCommand({
          ApplicationId: appId,
          EndpointId: 'u99',
          EndpointRequest: { ChannelType: 'SMS', Address: '+15550009999', User: { UserId: 'user-3' } },
        }),
      )
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(BadRequestException);
  });

  it('throttles DeleteEndpoint at 5 per second with 429 TooManyRequestsException and no Retry-After', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        client
          .send(new DeleteEndpointCommand({ ApplicationId: appId, EndpointId: `missing-${i}` }))
          .catch((e: unknown) => e),
      ),
    );
    const throttled = results.filter((r): r is TooManyRequestsException => r instanceof TooManyRequestsException);
    expect(throttled.length).to.be.at.least(3);
    expect(throttled[0].$response?.headers?.['retry-after']).to.equal(undefined);
    expect(sandbox.stats.snapshot().pinpoint.operations.DeleteEndpoint.throttled).to.equal(throttled.length);
  });

  it('lets the SDK’s own retries see throttling during a 429 storm', async () => {
    const retrying = pinpointClient(sandbox, 3);
    sandbox.faults.set('pinpoint', { throttleForMs: 60_000 });
    const err = (await retrying.send(new GetAppsCommand({})).catch((e: unknown) => e)) as TooManyRequestsException;
    expect(err).to.be.instanceOf(TooManyRequestsException);
    expect(err.$metadata.attempts).to.equal(3);
    retrying.destroy();
  });

  it('deletes an app with its endpoints, after which the app answers 404', async () => {
    const created = await client.send(new CreateAppCommand({ CreateApplicationRequest: { Name: 'temp' } }));
    expect(created.$metadata.httpStatusCode).to.equal(201);
    const id = created.ApplicationResponse!.Id!;
    await client.send(
      new UpdateEndpointCommand({
        ApplicationId: id,
        EndpointId: 'e1',
        EndpointRequest: { ChannelType: 'EMAIL', Address: 'x@x.com' },
      }),
    );
    await client.send(new DeleteAppCommand({ ApplicationId: id }));
    const err = await client
      .send(new GetEndpointCommand({ ApplicationId: id, EndpointId: 'e1' }))
      .catch((e: unknown) => e);
    expect(err).to.be.instanceOf(NotFoundException);
  });
});
