import { expect } from 'chai';
import { QueueEvents, type Job } from 'bullmq';
import { CreateAppCommand, DeleteAppCommand, GetAppCommand, type PinpointClient } from '@aws-sdk/client-pinpoint';
import type { S3Client } from '@aws-sdk/client-s3';
import { sha256Hex } from '../../src/api/auth.js';
import { SANDBOX_PINPOINT_APP_ID } from '../../src/sandbox/pinpoint/pinpoint-seed.js';
import { S3_SANDBOX_BUCKETS } from '../../src/sandbox/s3/s3-seed.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { reconcile } from '../../src/workers/reconciler.js';
import { createRequestEnqueuer } from '../../src/planner/request-enqueuer.js';
import { projectDeletionJobId } from '../../src/planner/project-deletion-job.js';
import { verifyChain } from '../../src/receipts/audit-chain.js';
import type { S3Location } from '../../src/vendors/s3-settings.js';
import { startTestService, type TestService, type TestServiceOptions } from '../support/test-service.js';
import { allVersions, pinpointSdk, s3Sdk } from '../support/aws-sandbox.js';

const OPERATOR_TOKEN = 'operator-token-for-project-deletion-tests';
const VIEWER_TOKEN = 'viewer-token-for-project-deletion-tests';
const SUBMITTER_TOKEN = 'submitter-token-for-project-deletion-tests';
const APP_ID = SANDBOX_PINPOINT_APP_ID;
const { imports, legacyExports } = S3_SANDBOX_BUCKETS;
/** The seeded project's own files: its segment imports (CSV and NDJSON, with older versions and a delete marker), a prefix of many objects, and its old exports (unversioned bucket). */
const PROJECT_PREFIXES: S3Location[] = [
  { bucket: imports, prefix: 'segments/' },
  { bucket: imports, prefix: 'projects/main/' },
  { bucket: legacyExports, prefix: 'pinpoint-export/' },
];
/** A grace period of one second: honest config (fractions of a day are allowed), short enough to wait for. */
const ONE_SECOND_IN_DAYS = 1 / 86_400;

interface Harness {
  service: TestService;
  pinpoint: PinpointClient;
  s3: S3Client;
  events: QueueEvents;
  close(): Promise<void>;
}

async function startHarness(
  options: { gracePeriodDays?: number; prefixes?: S3Location[]; sandbox?: TestServiceOptions['sandbox'] } = {},
): Promise<Harness> {
  const service = await startTestService({
    sandbox: options.sandbox,
    file: {
      tokens: [
        { name: 'on-call', sha256: sha256Hex(OPERATOR_TOKEN), role: 'operator' },
        { name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
        { name: 'portal', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' },
      ],
      ...(options.gracePeriodDays !== undefined
        ? { projectDeletion: { gracePeriodDays: options.gracePeriodDays } }
        : {}),
      sandbox: {
        subjects: 30,
        clockSpeed: 1,
        vendorOverrides: { pinpoint: { projectPrefixes: { [APP_ID]: options.prefixes ?? PROJECT_PREFIXES } } },
      },
    },
  });
  const events = new QueueEvents('pinpoint', {
    connection: redisConnection(service.redisUrl, true),
    prefix: service.config.queuePrefix,
  });
  events.on('error', () => undefined);
  await events.waitUntilReady();
  const pinpoint = pinpointSdk(service.sandbox!);
  const s3 = s3Sdk(service.sandbox!);
  return {
    service,
    pinpoint,
    s3,
    events,
    async close() {
      pinpoint.destroy();
      s3.destroy();
      await events.close();
      await service.close();
    },
  };
}

async function requestDeletion(h: Harness, body: Record<string, unknown> = {}) {
  return h.service.api('/v1/project-deletions', {
    token: OPERATOR_TOKEN,
    body: { appId: APP_ID, confirmAppId: APP_ID, reason: 'project retired; contract ended (ticket PRIV-204)', ...body },
  });
}

async function deletionJob(h: Harness, id: string): Promise<Job | undefined> {
  return h.service.queues.queue('pinpoint').getJob(projectDeletionJobId(id));
}

/** GetApp through the real SDK: the app's name, or the error Pinpoint answered. */
async function getApp(h: Harness, appId = APP_ID): Promise<string> {
  try {
    const out = await h.pinpoint.send(new GetAppCommand({ ApplicationId: appId }));
    return `exists:${out.ApplicationResponse?.Name}`;
  } catch (err) {
    return `${(err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode} ${(err as Error).name}`;
  }
}

/** Every version and delete marker under each prefix, as the real SDK lists them. */
async function versionsUnder(
  h: Harness,
  locations: S3Location[],
): Promise<Map<string, Array<{ key: string; versionId: string; marker: boolean }>>> {
  const out = new Map<string, Array<{ key: string; versionId: string; marker: boolean }>>();
  for (const l of locations) out.set(`${l.bucket}/${l.prefix}`, await allVersions(h.s3, l.bucket, l.prefix));
  return out;
}

/** More than one page of ListObjectVersions and more than one DeleteObjects call: 1,100 keys, two with an older version, one hidden by a delete marker. */
function seedManyObjects(h: Harness): void {
  const store = h.service.sandbox!.s3.store;
  for (let i = 0; i < 1100; i++)
    store.putObject(
      imports,
      `projects/main/imports/part-${String(i).padStart(5, '0')}.csv`,
      Buffer.from(`Id,ChannelType\nep-${i},EMAIL\n`),
      'text/csv',
    );
  store.putObject(
    imports,
    'projects/main/imports/part-00001.csv',
    Buffer.from('Id,ChannelType\nep-1b,SMS\n'),
    'text/csv',
  );
  store.putObject(
    imports,
    'projects/main/imports/part-00002.csv',
    Buffer.from('Id,ChannelType\nep-2b,SMS\n'),
    'text/csv',
  );
  store.deleteObject(imports, 'projects/main/imports/part-00003.csv');
  // A neighbour whose name starts like the project's prefix but is not under it.
  store.putObject(imports, 'projects/main-archive/keep.csv', Buffer.from('Id,ChannelType\nep-x,EMAIL\n'), 'text/csv');
}

describe('Project deletion (a whole Pinpoint app and its S3 prefixes, after a grace period)', function () {
  this.timeout(90_000);

  describe('with the default five-day grace period', () => {
    let h: Harness;
    beforeEach(async () => {
      h = await startHarness();
    });
    afterEach(async () => h?.close());

    it('refuses an app id that is not typed twice the same, an app that is not configured, and a shorter grace period, each with a 400 naming the field', async () => {
      const mismatch = await requestDeletion(h, { confirmAppId: APP_ID.slice(0, -2) });
      expect(mismatch.status).to.equal(400);
      expect(mismatch.body.error.details).to.deep.equal([
        {
          field: 'confirmAppId',
          problem: 'must repeat appId exactly: the app id is typed twice so that a slip cannot delete another project',
        },
      ]);
      const missing = await requestDeletion(h, { confirmAppId: undefined });
      expect(missing.status).to.equal(400);
      expect(missing.body.error.details).to.deep.include({ field: 'confirmAppId', problem: 'is required' });
      const unknown = await requestDeletion(h, { appId: 'not-our-app', confirmAppId: 'not-our-app' });
      expect(unknown.status).to.equal(400);
      expect(unknown.body.error.details[0].field).to.equal('appId');
      expect(unknown.body.error.message).to.include('is not a configured Pinpoint app');
      const shorter = await requestDeletion(h, { gracePeriodDays: 1 });
      expect(shorter.status).to.equal(400);
      expect(shorter.body.error.details).to.deep.equal([
        { field: 'gracePeriodDays', problem: 'can only lengthen the configured grace period of 5 days' },
      ]);
      const noReason = await requestDeletion(h, { reason: '' });
      expect(noReason.status).to.equal(400);
      expect(
        (await h.service.api('/v1/project-deletions', { token: OPERATOR_TOKEN })).body.projectDeletions,
      ).to.deep.equal([]);
    });

    it('refuses viewers and submitters with 403, reads included, and takes operators', async () => {
      for (const token of [VIEWER_TOKEN, SUBMITTER_TOKEN]) {
        const create = await h.service.api('/v1/project-deletions', {
          token,
          body: { appId: APP_ID, confirmAppId: APP_ID, reason: 'should not be allowed' },
        });
        expect(create.status).to.equal(403);
        expect(create.body.error.message).to.equal('this needs the operator role');
        expect((await h.service.api('/v1/project-deletions', { token })).status).to.equal(403);
      }
      const created = await requestDeletion(h);
      expect(created.status).to.equal(202);
      for (const token of [VIEWER_TOKEN, SUBMITTER_TOKEN]) {
        expect((await h.service.api(`/v1/project-deletions/${created.body.id}`, { token })).status).to.equal(403);
        expect(
          (
            await h.service.api(`/v1/project-deletions/${created.body.id}/cancel`, {
              token,
              body: { reason: 'not mine to cancel' },
            })
          ).status,
        ).to.equal(403);
      }
      expect((await h.service.api('/v1/project-deletions')).status, 'admin').to.equal(200);
    });

    it('can be cancelled during the grace period: the app and its S3 files stay, the delayed job is gone, and a job that survived the cancel does nothing', async () => {
      const before = await versionsUnder(h, PROJECT_PREFIXES);
      const requestedAt = Date.now();
      const created = await requestDeletion(h);
      expect(created.status).to.equal(202);
      expect(created.headers.get('location')).to.equal(`/v1/project-deletions/${created.body.id}`);
      expect(created.body).to.include({
        appId: APP_ID,
        status: 'scheduled',
        cancellable: true,
        gracePeriodDays: 5,
        requestedBy: 'token:on-call',
      });
      expect(Date.parse(created.body.runAt) - requestedAt).to.be.within(5 * 86_400_000 - 5000, 5 * 86_400_000 + 5000);
      expect(created.body.s3Locations).to.deep.equal(PROJECT_PREFIXES);
      const job = await deletionJob(h, created.body.id);
      expect(await job!.getState()).to.equal('delayed');
      expect(job!.data).to.deep.equal({ projectDeletionId: created.body.id });

      const again = await requestDeletion(h, { gracePeriodDays: 7 });
      expect(again.status).to.equal(409);
      expect(again.body.error.message).to.include(created.body.id);

      const noReason = await h.service.api(`/v1/project-deletions/${created.body.id}/cancel`, {
        token: OPERATOR_TOKEN,
        body: {},
      });
      expect(noReason.status).to.equal(400);
      const cancelled = await h.service.api(`/v1/project-deletions/${created.body.id}/cancel`, {
        token: OPERATOR_TOKEN,
        body: { reason: 'the contract was renewed' },
      });
      expect(cancelled.status).to.equal(200);
      expect(cancelled.body).to.include({
        status: 'cancelled',
        cancellable: false,
        cancelledBy: 'token:on-call',
        cancelReason: 'the contract was renewed',
      });
      expect(await deletionJob(h, created.body.id)).to.equal(undefined);
      const twice = await h.service.api(`/v1/project-deletions/${created.body.id}/cancel`, {
        token: OPERATOR_TOKEN,
        body: { reason: 'once more' },
      });
      expect(twice.status).to.equal(409);
      expect(twice.body.error.code).to.equal('already_cancelled');
      expect(twice.body.error.message).to.include('was already cancelled').and.to.include('token:on-call');

      // A job that survived the cancel (a Redis write lost, a replica) and comes due: the ledger says cancelled, so nothing happens.
      await h.service.queues
        .queue('pinpoint')
        .add(
          'delete-project',
          { projectDeletionId: created.body.id },
          { jobId: projectDeletionJobId(created.body.id) },
        );
      const survivor = (await deletionJob(h, created.body.id))!;
      expect(await survivor.waitUntilFinished(h.events, 20_000)).to.deep.equal({ outcome: 'already_cancelled' });

      expect(await getApp(h)).to.equal('exists:erasure-sandbox');
      expect(await versionsUnder(h, PROJECT_PREFIXES)).to.deep.equal(before);
      const shown = await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN });
      expect(shown.body).to.include({ status: 'cancelled', attempts: 0, startedAt: null, outcome: null });
      expect(shown.body.audit.map((e: { action: string; actor: string }) => `${e.actor} ${e.action}`)).to.deep.equal([
        'token:on-call project_deletion.requested',
        'token:on-call project_deletion.cancelled',
      ]);
      expect(shown.body.audit[0].detail).to.include({
        appId: APP_ID,
        reason: 'project retired; contract ended (ticket PRIV-204)',
        gracePeriodDays: 5,
      });
      expect(verifyChain(await h.service.ledger.audit.auditTrail(created.body.id))).to.deep.equal([]);
    });

    it('lists project deletions with their status and when they run on the admin page, for operators only', async () => {
      const created = await requestDeletion(h);
      const page = await h.service.api('/admin/project-deletions', {
        token: OPERATOR_TOKEN,
        headers: { accept: 'text/html' },
      });
      expect(page.status).to.equal(200);
      const row = String(page.body)
        .split('<tr')
        .find((r) => r.includes(`data-project-deletion="${created.body.id}"`));
      expect(row, 'a row for the deletion').to.be.a('string');
      expect(row)
        .to.include(`<code>${APP_ID}</code>`)
        .and.to.include('s-scheduled')
        .and.to.include(`datetime="${created.body.runAt}"`)
        .and.to.match(/in 4 d 23 h|in 5 d 0 h/);
      // Reasons are free text: they stay in the API and the audit trail, not on the page.
      expect(String(page.body)).not.to.include('PRIV-204');
      expect(
        (await h.service.api('/admin/project-deletions', { token: VIEWER_TOKEN, headers: { accept: 'text/html' } }))
          .status,
      ).to.equal(403);
    });

    it('puts a job that Redis lost back from the ledger, due when the grace period ends', async () => {
      const created = await requestDeletion(h);
      const lost = (await deletionJob(h, created.body.id))!;
      await lost.remove();
      expect(await deletionJob(h, created.body.id)).to.equal(undefined);

      const deps = {
        ledger: h.service.ledger,
        queues: h.service.queues,
        enqueue: createRequestEnqueuer({ ledger: h.service.ledger, queues: h.service.queues }),
        logger: h.service.logger,
        projectDeletions: h.service.projectDeletions,
      };
      const report = await reconcile(deps, { enqueueGraceMs: 0, staleAfterMs: 60_000, identityRetentionDays: 30 });
      expect(report.projectDeletionsRecovered).to.equal(1);
      const recreated = (await deletionJob(h, created.body.id))!;
      expect(await recreated.getState()).to.equal('delayed');
      expect(recreated.timestamp + recreated.delay).to.be.closeTo(Date.parse(created.body.runAt), 5000);
      // A second sweep finds the job in place and changes nothing.
      expect(
        (await reconcile(deps, { enqueueGraceMs: 0, staleAfterMs: 60_000, identityRetentionDays: 30 }))
          .projectDeletionsRecovered,
      ).to.equal(0);
      const trail = await h.service.ledger.audit.auditTrail(created.body.id);
      expect(trail.map((e) => e.action)).to.deep.equal([
        'project_deletion.requested',
        'project_deletion.job_recreated',
      ]);
      expect(trail[1].detail).to.include({ previousState: 'missing' });
    });

    it('sends a job promoted before the grace period ends (from Bull Board, say) back to wait, without touching the app', async () => {
      const created = await requestDeletion(h);
      const job = (await deletionJob(h, created.body.id))!;
      await job.promote();
      const delayedAgain = new Promise<void>((resolve) => {
        const onDelayed = ({ jobId }: { jobId: string }) => {
          if (jobId !== job.id) return;
          h.events.off('delayed', onDelayed);
          resolve();
        };
        h.events.on('delayed', onDelayed);
      });
      await delayedAgain;
      const back = (await deletionJob(h, created.body.id))!;
      expect(await back.getState()).to.equal('delayed');
      expect(back.timestamp + back.delay).to.be.closeTo(Date.parse(created.body.runAt), 5000);
      expect(
        (await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN })).body,
      ).to.include({ status: 'scheduled', attempts: 0 });
      expect(await getApp(h)).to.equal('exists:erasure-sandbox');
    });
  });

  describe('after the grace period', () => {
    let h: Harness | undefined;
    afterEach(async () => {
      await h?.close();
      h = undefined;
    });

    it('deletes the app and every object version and delete marker under its prefixes, leaves other apps and prefixes alone, and says so in the evidence and the audit trail', async () => {
      h = await startHarness({ gracePeriodDays: ONE_SECOND_IN_DAYS });
      seedManyObjects(h);
      const neighbourApp = (
        await h.pinpoint.send(new CreateAppCommand({ CreateApplicationRequest: { Name: 'another-project' } }))
      ).ApplicationResponse!.Id!;
      const neighbours: S3Location[] = [
        { bucket: imports, prefix: 'archive/' },
        { bucket: imports, prefix: 'projects/main-archive/' },
      ];
      const before = await versionsUnder(h, PROJECT_PREFIXES);
      const neighboursBefore = await versionsUnder(h, neighbours);
      const entries = [...before.values()].flat();
      expect(entries.filter((e) => e.marker).length, 'delete markers to remove').to.be.greaterThan(1);
      expect(
        before.get(`${imports}/projects/main/`)!.length,
        'more than a page and a DeleteObjects call',
      ).to.be.greaterThan(1000);
      expect([...neighboursBefore.values()].flat()).to.not.be.empty;
      // The first DeleteObjects answer fails one key with a per-key InternalError; the client retries that key.
      let failedOnce = false;
      h.service.sandbox!.s3.store.failDeleteKeys = (key) => {
        if (failedOnce || key !== 'projects/main/imports/part-00500.csv') return undefined;
        failedOnce = true;
        return { Code: 'InternalError', Message: 'We encountered an internal error. Please try again.' };
      };

      const created = await requestDeletion(h);
      expect(created.status).to.equal(202);
      const job = (await deletionJob(h, created.body.id))!;
      expect(await job.waitUntilFinished(h.events, 60_000)).to.deep.equal({ outcome: 'deleted' });
      expect(failedOnce).to.equal(true);

      expect(await getApp(h)).to.equal('404 NotFoundException');
      for (const [where, left] of await versionsUnder(h, PROJECT_PREFIXES)) expect(left, where).to.deep.equal([]);
      expect(await versionsUnder(h, neighbours)).to.deep.equal(neighboursBefore);
      expect(await getApp(h, neighbourApp)).to.equal('exists:another-project');

      const shown = await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN });
      expect(shown.body).to.include({
        status: 'completed',
        outcome: 'deleted',
        attempts: 1,
        error: null,
        cancellable: false,
      });
      expect(shown.body.evidence.app).to.include({
        result: 'deleted',
        name: 'erasure-sandbox',
        verification: 'verified_absent',
      });
      expect(shown.body.evidence.s3.map((p: S3Location) => `${p.bucket}/${p.prefix}`)).to.deep.equal([
        ...before.keys(),
      ]);
      for (const part of shown.body.evidence.s3) {
        const listed = before.get(`${part.bucket}/${part.prefix}`)!;
        expect(part).to.include({
          versionsDeleted: listed.filter((e) => !e.marker).length,
          deleteMarkersDeleted: listed.filter((e) => e.marker).length,
          verification: 'verified_absent',
        });
      }
      expect(Number(shown.body.evidence.versionsDeleted) + Number(shown.body.evidence.deleteMarkersDeleted)).to.equal(
        entries.length,
      );
      const trail = await h.service.ledger.audit.auditTrail(created.body.id);
      expect(trail.map((e) => `${e.actor} ${e.action}`)).to.deep.equal([
        'token:on-call project_deletion.requested',
        'system project_deletion.started',
        'system project_deletion.completed',
      ]);
      expect(trail[2].detail).to.deep.include({ outcome: 'deleted' });
      expect(verifyChain(trail)).to.deep.equal([]);

      const late = await h.service.api(`/v1/project-deletions/${created.body.id}/cancel`, {
        token: OPERATOR_TOKEN,
        body: { reason: 'too late now' },
      });
      expect(late.status).to.equal(409);
      expect(late.body.error.code).to.equal('already_completed');
      expect(late.body.error.message).to.match(/already ran: it completed at \S+ with outcome deleted/);
    });

    it('records an app that was already deleted as completed with outcome not_found and Pinpoint’s 404 as evidence', async () => {
      h = await startHarness({
        gracePeriodDays: ONE_SECOND_IN_DAYS,
        prefixes: [{ bucket: imports, prefix: 'projects/nothing-here/' }],
      });
      await h.pinpoint.send(new DeleteAppCommand({ ApplicationId: APP_ID }));
      const created = await requestDeletion(h);
      expect(created.status).to.equal(202);
      expect(await (await deletionJob(h, created.body.id))!.waitUntilFinished(h.events, 30_000)).to.deep.equal({
        outcome: 'not_found',
      });
      const shown = await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN });
      expect(shown.body).to.include({ status: 'completed', outcome: 'not_found', error: null });
      expect(shown.body.evidence.app).to.deep.equal({ result: 'not_found', vendorAnswer: '404 NotFoundException' });
      expect(shown.body.evidence.s3).to.deep.equal([
        {
          bucket: imports,
          prefix: 'projects/nothing-here/',
          versionsDeleted: 0,
          deleteMarkersDeleted: 0,
          bytesDeleted: 0,
          verification: 'verified_absent',
        },
      ]);
    });

    it('records a project behind Pinpoint’s end of support (403) as not_found with the vendor’s answer, not as a failure', async () => {
      h = await startHarness({
        gracePeriodDays: ONE_SECOND_IN_DAYS,
        prefixes: [],
        sandbox: { pinpoint: { endOfSupportStatus: 403 } },
      });
      const created = await requestDeletion(h);
      expect(await (await deletionJob(h, created.body.id))!.waitUntilFinished(h.events, 30_000)).to.deep.equal({
        outcome: 'not_found',
      });
      const shown = await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN });
      expect(shown.body).to.include({ status: 'completed', outcome: 'not_found' });
      expect(shown.body.evidence.app).to.deep.equal({
        result: 'not_found',
        vendorAnswer: '403 ForbiddenException (past end of support)',
      });
    });

    it('retries a Pinpoint 500 through the error taxonomy and then deletes the app', async () => {
      h = await startHarness({ gracePeriodDays: ONE_SECOND_IN_DAYS, prefixes: [] });
      const sandbox = h.service.sandbox!;
      sandbox.faults.set('pinpoint', { errorRate: 1 });
      // The worker reports every failed attempt; after the first (a 500 from DeleteApp) Pinpoint recovers.
      const worker = h.service.workers!.workers.find((w) => w.name === 'pinpoint')!;
      const firstFailure = new Promise<string>((resolve) => {
        worker.once('failed', (_job, err) => {
          sandbox.faults.set('pinpoint', { errorRate: 0 });
          resolve(err.message);
        });
      });
      const created = await requestDeletion(h);
      const job = (await deletionJob(h, created.body.id))!;
      expect(await firstFailure).to.equal('pinpoint DeleteApp failed (500 InternalServerErrorException)');
      expect(await job.waitUntilFinished(h.events, 30_000)).to.deep.equal({ outcome: 'deleted' });
      const shown = await h.service.api(`/v1/project-deletions/${created.body.id}`, { token: OPERATOR_TOKEN });
      expect(shown.body).to.include({ status: 'completed', outcome: 'deleted' });
      expect(shown.body.attempts).to.be.greaterThan(1);
      expect(await getApp(h)).to.equal('404 NotFoundException');
    });

    it('runs a deletion whose job Redis lost once the reconciler has put it back', async () => {
      h = await startHarness({ gracePeriodDays: ONE_SECOND_IN_DAYS, prefixes: [] });
      const queue = h.service.queues.queue('pinpoint');
      await queue.pause();
      const created = await requestDeletion(h);
      await (await deletionJob(h, created.body.id))!.remove();
      const report = await reconcile(
        {
          ledger: h.service.ledger,
          queues: h.service.queues,
          enqueue: createRequestEnqueuer({ ledger: h.service.ledger, queues: h.service.queues }),
          logger: h.service.logger,
          projectDeletions: h.service.projectDeletions,
        },
        { enqueueGraceMs: 0, staleAfterMs: 60_000, identityRetentionDays: 30 },
      );
      expect(report.projectDeletionsRecovered).to.equal(1);
      const recreated = (await deletionJob(h, created.body.id))!;
      await queue.resume();
      expect(await recreated.waitUntilFinished(h.events, 30_000)).to.deep.equal({ outcome: 'deleted' });
      expect(await getApp(h)).to.equal('404 NotFoundException');
    });
  });
});
