import { expect } from 'chai';
import got, { type Got } from 'got';
import { XMLParser } from 'fast-xml-parser';
import type { Sandbox, SandboxOptions } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { batchJobId } from '../../src/workers/batch-coordinator.js';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';

/**
 * App Center erasure end to end, in sandbox mode with App Center's settings overridden
 * (`sandbox.vendorOverrides`): devices matched by their e-mail and user_id custom properties, short
 * batching windows, a limiter to suit. Every check of what is left at the vendor goes through the
 * App Center API with got, never the simulator's store.
 */
interface Harness {
  sandbox: Sandbox;
  service: TestService;
  vendor: Got;
  api(pathname: string, body?: unknown): Promise<{ status: number; body: any }>;
  waitForRequest(id: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function startHarness(options: {
  subjects: number;
  sandbox?: SandboxOptions['appcenter'];
  appcenter?: Record<string, unknown>;
}): Promise<Harness> {
  const appcenter = {
    customProperties: { email: ['email'], userId: ['user_id'] },
    rateLimit: { max: 2000, durationMs: 1000 },
    concurrency: 20,
    throttleDelayMs: 200,
    deviceExport: { windowMs: 300, maxMembers: 1000, pollMs: 100 },
    sweep: { windowMs: 300, maxMembers: 1000 },
    ...options.appcenter,
  };
  const service = await startTestService({
    subjects: options.subjects,
    file: { sandbox: { subjects: options.subjects, clockSpeed: 1, vendorOverrides: { appcenter } } },
    sandbox: { appcenter: { defaultRate: 5000, ...options.sandbox } },
  });
  const sandbox = service.sandbox!;
  const vendor = got.extend({
    headers: { 'x-api-token': sandbox.vendors.appcenter.credentials.apiToken },
    throwHttpErrors: false,
    retry: { limit: 0 },
    responseType: 'json',
  });
  return {
    sandbox,
    service,
    vendor,
    api: (pathname, body) => service.api(pathname, body === undefined ? {} : { body }),
    waitForRequest: (id, timeoutMs) => service.waitForRequest(id, timeoutMs),
    close: () => service.close(),
  };
}

function appUrl(h: Harness, path: string): string {
  return `${h.sandbox.vendors.appcenter.baseUrl}/v0.1/apps/${h.sandbox.appcenter.owner}/${h.sandbox.appcenter.app}${path}`;
}

/** Every install id App Center holds, read the way App Center offers it: a device export into the blob container. */
async function exportedInstallIds(h: Harness): Promise<Set<string>> {
  const sasUri = h.sandbox.vendors.appcenter.exportContainerSasUri as string;
  const started = await h.vendor.post<{ export_id: string }>(appUrl(h, '/push/device_exports'), {
    json: { blob_container_sas_uri: sasUri },
  });
  expect(started.statusCode).to.equal(202);
  const exportId = started.body.export_id;
  h.sandbox.clock.advance(10 * 60_000);
  const status = await h.vendor.get<{ status: string }>(appUrl(h, `/push/device_exports/${exportId}`));
  expect(status.body.status).to.equal('Completed');
  const container = new URL(sasUri);
  const list = new URL(sasUri);
  list.searchParams.set('restype', 'container');
  list.searchParams.set('comp', 'list');
  list.searchParams.set('prefix', `${exportId}/`);
  const xml = new XMLParser({ isArray: (name) => name === 'Blob' }).parse((await got(list.toString())).body) as {
    EnumerationResults: { Blobs: { Blob?: Array<{ Name: string }> } };
  };
  const ids = new Set<string>();
  for (const blob of xml.EnumerationResults.Blobs.Blob ?? []) {
    const text = (await got(`${container.origin}${container.pathname}/${blob.Name}${container.search}`)).body;
    for (const line of text.split('\n').filter(Boolean))
      ids.add((JSON.parse(line) as { install_id: string }).install_id);
  }
  return ids;
}

async function audienceNames(h: Harness): Promise<string[]> {
  const names: string[] = [];
  let url: string | undefined = appUrl(h, '/analytics/audiences?include_disabled=true');
  while (url) {
    const page: { body: { values: Array<{ name: string }>; nextLink?: string } } = await h.vendor.get<{
      values: Array<{ name: string }>;
      nextLink?: string;
    }>(url);
    names.push(...page.body.values.map((a) => a.name));
    url = page.body.nextLink ? new URL(page.body.nextLink, h.sandbox.vendors.appcenter.baseUrl).toString() : undefined;
  }
  return names;
}

async function notificationIds(h: Harness): Promise<Set<string>> {
  const res = await h.vendor.get<{ values: Array<{ notification_id: string }> }>(
    appUrl(h, '/push/notifications?$top=0&include_archived=true'),
  );
  return new Set(res.body.values.map((n) => n.notification_id));
}

async function putAudience(h: Harness, name: string, description: string, definition: string): Promise<void> {
  const res = await h.vendor.put(appUrl(h, `/analytics/audiences/${name}`), { json: { description, definition } });
  expect(res.statusCode, `audience ${name}`).to.equal(200);
}

async function sendNotification(
  h: Harness,
  content: Record<string, unknown>,
  target: Record<string, unknown> = { type: 'broadcast_target' },
): Promise<string> {
  const res = await h.vendor.post<{ notification_id: string }>(appUrl(h, '/push/notifications'), {
    json: { notification_content: content, notification_target: target },
  });
  expect(res.statusCode).to.equal(202);
  return res.body.notification_id;
}

/** Advances the sandbox clock past the device export as soon as the service has started one. */
async function completeExports(h: Harness, count = 1): Promise<void> {
  await waitFor(async () => {
    const started = h.sandbox.stats.snapshot().appcenter?.operations.Push_ExportDevices;
    return !!started && started.calls - started.throttled - started.errors >= count;
  }, 30_000);
  h.sandbox.clock.advance(5 * 60_000);
}

/** Identifier shapes of seeded people (as the suite's leak scan looks for them). */
const IDENTIFIER_SHAPES = [
  /user\d+@example\.com/i,
  /\buser-\d+\b/,
  /00000000-0000-4000-8000-[0-9a-f]{12}/i,
  /\+1555\d{7}/,
];
const holdsIdentifier = (text: string) => IDENTIFIER_SHAPES.some((shape) => shape.test(text));

describe('Erasing a person from App Center: devices, audiences, notifications', () => {
  const person = seedPerson(42);
  const neighbour = seedPerson(421);

  describe('a request with an install id and an e-mail', () => {
    let h: Harness;
    let mine: string[];
    let theirs: string[];
    let status: any;
    let calls: Record<string, number>;

    before(async function () {
      this.timeout(60_000);
      h = await startHarness({ subjects: 430, appcenter: { blockLogs: true } });
      await putAudience(h, 'press-contacts', `Press contact: ${person.email}`, "CountryCode eq 'US'");
      await putAudience(
        h,
        'winback-neighbour',
        `Concierge list for ${neighbour.email}`,
        `CustomProperties/user_id eq '${neighbour.userId}'`,
      );
      await putAudience(h, 'almost-42', 'Concierge list for xuser42@example.com', "CustomProperties/plan eq 'pro'");
      mine = [
        await sendNotification(h, {
          name: 'code-sent',
          title: 'Your code',
          body: `Your code was sent to ${person.email}.`,
        }),
        await sendNotification(
          h,
          { name: 'device-ping', body: 'Ping' },
          { type: 'devices_target', devices: [person.installId] },
        ),
      ];
      theirs = [
        await sendNotification(h, { name: 'code-sent-421', body: `Your code was sent to ${neighbour.email}.` }),
        await sendNotification(h, { name: 'code-sent-x42', body: 'Your code was sent to xuser42@example.com.' }),
        await sendNotification(
          h,
          { name: 'device-ping-421', body: 'Ping' },
          { type: 'devices_target', devices: [neighbour.installId] },
        ),
      ];

      const submitted = await h.api('/v1/requests', {
        subject: { installId: person.installId, email: person.email },
        vendors: ['appcenter'],
      });
      expect(submitted.status).to.equal(202);
      await completeExports(h);
      await h.waitForRequest(submitted.body.id);
      status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
      const ops = [
        'Push_ExportDevices',
        'Push_DeleteInstallId',
        'Devices_BlockLogs',
        'Push_Delete',
        'Analytics_DeleteAudience',
      ];
      calls = Object.fromEntries(ops.map((op) => [op, h.sandbox.stats.calls('appcenter', op)]));
    });
    after(async () => h?.close());

    const task = (action: string) => status.tasks.find((t: { action: string }) => t.action === action);

    it('completes with one task per resource of the app', () => {
      expect(status.status).to.equal('completed');
      expect(status.tasks.map((t: { action: string; state: string }) => [t.action, t.state]).sort()).to.deep.equal([
        ['delete-audiences', 'succeeded'],
        ['delete-devices', 'succeeded'],
        ['delete-notifications', 'succeeded'],
      ]);
    });

    it('deletes the person’s device, blocks its logs, and leaves every other device', async () => {
      const left = await exportedInstallIds(h);
      expect(left.has(person.installId)).to.equal(false);
      expect(left.has(neighbour.installId)).to.equal(true);
      expect(left.has(seedPerson(4).installId)).to.equal(true);
      expect(left.has(seedPerson(420).installId)).to.equal(true);
      // 430 people plus ceil(430 / 4) anonymous devices, less one.
      expect(left.size).to.equal(430 + 108 - 1);
      expect(calls.Devices_BlockLogs).to.equal(1);
      expect(task('delete-devices').evidence).to.include({
        action: 'delete-devices',
        devicesMatched: 1,
        devicesDeleted: 1,
        devicesAlreadyGone: 0,
        logsBlocked: 1,
        matchedBy: 'device export',
      });
    });

    it('deletes every audience that names them and keeps those naming a neighbour', async () => {
      const names = await audienceNames(h);
      expect(names).to.not.include.members(['press-contacts', 'vip-user-42']);
      expect(names).to.include.members(['winback-neighbour', 'almost-42', 'lookalike-42', 'vip-user-47', 'pro-plan']);
      expect(task('delete-audiences').evidence).to.deep.include({
        action: 'delete-audiences',
        audiencesDeleted: 2,
        audienceIds: ['press-contacts', 'vip-[redacted]'],
        verification: 'verified_absent',
      });
    });

    it('deletes every notification that names them and keeps the others', async () => {
      const left = await notificationIds(h);
      for (const id of mine) expect(left.has(id), 'mine').to.equal(false);
      for (const id of theirs) expect(left.has(id), 'theirs').to.equal(true);
      // Seeded: a notification sent to user-421 (421 % 4 === 1) survives too.
      const welcome = await h.vendor.get<{ values: Array<{ name: string }> }>(
        appUrl(h, '/push/notifications?$top=0&include_archived=true'),
      );
      expect(welcome.body.values.map((n) => n.name)).to.include(`welcome-${neighbour.userId}`);
      expect(task('delete-notifications').evidence).to.deep.include({
        action: 'delete-notifications',
        notificationsDeleted: 2,
        notificationIds: [...mine].sort(),
        verification: 'verified_absent',
      });
    });

    it('keeps evidence of counts and vendor ids only, never an identifier of the person', () => {
      const text = JSON.stringify(status);
      for (const value of [person.email, person.userId, person.installId, person.phone])
        expect(text).to.not.include(value);
      expect(holdsIdentifier(text), text).to.equal(false);
      expect(task('delete-devices').evidence).to.not.have.any.keys('installIds', 'installId', 'email');
    });

    it('makes one export, one device delete, two audience deletes and one notification delete call', () => {
      expect(calls).to.deep.equal({
        Push_ExportDevices: 1,
        Push_DeleteInstallId: 1,
        Devices_BlockLogs: 1,
        Push_Delete: 1,
        Analytics_DeleteAudience: 2,
      });
    });
  });

  describe('a request with a user id only', () => {
    let h: Harness;
    before(async function () {
      this.timeout(60_000);
      h = await startHarness({ subjects: 430 });
    });
    after(async () => h?.close());

    it('finds the device by its user_id custom property and the notification sent to that user id, not user-421’s', async () => {
      const submitted = await h.api('/v1/requests', {
        subject: { userId: seedPerson(41).userId },
        vendors: ['appcenter'],
      });
      await completeExports(h);
      await h.waitForRequest(submitted.body.id);
      const status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
      const byAction = Object.fromEntries(status.tasks.map((t: { action: string }) => [t.action, t]));
      expect(byAction['delete-devices'].evidence).to.include({ devicesDeleted: 1 });
      // 41 % 4 === 1: a welcome notification was sent to user-41's user id.
      expect(byAction['delete-notifications'].evidence.notificationsDeleted).to.equal(1);
      expect(byAction['delete-audiences'].state).to.equal('not_found');

      const names = (
        await h.vendor.get<{ values: Array<{ name: string }> }>(
          appUrl(h, '/push/notifications?$top=0&include_archived=true'),
        )
      ).body.values.map((n) => n.name);
      expect(names).to.not.include('welcome-user-41');
      expect(names).to.include.members(['welcome-user-421', 'welcome-user-401', 'welcome-user-1']);
      const left = await exportedInstallIds(h);
      expect(left.has(seedPerson(41).installId)).to.equal(false);
      expect(left.has(seedPerson(411).installId)).to.equal(true);
      expect(left.has(seedPerson(4).installId)).to.equal(true);
    });
  });

  describe('300 requests in one window', () => {
    let h: Harness;
    before(async function () {
      this.timeout(30_000);
      // A window long enough for every request to join; a batch starts as soon as it is full.
      const batching = { windowMs: 60_000, maxMembers: 300 };
      h = await startHarness({
        subjects: 300,
        appcenter: { deviceExport: { ...batching, pollMs: 100 }, sweep: batching },
      });
    });
    after(async () => h?.close());

    it('share one device export, one audience sweep and one notification sweep', async function () {
      this.timeout(180_000);
      const people = Array.from({ length: 300 }, (_, i) => seedPerson(i));
      const res = await h.api('/v1/requests', {
        requests: people.map((p) => ({ subject: { email: p.email, userId: p.userId }, vendors: ['appcenter'] })),
      });
      expect(res.status).to.equal(202);
      expect(res.body.summary.accepted).to.equal(300);
      const ids: string[] = res.body.results.map((r: { id: string }) => r.id);

      await completeExports(h);
      for (const id of ids) await h.waitForRequest(id, 150_000);

      expect(h.sandbox.stats.calls('appcenter', 'Push_ExportDevices')).to.equal(1);
      // At least once: a batch job that lost its lock under load may run twice; a second delete answers 404.
      expect(h.sandbox.stats.calls('appcenter', 'Push_DeleteInstallId')).to.be.at.least(300);
      const exportIds = new Set<string>();
      const batchIds = new Set<string>();
      for (const id of ids) {
        const tasks = await h.service.ledger.tasks.getTasks(id);
        expect(
          tasks.every((t) => t.state === 'succeeded' || t.state === 'not_found'),
          'every task ended',
        ).to.equal(true);
        const devices = tasks.find((t) => t.action === 'delete-devices')!;
        expect(devices.evidence.devicesDeleted).to.equal(1);
        exportIds.add(devices.evidence.exportId as string);
        for (const t of tasks) batchIds.add(t.evidence.batchId as string);
      }
      expect(exportIds.size).to.equal(1);
      expect(batchIds.size, 'three shared batches in all').to.equal(3);
      const left = await exportedInstallIds(h);
      expect(left.size, 'only the anonymous devices are left').to.equal(75);
    });
  });

  describe('when App Center throttles', () => {
    let h: Harness;
    before(async function () {
      this.timeout(60_000);
      h = await startHarness({ subjects: 60, sandbox: { retryAfter: 'sometimes' } });
    });
    after(async () => h?.close());

    it('waits out a 429 storm without spending attempts, then completes', async function () {
      this.timeout(60_000);
      h.sandbox.faults.set('appcenter', { throttleForMs: 1500 });
      const started = Date.now();
      const submitted = await h.api('/v1/requests', {
        subject: { installId: person.installId, email: person.email },
        vendors: ['appcenter'],
      });
      await completeExports(h);
      await h.waitForRequest(submitted.body.id, 40_000);
      expect(Date.now() - started, 'waited the storm out').to.be.at.least(1500);

      const stats = h.sandbox.stats.snapshot().appcenter;
      expect(stats.total.throttled, 'throttled answers').to.be.at.least(1);
      const status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
      expect(status.status).to.equal('completed');
      const devices = status.tasks.find((t: { action: string }) => t.action === 'delete-devices');
      expect(devices.evidence.devicesDeleted).to.equal(1);
      for (const t of status.tasks) {
        const job = await h.service.queues.queue('appcenter').getJob(batchJobId(t.evidence.batchId));
        expect(job, `batch job of ${t.action}`).to.not.equal(undefined);
        expect(job!.attemptsMade, `${t.action}: a throttled run costs no attempt`).to.equal(1);
      }
      expect((await exportedInstallIds(h)).has(person.installId)).to.equal(false);
    });
  });

  for (const retirement of [
    { label: 'retired (the dates have passed: 404)', options: { retireOnDates: true }, statusCode: 404 },
    { label: 'retired, answering 410 Gone', options: { retired: true, retiredStatus: 410 as const }, statusCode: 410 },
  ]) {
    describe(`when App Center is ${retirement.label}`, () => {
      let h: Harness;
      before(async function () {
        this.timeout(60_000);
        h = await startHarness({ subjects: 60, sandbox: retirement.options });
      });
      after(async () => h?.close());

      it('records not_found, verification scope_gone, with the vendor’s answer and the end-of-support date, and completes the request', async () => {
        const submitted = await h.api('/v1/requests', {
          subject: { installId: person.installId, email: person.email },
          vendors: ['appcenter'],
        });
        await h.waitForRequest(submitted.body.id);
        const status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
        expect(status.status).to.equal('completed');
        for (const t of status.tasks) {
          expect(t.state, t.action).to.equal('not_found');
          // Issue 17: the app was looked up (Apps_Get, then Apps_List) before the 404/410 was trusted.
          expect(t.evidence, t.action).to.include({
            app: h.sandbox.appcenter.app,
            vendorStatus: retirement.statusCode,
            verification: 'scope_gone',
            endOfSupportAt: '2025-03-31',
          });
          expect(t.evidence.vendorAnswer).to.match(
            new RegExp(`Apps_List ${retirement.statusCode}: App Center answers as retired`),
          );
          expect(t.evidence.reason).to.match(/past its end of support/);
        }
        expect(
          h.sandbox.stats.calls('appcenter', 'Push_DeleteInstallId') +
            h.sandbox.stats.calls('appcenter', 'Push_ExportDevices'),
        ).to.be.at.least(1);
      });
    });
  }

  describe('when only Push is retired', () => {
    let h: Harness;
    before(async function () {
      this.timeout(60_000);
      h = await startHarness({ subjects: 60, sandbox: { pushRetired: true } });
    });
    after(async () => h?.close());

    it('still deletes the audiences, and records devices and notifications as not found', async () => {
      const submitted = await h.api('/v1/requests', { subject: { email: person.email }, vendors: ['appcenter'] });
      await h.waitForRequest(submitted.body.id);
      const status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
      const byAction = Object.fromEntries(
        status.tasks.map((t: { action: string; state: string }) => [t.action, t.state]),
      );
      expect(byAction).to.deep.equal({
        'delete-devices': 'not_found',
        'delete-audiences': 'succeeded',
        'delete-notifications': 'not_found',
      });
      expect(await audienceNames(h)).to.not.include('vip-user-42');
    });
  });

  describe('planning', () => {
    let h: Harness;
    before(async function () {
      this.timeout(60_000);
      h = await startHarness({ subjects: 10 });
    });
    after(async () => h?.close());

    it('refuses a request naming App Center with no identifier it can look for', async () => {
      const res = await h.api('/v1/requests', { subject: { amplitudeId: '100000042' }, vendors: ['appcenter'] });
      expect(res.status).to.equal(400);
      expect(JSON.stringify(res.body)).to.include('appcenter').and.not.include('100000042');
    });

    it('skips, with a reason, the devices of a person with only a phone number when no property holds phones', async () => {
      const submitted = await h.api('/v1/requests', { subject: { phone: person.phone }, vendors: ['appcenter'] });
      await h.waitForRequest(submitted.body.id);
      const status = (await h.api(`/v1/requests/${submitted.body.id}`)).body;
      const devices = status.tasks.find((t: { action: string }) => t.action === 'delete-devices');
      expect(devices.state).to.equal('skipped');
      expect(devices.waitingReason ?? devices.evidence.reason ?? '').to.match(/install id/);
      expect(status.status).to.equal('completed');
    });
  });
});
