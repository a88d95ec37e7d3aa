import { expect } from 'chai';
import { exportSegment } from '../../jobs/export-segment.js';
import { deleteUserEndpoints } from '../../jobs/delete-user-endpoints.js';
import type { BatchInput, BatchResult, TaskInput } from '../../src/connectors/processor-contract.js';
import type { PinpointClient } from '../../src/vendors/pinpoint-client.js';
import { MisconfiguredVendorError, PermanentVendorError, scopeMissing } from '../../src/vendors/vendor-errors.js';

/**
 * Issue 17: Pinpoint answers 404 alike for an unknown user and an unknown app, so neither the
 * by-user-id task nor the shared export trusts a "gone" answer before the app is looked up.
 */
const GONE = { gone: true as const, vendorAnswer: '404 NotFoundException' };
const RETIRED = {
  gone: true as const,
  vendorAnswer:
    'GetApp 403 ForbiddenException (past end of support); GetApps 403 ForbiddenException (past end of support)',
  endOfSupportAt: '2026-10-30T00:00:00Z',
};
const MISTYPED = scopeMissing(
  { vendor: 'pinpoint', operation: 'GetApp', code: '404 NotFoundException' },
  'vendors.pinpoint.appIds[0]',
  'does not exist in us-east-1',
);

function fakePinpoint(confirm: () => Promise<unknown>): PinpointClient {
  const purged = { versionsDeleted: 0, markersDeleted: 0, bytesDeleted: 0 };
  return {
    settings: {
      appIds: ['app-1'],
      region: 'us-east-1',
      addressScan: { bucket: 'exports', prefix: 'erasure/', roleArn: 'arn:aws:iam::1:role/r' },
    },
    exports: { purgePrefix: async () => purged },
    getUserEndpoints: async () => [],
    deleteUserEndpoints: async () => [],
    createExportJob: async () => GONE,
    findExportJob: async () => undefined,
    confirmApp: confirm,
  } as unknown as PinpointClient;
}

const taskInput = (): TaskInput => ({
  requestId: 'r1',
  taskId: 't1',
  resource: 'app/app-1',
  subject: { userId: 'user-7' },
  attempt: 1,
  previous: {},
  checkpoint: async () => undefined,
  awaitBatch: async () => {
    throw new Error('not used');
  },
});
const batchInput = (): BatchInput => ({
  batchId: 'b1',
  scope: 'app/app-1',
  members: [{ taskId: 't1', requestId: 'r1', subject: { email: 'user7@example.com' } }],
  attempt: 1,
  previous: {},
  checkpoint: async () => undefined,
});

describe('Pinpoint looks the app up before trusting a 404 (issue 17)', () => {
  it('by user id: an empty answer in an app that exists is verified_absent', async () => {
    const result = await deleteUserEndpoints(taskInput(), { client: fakePinpoint(async () => ({ id: 'app-1' })) });
    expect(result.outcome).to.equal('not_found');
    expect(result.evidence).to.include({ verification: 'verified_absent', endpointsFound: 0 });
  });

  it('by user id: an unknown app is a MisconfiguredVendorError naming vendors.pinpoint.appIds[0], never an outcome', async () => {
    const err = await deleteUserEndpoints(taskInput(), {
      client: fakePinpoint(async () => Promise.reject(MISTYPED)),
    }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MisconfiguredVendorError);
    expect((err as Error).message).to.match(/^vendors\.pinpoint\.appIds\[0\] does not exist in us-east-1/);
  });

  it('by user id: Pinpoint past its end of support is scope_gone with the answer and the date', async () => {
    const result = await deleteUserEndpoints(taskInput(), { client: fakePinpoint(async () => RETIRED) });
    expect(result.outcome).to.equal('not_found');
    expect(result.evidence).to.include({
      verification: 'scope_gone',
      vendorAnswer: RETIRED.vendorAnswer,
      endOfSupportAt: RETIRED.endOfSupportAt,
    });
  });

  it('shared export: CreateExportJob answering 404 for a mistyped app fails the batch with the config error', async () => {
    const err = await exportSegment(batchInput(), { client: fakePinpoint(async () => Promise.reject(MISTYPED)) }).catch(
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(MisconfiguredVendorError);
    expect((err as MisconfiguredVendorError).configKey).to.equal('vendors.pinpoint.appIds[0]');
  });

  it('shared export: past end of support, every member gets the answer and the date', async () => {
    const result = (await exportSegment(batchInput(), { client: fakePinpoint(async () => RETIRED) })) as Extract<
      BatchResult,
      { outcome: 'done' }
    >;
    expect(result.outcome).to.equal('done');
    expect(result.members.get('t1')).to.deep.equal({
      state: 'done',
      result: { appGone: true, vendorAnswer: RETIRED.vendorAnswer, endOfSupportAt: RETIRED.endOfSupportAt },
    });
  });

  it('shared export: a missing export bucket is a config error naming vendors.pinpoint.addressScan.bucket', async () => {
    const completed = {
      jobId: 'j1',
      status: 'COMPLETED',
      totalPieces: 1,
      completedPieces: 1,
      failedPieces: 0,
      totalProcessed: 1,
      totalFailures: 0,
    };
    const noSuchBucket = () =>
      new PermanentVendorError({ vendor: 's3', operation: 'ListObjectsV2', status: 404, code: 'NoSuchBucket' });
    const pinpoint = {
      ...fakePinpoint(async () => ({ id: 'app-1' })),
      createExportJob: async () => completed,
      getExportJob: async () => completed,
      exports: {
        listKeys: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(noSuchBucket()) }) }),
        purgePrefix: () => Promise.reject(noSuchBucket()),
      },
    } as unknown as PinpointClient;
    const err = await exportSegment(batchInput(), { client: pinpoint }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(MisconfiguredVendorError);
    expect((err as MisconfiguredVendorError).configKey).to.equal('vendors.pinpoint.addressScan.bucket');
  });

  it('shared export: a 404 for an app GetApp still describes is not trusted (transient)', async () => {
    const err = await exportSegment(batchInput(), { client: fakePinpoint(async () => ({ id: 'app-1' })) }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).name).to.equal('TransientVendorError');
  });
});
