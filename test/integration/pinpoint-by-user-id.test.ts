import { expect } from 'chai';
import { PinpointClient, GetUserEndpointsCommand, NotFoundException } from '@aws-sdk/client-pinpoint';
import { startTestService, type TestDatabase, type TestService } from '../support/test-service.js';
import { NO_POSTGRES, testPostgresUrl } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';
import { SANDBOX_CREDENTIALS } from '../../src/sandbox/sandbox.js';

function sdkFor(service: TestService): PinpointClient {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  return new PinpointClient({
    endpoint: service.sandbox!.vendors.pinpoint.baseUrl,
    region,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
}

for (const database of ['pglite', 'postgres'] as TestDatabase[]) {
  describe(`Erasing a person from Pinpoint by user id (ledger on ${database})`, () => {
    let service: TestService;
    let sdk: PinpointClient;

    before(async function () {
      if (database === 'postgres' && !(await testPostgresUrl())) skipBecause(this, NO_POSTGRES);
      service = await startTestService({ database });
      sdk = sdkFor(service);
    });
    after(async () => {
      sdk?.destroy();
      await service?.close();
    });

    it('completes the request, records the endpoints deleted, and leaves the neighbour untouched', async () => {
      const submitted = await service.api('/v1/requests', {
        body: { subject: { userId: 'user-7' }, vendors: ['pinpoint'] },
      });
      expect(submitted.status).to.equal(202);
      expect(submitted.body.status).to.equal('in_progress');
      await service.waitForRequest(submitted.body.id);

      const status = await service.api(`/v1/requests/${submitted.body.id}`);
      expect(status.body.status).to.equal('completed');
      expect(status.body.tasks).to.have.length(1);
      const [task] = status.body.tasks;
      expect(task.state).to.equal('succeeded');
      expect(task.evidence.endpointsDeleted).to.equal(2);
      expect(task.evidence.verification).to.equal('verified_absent');

      const appId = service.sandbox!.pinpoint.appId;
      const gone = await sdk
        .send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-7' }))
        .catch((e: unknown) => e);
      expect(gone).to.be.instanceOf(NotFoundException);
      const neighbour = await sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: 'user-8' }));
      expect(neighbour.EndpointsResponse?.Item).to.have.length(2);
    });

    it('records not_found, not an error, for a person Pinpoint does not know', async () => {
      const submitted = await service.api('/v1/requests', {
        body: { subject: { userId: 'user-nobody-knows' }, vendors: ['pinpoint'] },
      });
      await service.waitForRequest(submitted.body.id);
      const status = await service.api(`/v1/requests/${submitted.body.id}`);
      expect(status.body.status).to.equal('completed');
      expect(status.body.tasks[0].state).to.equal('not_found');
      expect(status.body.tasks[0].evidence.endpointsFound).to.equal(0);
    });
  });
}
