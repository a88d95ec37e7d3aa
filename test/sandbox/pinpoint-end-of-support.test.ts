import { expect } from 'chai';
import {
  PinpointClient,
  CreateExportJobCommand,
  DeleteUserEndpointsCommand,
  GetAppsCommand,
  GetEndpointCommand,
  GetSegmentsCommand,
  GetUserEndpointsCommand,
  ForbiddenException,
  NotFoundException,
  type PinpointServiceException,
} from '@aws-sdk/client-pinpoint';
import { startSandbox, SANDBOX_CREDENTIALS, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';

describe('Pinpoint past end of support, driven by @aws-sdk/client-pinpoint', () => {
  let sandbox: Sandbox | undefined;
  let client: PinpointClient | undefined;

  async function start(
    pinpoint: SandboxOptions['pinpoint'],
  ): Promise<{ sandbox: Sandbox; client: PinpointClient; appId: string }> {
    sandbox = await startSandbox({ subjects: 20, pinpoint });
    const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
    client = new PinpointClient({
      endpoint: sandbox.vendors.pinpoint.baseUrl,
      region,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
    });
    return { sandbox, client, appId: sandbox.pinpoint.appId };
  }
  afterEach(async () => {
    client?.destroy();
    await sandbox?.close();
    sandbox = undefined;
    client = undefined;
  });

  /** One call of each kind the erasure path makes, each answered with its error (or its result). */
  function everyCall(c: PinpointClient, appId: string): Array<Promise<unknown>> {
    return [
      c.send(new GetAppsCommand({})),
      c.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: 'x' })),
      c.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-1' })),
      c.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-1' })),
      c.send(new GetSegmentsCommand({ ApplicationId: appId })),
      c.send(
        new CreateExportJobCommand({
          ApplicationId: appId,
          ExportJobRequest: { RoleArn: 'arn:aws:iam::1:role/r', S3UrlPrefix: 's3://b/x/' },
        }),
      ),
    ].map((p) => p.catch((e: unknown) => e));
  }

  it('answers every call with 403 ForbiddenException when switched off with status 403', async () => {
    const { client: c, appId } = await start({ endOfSupportStatus: 403 });
    for (const result of await Promise.all(everyCall(c, appId))) {
      expect(result).to.be.instanceOf(ForbiddenException);
      expect((result as PinpointServiceException).$metadata.httpStatusCode).to.equal(403);
      expect((result as PinpointServiceException).message).to.match(/end of support/);
    }
  });

  it('answers every call with 404 NotFoundException when switched off with status 404', async () => {
    const { client: c, appId } = await start({ endOfSupportStatus: 404 });
    for (const result of await Promise.all(everyCall(c, appId))) {
      expect(result).to.be.instanceOf(NotFoundException);
      expect((result as PinpointServiceException).$metadata.httpStatusCode).to.equal(404);
    }
  });

  it('keeps serving until the end-of-support date on the sandbox clock, then refuses everything', async () => {
    const { sandbox: s, client: c, appId } = await start({ endOfSupportAt: Date.now() + 86_400_000 });
    const before = await c.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-1' }));
    expect(before.EndpointsResponse?.Item).to.have.length(2);
    s.clock.advance(86_400_000);
    for (const result of await Promise.all(everyCall(c, appId))) expect(result).to.be.instanceOf(NotFoundException);
  });
});
