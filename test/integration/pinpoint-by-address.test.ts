import { expect } from 'chai';
import {
  GetEndpointCommand,
  GetUserEndpointsCommand,
  NotFoundException,
  UpdateEndpointCommand,
  type PinpointClient,
} from '@aws-sdk/client-pinpoint';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { allVersions, pinpointSdk, pumpClock, readText, s3Sdk } from '../support/aws-sandbox.js';
import { sandboxVendorSettings, startCrashRig, type CrashRig } from '../support/crash-rig.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import type { SandboxOptions } from '../../src/sandbox/sandbox.js';
import { NO_POSTGRES } from '../support/postgres.js';
import { skipBecause } from '../support/skip.js';

/** Fast batches for tests: a short window, quick polls; the sandbox clock is pumped meanwhile. */
const OVERRIDES = {
  pinpoint: { batchWindowMs: 400, pollIntervalMs: 100 },
  s3: { batchWindowMs: 400 },
};

async function start(
  subjects: number,
  extra: { vendorOverrides?: Record<string, unknown>; sandbox?: SandboxOptions } = {},
): Promise<TestService> {
  return startTestService({
    subjects,
    sandbox: extra.sandbox,
    file: { sandbox: { subjects, clockSpeed: 1, vendorOverrides: { ...OVERRIDES, ...(extra.vendorOverrides ?? {}) } } },
  });
}

/** Every endpoint Address in the sandbox app, through GetEndpoint for the ids the store lists. */
function addressesOf(service: TestService): string[] {
  const app = service.sandbox!.pinpoint.store.apps.get(service.sandbox!.pinpoint.appId.toLowerCase())!;
  return [...app.endpoints.values()].map((e) => e.Address ?? '');
}

async function userEndpointCount(sdk: PinpointClient, appId: string, userId: string): Promise<number> {
  const out = await sdk
    .send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: userId }))
    .catch((e: unknown) => e);
  if (out instanceof NotFoundException) return 0;
  return (out as { EndpointsResponse?: { Item?: unknown[] } }).EndpointsResponse?.Item?.length ?? 0;
}

/** Current content of every object under a bucket/prefix, by key (gunzipped). */
async function currentFiles(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of await allVersions(s3, bucket, prefix))
    if (v.isLatest && !v.marker) out.set(v.key, await readText(s3, bucket, v.key, v.versionId));
  return out;
}

/** Every version's content under a bucket/prefix (gunzipped), keyed `key@version`. */
async function everyVersion(s3: S3Client, bucket: string, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of await allVersions(s3, bucket, prefix))
    if (!v.marker) out.set(`${v.key}@${v.versionId}`, await readText(s3, bucket, v.key, v.versionId));
  return out;
}

/** The lines of `text` that do not name `needle` as a whole field: what a rewrite must leave, byte for byte. */
function withoutRowsOf(text: string, needle: RegExp): string {
  return text
    .split(/(?<=\n)/)
    .filter((line) => !needle.test(line))
    .join('');
}

const LOCATIONS = [
  { bucket: S3_SANDBOX_BUCKETS.imports, prefix: 'segments/' },
  { bucket: S3_SANDBOX_BUCKETS.imports, prefix: 'archive/' },
  { bucket: S3_SANDBOX_BUCKETS.legacyExports, prefix: 'pinpoint-export/' },
];

describe('Erasing a person from Pinpoint and S3 by e-mail or phone (shared export scan)', () => {
  describe('one request by e-mail only, end to end in the sandbox', () => {
    let service: TestService;
    let pinpoint: PinpointClient;
    let s3: S3Client;
    let stopClock: () => void;

    before(async () => {
      service = await start(150);
      pinpoint = pinpointSdk(service.sandbox!);
      s3 = s3Sdk(service.sandbox!);
      stopClock = pumpClock(service.sandbox!);
    });
    after(async () => {
      stopClock?.();
      pinpoint?.destroy();
      s3?.destroy();
      await service?.close();
    });

    it('completes; no endpoint has the address; neighbours, export files and everyone else’s rows are as they should be', async function () {
      this.timeout(60_000);
      const appId = service.sandbox!.pinpoint.appId;
      const before = new Map<string, Map<string, string>>();
      for (const { bucket, prefix } of LOCATIONS)
        before.set(`${bucket}/${prefix}`, await currentFiles(s3, bucket, prefix));
      const neighbours: Record<string, number> = {};
      for (const userId of ['user-41', 'user-42', 'user-43', 'user-142'])
        neighbours[userId] = await userEndpointCount(pinpoint, appId, userId);
      expect(addressesOf(service).filter((a) => a === 'user42@example.com')).to.have.length(1);

      const submitted = await service.api('/v1/requests', {
        body: { subject: { email: 'user42@example.com' }, vendors: ['pinpoint', 's3'] },
      });
      expect(submitted.status).to.equal(202);
      await service.waitForRequest(submitted.body.id, 50_000);

      const status = await service.api(`/v1/requests/${submitted.body.id}`);
      expect(status.body.status).to.equal('completed');
      const find = status.body.tasks.find((t: { action: string }) => t.action === 'find-endpoint');
      expect(find.state).to.equal('succeeded');
      expect(find.evidence).to.include({ endpointsFound: 1, endpointsDeleted: 1, verification: 'verified_absent' });
      const purges = status.body.tasks.filter((t: { action: string }) => t.action === 'purge-s3-prefix');
      expect(purges).to.have.length(3);
      for (const task of purges) {
        expect(task.state).to.equal('succeeded');
        expect(task.evidence.verification).to.equal('verified_absent');
      }

      // Pinpoint, read back through the SDK: the address is gone; the neighbours are intact.
      expect(addressesOf(service)).to.not.include('user42@example.com');
      const gone = await pinpoint
        .send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: find.evidence.endpointIds[0] }))
        .catch((e: unknown) => e);
      expect(gone).to.be.instanceOf(NotFoundException);
      // user-41, user-43 and user142@example.com (which ends in the address) keep everything; user-42 keeps its SMS and push endpoints.
      for (const [userId, count] of Object.entries(neighbours))
        expect(await userEndpointCount(pinpoint, appId, userId), userId).to.equal(
          userId === 'user-42' ? count - 1 : count,
        );
      expect(addressesOf(service)).to.include.members(['user4@example.com', 'user142@example.com', '+15550000042']);

      // Our own export files: nothing left under the export prefix, no version, no marker.
      expect(await allVersions(s3, S3_SANDBOX_BUCKETS.exports, '')).to.deep.equal([]);

      // Import and export files: the person's rows are gone from every version; everyone else's rows are byte-identical.
      const person = /"user42@example\.com"|,user42@example\.com,/;
      for (const { bucket, prefix } of LOCATIONS) {
        for (const [version, text] of await everyVersion(s3, bucket, prefix))
          expect(person.test(text), `${bucket}/${version}`).to.equal(false);
        const after = await currentFiles(s3, bucket, prefix);
        const earlier = before.get(`${bucket}/${prefix}`)!;
        expect([...after.keys()]).to.deep.equal([...earlier.keys()]);
        for (const [key, text] of earlier)
          expect(after.get(key), `${bucket}/${key}`).to.equal(withoutRowsOf(text, person));
      }
      // The seeded files that held the person did change (the test would pass vacuously otherwise).
      const csv = before.get(`${S3_SANDBOX_BUCKETS.imports}/segments/`)!.get('segments/csv/batch-0000.csv')!;
      expect(person.test(csv)).to.equal(true);
    });
  });

  describe('neighbours', () => {
    let service: TestService;
    let pinpoint: PinpointClient;
    let s3: S3Client;
    let stopClock: () => void;

    before(async () => {
      service = await start(20);
      pinpoint = pinpointSdk(service.sandbox!);
      s3 = s3Sdk(service.sandbox!);
      stopClock = pumpClock(service.sandbox!);
    });
    after(async () => {
      stopClock?.();
      pinpoint?.destroy();
      s3?.destroy();
      await service?.close();
    });

    it('erasing ann@x.com and +15550000001 leaves joann@x.com, ann@x.com.au and +155500000011, in Pinpoint and in S3 rows', async function () {
      this.timeout(60_000);
      const appId = service.sandbox!.pinpoint.appId;
      const endpoints: Record<string, { channel: string; address: string; userId?: string }> = {
        'target-mail': { channel: 'EMAIL', address: 'ann@x.com' },
        'target-mail-upper': { channel: 'EMAIL', address: 'Ann@X.com' },
        'target-phone': { channel: 'SMS', address: '+15550000001' },
        joann: { channel: 'EMAIL', address: 'joann@x.com' },
        'ann-au': { channel: 'EMAIL', address: 'ann@x.com.au' },
        xann: { channel: 'EMAIL', address: 'xann@x.com' },
        'longer-phone': { channel: 'SMS', address: '+155500000011' },
        'user-id-lookalike': { channel: 'EMAIL', address: 'other@y.org', userId: 'ann@x.com' },
      };
      for (const [id, e] of Object.entries(endpoints)) {
        await pinpoint.send(
          new UpdateEndpointCommand({
            ApplicationId: appId,
            EndpointId: id,
            EndpointRequest: {
              ChannelType: e.channel as 'EMAIL',
              Address: e.address,
              ...(e.userId ? { User: { UserId: e.userId } } : {}),
            },
          }),
        );
      }
      const csv = [
        'ChannelType,Address,Id,User.UserId',
        'EMAIL,ann@x.com,target-mail,',
        'EMAIL,joann@x.com,joann,',
        'EMAIL,"ann@x.com.au",ann-au,',
        'SMS,+15550000001,target-phone,',
        'SMS,+155500000011,longer-phone,',
        'EMAIL,other@y.org,user-id-lookalike,ann@x.com',
        '',
      ].join('\r\n');
      await s3.send(
        new PutObjectCommand({
          Bucket: S3_SANDBOX_BUCKETS.imports,
          Key: 'segments/neighbours.csv',
          Body: csv,
          ContentType: 'text/csv',
        }),
      );

      // An endpoint of the person's that changes hands after the export's snapshot is left alone (read back before deleting).
      await pinpoint.send(
        new UpdateEndpointCommand({
          ApplicationId: appId,
          EndpointId: 'moving',
          EndpointRequest: { ChannelType: 'EMAIL', Address: 'ann@x.com' },
        }),
      );
      service.sandbox!.faults.set('s3', { latencyMs: 500 });

      const submitted = await service.api('/v1/requests', {
        body: { subject: { email: 'ANN@x.com', phone: '+1 555 000 0001' }, vendors: ['pinpoint', 's3'] },
      });
      expect(submitted.status).to.equal(202);
      const app = service.sandbox!.pinpoint.store.apps.get(appId.toLowerCase())!;
      await waitFor(async () => [...app.exportJobs.values()].some((job) => job.begun), 30_000, 10);
      await pinpoint.send(
        new UpdateEndpointCommand({
          ApplicationId: appId,
          EndpointId: 'moving',
          EndpointRequest: { ChannelType: 'EMAIL', Address: 'new-owner@x.com' },
        }),
      );
      service.sandbox!.faults.set('s3', { latencyMs: 0 });
      await service.waitForRequest(submitted.body.id, 50_000);
      const status = await service.api(`/v1/requests/${submitted.body.id}`);
      expect(status.body.status).to.equal('completed');

      const exists = async (id: string) =>
        !(
          (await pinpoint
            .send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: id }))
            .catch((e: unknown) => e)) instanceof NotFoundException
        );
      for (const id of ['target-mail', 'target-mail-upper', 'target-phone'])
        expect(await exists(id), id).to.equal(false);
      for (const id of ['joann', 'ann-au', 'xann', 'longer-phone', 'user-id-lookalike', 'moving'])
        expect(await exists(id), id).to.equal(true);
      const find = status.body.tasks.find((t: { action: string }) => t.action === 'find-endpoint');
      expect(find.evidence).to.include({ endpointsFound: 5, endpointsDeleted: 4, changedSinceExport: 1 });
      // The seeded person whose phone it is loses that SMS endpoint, not their e-mail one.
      expect(addressesOf(service)).to.include('user1@example.com').and.not.include('+15550000001');

      expect(await readText(s3, S3_SANDBOX_BUCKETS.imports, 'segments/neighbours.csv')).to.equal(
        [
          'ChannelType,Address,Id,User.UserId',
          'EMAIL,joann@x.com,joann,',
          'EMAIL,"ann@x.com.au",ann-au,',
          'SMS,+155500000011,longer-phone,',
          'EMAIL,other@y.org,user-id-lookalike,ann@x.com',
          '',
        ].join('\r\n'),
      );
    });
  });

  describe('when the export fails, or the app is gone', () => {
    let service: TestService | undefined;
    let stopClock: (() => void) | undefined;
    afterEach(async () => {
      stopClock?.();
      await service?.close();
      service = undefined;
    });

    it('deletes the files of an export that FAILED, and serves its requests with a new batch', async function () {
      this.timeout(60_000);
      let exports = 0;
      service = await start(20, {
        sandbox: {
          pinpoint: { injectJobFailure: () => (exports++ === 0 ? { kind: 'pieces_failed', pieces: 1 } : undefined) },
        },
      });
      stopClock = pumpClock(service.sandbox!);
      const s3 = s3Sdk(service.sandbox!);
      const submitted = await service.api('/v1/requests', {
        body: { subject: { email: 'user3@example.com' }, vendors: ['pinpoint'] },
      });
      await service.waitForRequest(submitted.body.id, 50_000);
      const status = (await service.api(`/v1/requests/${submitted.body.id}`)).body;
      expect(status.status).to.equal('completed');
      expect(status.tasks[0].evidence).to.include({ endpointsDeleted: 1 });
      expect(exports, 'the failed export and the one that served the request').to.equal(2);
      expect(
        await allVersions(s3, S3_SANDBOX_BUCKETS.exports, ''),
        'the failed export’s pieces were deleted too',
      ).to.deep.equal([]);
      s3.destroy();
    });

    for (const endOfSupportStatus of [404, 403] as const) {
      it(`records not_found with the vendor's answer when Pinpoint answers ${endOfSupportStatus} past its end of support`, async function () {
        this.timeout(60_000);
        service = await start(20, { sandbox: { pinpoint: { endOfSupportStatus } } });
        const submitted = await service.api('/v1/requests', {
          body: { subject: { email: 'user3@example.com', userId: 'user-3' }, vendors: ['pinpoint'] },
        });
        await service.waitForRequest(submitted.body.id, 50_000);
        const status = (await service.api(`/v1/requests/${submitted.body.id}`)).body;
        expect(status.status).to.equal('completed');
        const find = status.tasks.find((t: { action: string }) => t.action === 'find-endpoint');
        expect(find.state).to.equal('not_found');
        // Issue 17: the answer is kept only once GetApps answered the same way (Pinpoint itself is gone, not a mistyped app).
        expect(find.evidence).to.include({ appGone: true, verification: 'scope_gone' });
        expect(find.evidence.vendorAnswer).to.match(
          new RegExp(`^GetApp ${endOfSupportStatus} (NotFound|Forbidden)Exception.*; GetApps ${endOfSupportStatus} `),
        );
        const byUserId = status.tasks.find((t: { action: string }) => t.action === 'delete-user-endpoints');
        expect(byUserId.state).to.equal('not_found');
        expect(byUserId.evidence).to.include({ verification: 'scope_gone' });
      });
    }
  });

  describe('500 requests in one window', () => {
    let service: TestService;
    let stopClock: () => void;

    before(async function () {
      this.timeout(30_000);
      service = await start(500, {
        // DeleteEndpoint and GetEndpoint run at the sandbox's quota, raised here so 550 deletions take a second, not two minutes.
        sandbox: { pinpoint: { rates: { DeleteEndpoint: 2000, GetEndpoint: 4000 } } },
        vendorOverrides: {
          pinpoint: {
            // The window outlasts the intake of 500 requests; the batch starts as soon as all 500 have joined.
            batchWindowMs: 120_000,
            batchMaxSubjects: 500,
            pollIntervalMs: 100,
            rateLimit: { max: 2000, durationMs: 1000 },
            concurrency: 50,
            operationLimits: {
              DeleteEndpoint: { max: 1000, durationMs: 1000 },
              GetEndpoint: { max: 2000, durationMs: 1000 },
            },
          },
        },
      });
      stopClock = pumpClock(service.sandbox!);
    });
    after(async () => {
      stopClock?.();
      await service?.close();
    });

    it('makes exactly one CreateExportJob and one scan for all of them, and completes all 500', async function () {
      this.timeout(180_000);
      await service.api('/sandbox/stats/reset', { method: 'POST' });
      const requests = Array.from({ length: 500 }, (_, i) => ({
        subject: { email: `user${i}@example.com` },
        vendors: ['pinpoint'],
      }));
      const submitted = await service.api('/v1/requests', { body: { requests } });
      expect(submitted.status).to.equal(202);
      const ids: string[] = submitted.body.results.map((r: { id: string }) => r.id);
      expect(ids).to.have.length(500);
      // Wait on the ledger: a parent job that finished early may already be trimmed from Redis.
      await waitFor(
        async () => (await service.ledger.queries.countRequestsByStatus()).byStatus.completed === 500,
        170_000,
        250,
      );

      // From the vendor's side: one export job, its files listed once and each read once.
      const stats = (await service.api('/sandbox/stats')).body;
      const calls = (vendor: string, op: string) => stats[vendor]?.operations?.[op]?.calls ?? 0;
      expect(calls('pinpoint', 'CreateExportJob')).to.equal(1);
      expect(calls('pinpoint', 'GetExportJobs'), 'the job was recorded, never looked for').to.equal(0);
      expect(calls('s3', 'ListObjectsV2')).to.equal(1);
      expect(calls('s3', 'GetObject'), 'each export file read once (3 pieces)').to.equal(3);
      expect(stats.pinpoint.total.throttled, 'DeleteEndpoint and GetEndpoint kept to the quota').to.equal(0);

      // From the ledger: every request completed, all in the same batch.
      const batchIds = new Set<string>();
      let deleted = 0;
      for (const id of ids) {
        expect((await service.ledger.requests.getRequest(id))!.status).to.equal('completed');
        const [task] = await service.ledger.tasks.getTasks(id);
        expect(task.state, `task of ${id}`).to.equal('succeeded');
        batchIds.add(String(task.evidence.batchId));
        deleted += Number(task.evidence.endpointsDeleted);
      }
      expect(batchIds.size).to.equal(1);
      expect(deleted, 'an e-mail endpoint each, and an anonymous one for every tenth person').to.equal(550);
      expect(calls('pinpoint', 'DeleteEndpoint')).to.equal(550);
      expect(addressesOf(service).filter((a) => a.endsWith('@example.com'))).to.deep.equal([]);
    });
  });
});

describe('Pinpoint by address: a worker process killed mid-way, then started again', () => {
  let rig: CrashRig | undefined;
  let s3: S3Client;

  before(async function () {
    this.timeout(60_000);
    rig = await startCrashRig({
      subjects: 30,
      queues: ['pinpoint', 's3'],
      // DeleteEndpoint paced at 2/s here, so the test can catch the task between two deletions.
      vendors: (sandbox) =>
        sandboxVendorSettings(sandbox, {
          pinpoint: { operationLimits: { DeleteEndpoint: { max: 2, durationMs: 1000 } } },
        }),
    });
    if (!rig) skipBecause(this, NO_POSTGRES);
    s3 = s3Sdk(rig.sandbox);
  });
  afterEach(() => {
    rig?.killWorkers();
    rig?.sandbox.faults.set('s3', { latencyMs: 0 });
    rig?.sandbox.faults.set('pinpoint', { latencyMs: 0 });
  });
  after(async () => {
    s3?.destroy();
    await rig?.close();
  });

  /** The shared export batch a request's find-endpoint task joined. */
  async function batchOf(requestId: string): Promise<string> {
    return waitFor(async () => {
      const task = (await rig!.service.ledger.tasks.getTasks(requestId)).find((t) => t.action === 'find-endpoint');
      return typeof task?.evidence.batchId === 'string' ? task.evidence.batchId : undefined;
    });
  }

  async function phaseReached(batchId: string, phase: string): Promise<void> {
    await waitFor(async () => (await rig!.batches.get(batchId))?.evidence.phase === phase, 30_000, 20);
  }

  async function expectErased(requestId: string, email: string): Promise<Record<string, unknown>> {
    const request = await rig!.finished(requestId);
    expect(request.status).to.equal('completed');
    const task = (await rig!.service.ledger.tasks.getTasks(requestId)).find((t) => t.action === 'find-endpoint')!;
    expect(task.state).to.equal('succeeded');
    expect(task.evidence.verification).to.equal('verified_absent');
    const app = rig!.sandbox.pinpoint.store.apps.get(rig!.sandbox.pinpoint.appId.toLowerCase())!;
    expect([...app.endpoints.values()].map((e) => e.Address)).to.not.include(email);
    expect(
      await allVersions(s3, rig!.sandbox.s3.buckets.exports, ''),
      'no export file, version or marker left',
    ).to.deep.equal([]);
    return task.evidence;
  }

  it('a crash during the scan: the new worker scans again, deletes the export files, and the request completes', async function () {
    this.timeout(90_000);
    await rig!.startWorker();
    rig!.sandbox.faults.set('s3', { latencyMs: 1500 });
    const id = await rig!.submit({ subject: { email: 'user5@example.com' }, vendors: ['pinpoint'] });
    const batchId = await batchOf(id);
    await phaseReached(batchId, 'scanning');
    rig!.killWorkers();
    rig!.sandbox.faults.set('s3', { latencyMs: 0 });
    await rig!.startWorker();

    await expectErased(id, 'user5@example.com');
    const batch = (await rig!.batches.get(batchId))!;
    expect(batch.state).to.equal('done');
    expect(batch.attempts, 'the killed run and the one that finished').to.be.at.least(2);
    expect(batch.evidence.exportFilesDeleted).to.be.greaterThan(0);
  });

  it('a crash while the export files are being deleted: the new worker finishes the purge from the checkpoint', async function () {
    this.timeout(90_000);
    await rig!.startWorker();
    rig!.sandbox.faults.set('s3', { latencyMs: 1000 });
    const id = await rig!.submit({ subject: { email: 'user6@example.com' }, vendors: ['pinpoint'] });
    const batchId = await batchOf(id);
    await phaseReached(batchId, 'purging');
    rig!.killWorkers();
    const exportFiles = await allVersions(s3, rig!.sandbox.s3.buckets.exports, '');
    expect(exportFiles.length, 'the files were still there when the worker died').to.be.greaterThan(0);
    rig!.sandbox.faults.set('s3', { latencyMs: 0 });
    await rig!.startWorker();

    const evidence = await expectErased(id, 'user6@example.com');
    expect(evidence.endpointsDeleted).to.equal(1);
    expect(
      (await rig!.batches.get(batchId))!.evidence.matches,
      'the per-member lists are not kept once handed out',
    ).to.equal(null);
    expect(
      (await rig!.batches.get(batchId))!.evidence.exportPurge,
      'the file counts are a lower bound, and say so',
    ).to.equal('removed_in_earlier_attempt');
  });

  it('a crash between two endpoint deletions: the new worker goes on with the next endpoint, and every one is gone', async function () {
    this.timeout(90_000);
    await rig!.startWorker();
    // user10 has an e-mail endpoint with their user id, an anonymous one, and an SMS endpoint.
    const id = await rig!.submit({
      subject: { email: 'user10@example.com', phone: '+15550000010' },
      vendors: ['pinpoint'],
    });
    const taskOf = async () =>
      (await rig!.service.ledger.tasks.getTasks(id)).find((t) => t.action === 'find-endpoint')!;
    await waitFor(async () => ((await taskOf()).evidence.deletedIds as string[] | undefined)?.length === 1, 30_000, 10);
    rig!.killWorkers();
    const atCrash = (await taskOf()).evidence.deletedIds as string[];
    expect(atCrash.length, 'killed between deletions').to.be.lessThan(3);
    await rig!.startWorker();

    const evidence = await expectErased(id, 'user10@example.com');
    expect(evidence.endpointsFound).to.equal(3);
    expect(evidence.endpointsDeleted, 'deleted across both runs, each once').to.equal(3);
    expect(evidence.deletedIds).to.include.members(atCrash);
    const app = rig!.sandbox.pinpoint.store.apps.get(rig!.sandbox.pinpoint.appId.toLowerCase())!;
    expect([...app.endpoints.values()].map((e) => e.Address)).to.not.include('+15550000010');
    expect(
      rig!.sandbox.pinpoint.store.deletions.filter((d) => d.operation === 'DeleteEndpoint' && d.userId === 'user-10'),
    ).to.have.length(2);
  });
});
