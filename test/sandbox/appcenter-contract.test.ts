import { expect } from 'chai';
import got, { type Got, type Response } from 'got';
import { XMLParser } from 'fast-xml-parser';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { SANDBOX_APPCENTER_APP_TOKEN } from '../../src/sandbox/appcenter/appcenter-seed.js';

interface ErrorBody {
  error: { code: string; message: string };
}
interface NotificationOverview {
  notification_id: string;
  name: string;
  notification_target: { type: string; user_ids?: string[] };
  state: string;
}
interface NotificationPage {
  values: NotificationOverview[];
  total?: number;
  nextLink?: string;
}
interface AudiencePage {
  values: Array<{ name: string; description?: string; definition: string; state: string }>;
  nextLink?: string;
}

/** got, the way the erasure client calls App Center: X-API-Token (null: none), JSON, no automatic retries, no throwing on 4xx/5xx. */
function appCenterClient(sandbox: Sandbox, token: string | null = sandbox.vendors.appcenter.credentials.apiToken): Got {
  return got.extend({
    headers: token === null ? {} : { 'x-api-token': token },
    throwHttpErrors: false,
    retry: { limit: 0 },
    responseType: 'json',
  });
}

function appUrl(sandbox: Sandbox, path: string, owner = sandbox.appcenter.owner, app = sandbox.appcenter.app): string {
  return `${sandbox.vendors.appcenter.baseUrl}/v0.1/apps/${owner}/${app}${path}`;
}

/** A blob's URL under the container SAS URL: the blob name joins the path, the SAS query stays. */
function blobUrl(containerSasUri: string, name: string): string {
  const url = new URL(containerSasUri);
  return `${url.origin}${url.pathname}/${name}${url.search}`;
}

async function listBlobNames(containerSasUri: string, prefix: string): Promise<string[]> {
  const url = new URL(containerSasUri);
  url.searchParams.set('restype', 'container');
  url.searchParams.set('comp', 'list');
  url.searchParams.set('prefix', prefix);
  const res = await got(url.toString(), { throwHttpErrors: false, retry: { limit: 0 } });
  expect(res.statusCode).to.equal(200);
  const parsed = new XMLParser({ isArray: (name) => name === 'Blob' }).parse(res.body) as {
    EnumerationResults: { Blobs: { Blob?: Array<{ Name: string }> } | '' };
  };
  const blobs = parsed.EnumerationResults.Blobs;
  return blobs === '' ? [] : (blobs.Blob ?? []).map((b) => b.Name);
}

describe('App Center simulator, driven by got with X-API-Token', () => {
  let sandbox: Sandbox;
  let api: Got;
  let sasUri: string;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    api = appCenterClient(sandbox);
    sasUri = sandbox.vendors.appcenter.exportContainerSasUri as string;
  });
  afterEach(async () => {
    await sandbox.close();
  });

  async function withSandbox(options: SandboxOptions, run: (other: Sandbox) => Promise<void>): Promise<void> {
    const other = await startSandbox({ subjects: 20, ...options });
    try {
      await run(other);
    } finally {
      await other.close();
    }
  }

  async function exportDevices(): Promise<Array<Record<string, unknown>>> {
    const started = await api.post<{ export_id: string }>(appUrl(sandbox, '/push/device_exports'), {
      json: { blob_container_sas_uri: sasUri },
    });
    expect(started.statusCode).to.equal(202);
    sandbox.clock.advance(10 * 60_000);
    const status = await api.get<{ status: string }>(appUrl(sandbox, `/push/device_exports/${started.body.export_id}`));
    expect(status.body.status).to.equal('Completed');
    const [name] = await listBlobNames(sasUri, started.body.export_id);
    const blob = await got(blobUrl(sasUri, name), { retry: { limit: 0 } });
    return blob.body
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  async function listAllNotifications(firstUrl: string): Promise<NotificationOverview[]> {
    const seen: NotificationOverview[] = [];
    let next: string | undefined = firstUrl;
    while (next) {
      const page: Response<NotificationPage> = await api.get<NotificationPage>(
        new URL(next, sandbox.vendors.appcenter.baseUrl).toString(),
      );
      expect(page.statusCode).to.equal(200);
      seen.push(...page.body.values);
      next = page.body.nextLink;
    }
    return seen;
  }

  it('answers 401 Unauthorized in the error envelope without a token and with an unknown one', async () => {
    for (const client of [appCenterClient(sandbox, null), appCenterClient(sandbox, 'not-a-token')]) {
      const res = await client.get<ErrorBody>(appUrl(sandbox, '/analytics/audiences'));
      expect(res.statusCode).to.equal(401);
      expect(res.body.error.code).to.equal('Unauthorized');
      expect(res.body.error.message).to.be.a('string').that.is.not.empty;
    }
  });

  it('answers 411 to a POST and a PUT sent without a body, and accepts them with {}', async () => {
    const post = await api.post<ErrorBody>(appUrl(sandbox, '/push/device_exports'));
    expect(post.statusCode).to.equal(411);
    expect(post.body.error.code).to.be.a('string');
    const installId = seedPerson(1).installId;
    const put = await api.put<ErrorBody>(appUrl(sandbox, `/devices/block_logs/${installId}`));
    expect(put.statusCode).to.equal(411);
    const withBody = await api.put<string>(appUrl(sandbox, `/devices/block_logs/${installId}`), { json: {} });
    expect(withBody.statusCode).to.equal(200);
    expect(withBody.body).to.equal(installId);
  });

  it('lets an app token reach only its own app, answering 404 for another app', async () => {
    const other = sandbox.appcenter.store.createApp(sandbox.appcenter.owner, 'other-app');
    expect(other.name).to.equal('other-app');
    const appToken = appCenterClient(sandbox, SANDBOX_APPCENTER_APP_TOKEN);
    const own = await appToken.get<AudiencePage>(appUrl(sandbox, '/analytics/audiences'));
    expect(own.statusCode).to.equal(200);
    const foreign = await appToken.get<ErrorBody>(
      appUrl(sandbox, '/analytics/audiences', sandbox.appcenter.owner, 'other-app'),
    );
    expect(foreign.statusCode).to.equal(404);
    expect(foreign.body.error.code).to.equal('NotFound');
    const userToken = await api.get<AudiencePage>(
      appUrl(sandbox, '/analytics/audiences', sandbox.appcenter.owner, 'other-app'),
    );
    expect(userToken.statusCode).to.equal(200);
    expect(userToken.body.values).to.deep.equal([]);
  });

  it('runs a device export 202 → InProgress → Completed on the sandbox clock and writes one NDJSON device per line', async () => {
    const started = await api.post<{ export_id: string }>(appUrl(sandbox, '/push/device_exports'), {
      json: { blob_container_sas_uri: sasUri },
    });
    expect(started.statusCode).to.equal(202);
    const exportId = started.body.export_id;
    expect(exportId).to.be.a('string').that.is.not.empty;

    const pending = await api.get<{ export_id: string; status: string }>(
      appUrl(sandbox, `/push/device_exports/${exportId}`),
    );
    expect(pending.body).to.deep.equal({ export_id: exportId, status: 'InProgress' });
    expect(await listBlobNames(sasUri, exportId), 'nothing is written while in progress').to.deep.equal([]);

    sandbox.clock.advance(2 * 60_000);
    const done = await api.get<{ status: string }>(appUrl(sandbox, `/push/device_exports/${exportId}`));
    expect(done.body.status).to.equal('Completed');

    const names = await listBlobNames(sasUri, exportId);
    expect(names).to.have.length(1);
    const blob = await got(blobUrl(sasUri, names[0]), { retry: { limit: 0 } });
    const lines = blob.body.trim().split('\n');
    const rows = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(rows.length).to.be.greaterThan(20, 'every person plus anonymous devices');
    for (const row of rows) expect(row.install_id).to.be.a('string');
    const person2 = rows.find((r) => r.install_id === seedPerson(2).installId);
    expect(person2).to.include({ user_id: 'user-2', email: 'user2@example.com' });
    const person3 = rows.find((r) => r.install_id === seedPerson(3).installId);
    expect(person3).to.include({ user_id: 'user-3' });
    expect(person3).to.not.have.property('email');
  });

  it('serves the export blob only with the SAS signature and deletes it with 202', async () => {
    const rows = await exportDevices();
    expect(rows).to.not.be.empty;
    const [name] = await listBlobNames(sasUri, '');
    const unsigned = await got(blobUrl(sasUri, name).replace(/sig=[^&]+/, 'sig=wrong'), {
      throwHttpErrors: false,
      retry: { limit: 0 },
    });
    expect(unsigned.statusCode).to.equal(403);
    expect(unsigned.headers['x-ms-error-code']).to.equal('AuthenticationFailed');
    const deleted = await got.delete(blobUrl(sasUri, name), { throwHttpErrors: false, retry: { limit: 0 } });
    expect(deleted.statusCode).to.equal(202);
    const gone = await got(blobUrl(sasUri, name), { throwHttpErrors: false, retry: { limit: 0 } });
    expect(gone.statusCode).to.equal(404);
    expect(gone.headers['x-ms-error-code']).to.equal('BlobNotFound');
    expect(await listBlobNames(sasUri, '')).to.deep.equal([]);
  });

  it('ends an export Failed when the SAS grants no write, or when a failure is injected, and writes no blob', async () => {
    const readOnly = sasUri.replace('sp=racwdl', 'sp=rl');
    const first = await api.post<{ export_id: string }>(appUrl(sandbox, '/push/device_exports'), {
      json: { blob_container_sas_uri: readOnly },
    });
    sandbox.appcenter.store.injectExportFailures(1);
    const second = await api.post<{ export_id: string }>(appUrl(sandbox, '/push/device_exports'), {
      json: { blob_container_sas_uri: sasUri },
    });
    sandbox.clock.advance(10 * 60_000);
    for (const started of [first, second]) {
      const status = await api.get<{ status: string }>(
        appUrl(sandbox, `/push/device_exports/${started.body.export_id}`),
      );
      expect(status.body.status).to.equal('Failed');
    }
    expect(await listBlobNames(sasUri, '')).to.deep.equal([]);
  });

  it('rejects an export without a container SAS URL as 400 BadRequest', async () => {
    for (const json of [
      {},
      { blob_container_sas_uri: 'not a url' },
      { blob_container_sas_uri: 'https://acct.blob.core.windows.net/exports' },
    ]) {
      const res = await api.post<ErrorBody>(appUrl(sandbox, '/push/device_exports'), { json });
      expect(res.statusCode).to.equal(400);
      expect(res.body.error.code).to.equal('BadRequest');
    }
  });

  it('deletes an install id with 200 and no body, after which a new export no longer holds the device', async () => {
    const target = seedPerson(4).installId;
    const deleted = await api.delete(appUrl(sandbox, `/push/devices/${target}`), { responseType: 'text' });
    expect(deleted.statusCode).to.equal(200);
    expect(deleted.body).to.equal('');
    const again = await api.delete<ErrorBody>(appUrl(sandbox, `/push/devices/${target}`));
    expect(again.statusCode).to.equal(404);
    expect(again.body.error.code).to.equal('NotFound');
    const rows = await exportDevices();
    const ids = rows.map((r) => r.install_id);
    expect(ids).to.not.include(target);
    expect(ids).to.include(seedPerson(5).installId);
  });

  it('answers 200 for an unknown install id when configured to', async () => {
    await withSandbox({ appcenter: { unknownInstallIdStatus: 200 } }, async (other) => {
      const res = await appCenterClient(other).delete(
        appUrl(other, '/push/devices/00000000-0000-4000-8000-ffffffffffff'),
      );
      expect(res.statusCode).to.equal(200);
    });
  });

  it('pages notifications with $top, $skiptoken and a relative nextLink, visiting every notification once', async () => {
    const seen = await listAllNotifications(appUrl(sandbox, '/push/notifications?$top=7&$inlinecount=allpages'));
    const first = await api.get<NotificationPage>(appUrl(sandbox, '/push/notifications?$top=7&$inlinecount=allpages'));
    expect(first.body.values).to.have.length(7);
    expect(first.body.nextLink).to.match(
      /^\/v0\.1\/apps\/sandbox-org\/erasure-sandbox\/push\/notifications\?.*\$skiptoken=/,
    );
    const ids = seen.map((n) => n.notification_id);
    expect(new Set(ids).size).to.equal(ids.length);
    expect(ids).to.have.length(first.body.total!);
    const lastPageOfOne = await listAllNotifications(
      appUrl(sandbox, `/push/notifications?$top=${first.body.total! - 1}`),
    );
    expect(lastPageOfOne).to.have.length(first.body.total!);

    const all = await api.get<NotificationPage>(
      appUrl(sandbox, '/push/notifications?$top=0&include_archived=true&$inlinecount=allpages'),
    );
    expect(all.body.nextLink).to.equal(undefined);
    expect(all.body.values).to.have.length(all.body.total!);
    expect(all.body.total!, 'archived notifications are listed only on request').to.be.greaterThan(first.body.total!);

    const defaultPage = await api.get<NotificationPage>(appUrl(sandbox, '/push/notifications'));
    expect(defaultPage.body.values).to.have.length(30);
    expect(defaultPage.body.total).to.equal(undefined);

    const tooMany = await api.get<ErrorBody>(appUrl(sandbox, '/push/notifications?$top=2001'));
    expect(tooMany.statusCode).to.equal(400);
    expect(tooMany.body.error.code).to.equal('BadRequest');
  });

  it('with keyset skip tokens, does not skip a notification when the page just read is deleted', async () => {
    await withSandbox({ appcenter: { skipTokens: 'keyset' } }, async (other) => {
      const client = appCenterClient(other);
      const seen: string[] = [];
      let next: string | undefined = appUrl(other, '/push/notifications?$top=5&$inlinecount=allpages');
      let total = 0;
      while (next) {
        const page: Response<NotificationPage> = await client.get<NotificationPage>(
          new URL(next, other.vendors.appcenter.baseUrl).toString(),
        );
        total ||= page.body.total!;
        const ids = page.body.values.map((n) => n.notification_id);
        seen.push(...ids);
        await client.delete(appUrl(other, '/push/notifications'), { json: { values: ids } });
        next = page.body.nextLink;
      }
      expect(seen).to.have.length(total);
    });
  });

  it('returns a notification with its content, targeted at a person’s user id', async () => {
    const all = await listAllNotifications(appUrl(sandbox, '/push/notifications?$top=0'));
    const targeted = all.find(
      (n) => n.notification_target.type === 'user_ids_target' && n.notification_target.user_ids?.includes('user-5'),
    );
    expect(targeted, 'seeded notification to user-5').to.not.equal(undefined);
    const res = await api.get<NotificationOverview & { notification_content: { name: string; body: string } }>(
      appUrl(sandbox, `/push/notifications/${targeted!.notification_id}`),
    );
    expect(res.statusCode).to.equal(200);
    expect(res.body.notification_content.name).to.equal(targeted!.name);
    expect(res.body.notification_content.body).to.be.a('string').that.is.not.empty;
  });

  it('deletes notifications named in {"values":[...]} with 200, and answers 400 without values', async () => {
    const before = await api.get<NotificationPage>(appUrl(sandbox, '/push/notifications?$top=3&$inlinecount=allpages'));
    const ids = before.body.values.slice(0, 2).map((n) => n.notification_id);
    const deleted = await api.delete(appUrl(sandbox, '/push/notifications'), {
      json: { values: ids },
      responseType: 'text',
    });
    expect(deleted.statusCode).to.equal(200);
    expect(deleted.body).to.equal('');
    for (const id of ids) {
      const gone = await api.get<ErrorBody>(appUrl(sandbox, `/push/notifications/${id}`));
      expect(gone.statusCode).to.equal(404);
    }
    const after = await api.get<NotificationPage>(appUrl(sandbox, '/push/notifications?$top=3&$inlinecount=allpages'));
    expect(after.body.total).to.equal(before.body.total! - 2);

    for (const json of [{}, { values: [] }, { ids }]) {
      const bad = await api.delete<ErrorBody>(appUrl(sandbox, '/push/notifications'), { json });
      expect(bad.statusCode).to.equal(400);
      expect(bad.body.error.code).to.equal('BadRequest');
    }
  });

  it('sends a notification with 202 that reads Queued, then Completed once the sandbox clock moves on', async () => {
    const sent = await api.post<{ notification_id: string }>(appUrl(sandbox, '/push/notifications'), {
      json: {
        notification_content: { name: 'order-update', title: 'Your order', body: 'It shipped.' },
        notification_target: { type: 'user_ids_target', user_ids: ['user-6'] },
      },
    });
    expect(sent.statusCode).to.equal(202);
    const queued = await api.get<NotificationOverview>(
      appUrl(sandbox, `/push/notifications/${sent.body.notification_id}`),
    );
    expect(queued.body.state).to.equal('Queued');
    expect(queued.body.notification_target.user_ids).to.deep.equal(['user-6']);
    sandbox.clock.advance(5 * 60_000);
    const delivered = await api.get<NotificationOverview>(
      appUrl(sandbox, `/push/notifications/${sent.body.notification_id}`),
    );
    expect(delivered.body.state).to.equal('Completed');
    const badName = await api.post<ErrorBody>(appUrl(sandbox, '/push/notifications'), {
      json: { notification_content: { name: 'x', body: 'too short a name' } },
    });
    expect(badName.statusCode).to.equal(400);
    expect(badName.body.error.code).to.equal('BadRequest');
  });

  it('rejects install ids that are not UUIDs with 400 BadRequest', async () => {
    const remove = await api.delete<ErrorBody>(appUrl(sandbox, '/push/devices/user-4'));
    expect(remove.statusCode).to.equal(400);
    expect(remove.body.error.code).to.equal('BadRequest');
    const block = await api.put<ErrorBody>(appUrl(sandbox, '/devices/block_logs/user-4'), { json: {} });
    expect(block.statusCode).to.equal(400);
  });

  it('lists audiences a page at a time, so the whole list needs nextLink, including ones naming people', async () => {
    const names: string[] = [];
    let next: string | undefined = appUrl(sandbox, '/analytics/audiences');
    let pages = 0;
    while (next) {
      const page: Response<AudiencePage> = await api.get<AudiencePage>(
        new URL(next, sandbox.vendors.appcenter.baseUrl).toString(),
      );
      expect(page.statusCode).to.equal(200);
      names.push(...page.body.values.map((a) => a.name));
      next = page.body.nextLink;
      pages += 1;
    }
    expect(pages).to.be.greaterThan(1);
    expect(new Set(names).size).to.equal(names.length);
    expect(names).to.include.members(['vip-user-2', 'lookalike-2', 'android-users']);
    expect(names, 'disabled audiences only with include_disabled').to.not.include('winback-2020');
    const vip = await api.get<{ definition: string; description: string }>(
      appUrl(sandbox, '/analytics/audiences/vip-user-2'),
    );
    expect(vip.body.definition).to.equal("CustomProperties/user_id eq 'user-2'");
    expect(vip.body.description).to.contain('user2@example.com');
  });

  it('deletes an audience with 204, then answers 404 NotFound', async () => {
    const first = await api.delete(appUrl(sandbox, '/analytics/audiences/vip-user-2'), { responseType: 'text' });
    expect(first.statusCode).to.equal(204);
    const second = await api.delete<ErrorBody>(appUrl(sandbox, '/analytics/audiences/vip-user-2'));
    expect(second.statusCode).to.equal(404);
    expect(second.body.error.code).to.equal('NotFound');
    const read = await api.get<ErrorBody>(appUrl(sandbox, '/analytics/audiences/vip-user-2'));
    expect(read.statusCode).to.equal(404);
  });

  it('creates an audience with PUT that is Calculating until the sandbox clock moves on', async () => {
    const created = await api.put<{ name: string; state: string }>(
      appUrl(sandbox, '/analytics/audiences/new-audience'),
      { json: { definition: "CustomProperties/plan eq 'pro'" } },
    );
    expect(created.statusCode).to.equal(200);
    expect(created.body.state).to.equal('Calculating');
    sandbox.clock.advance(10 * 60_000);
    const ready = await api.get<{ state: string; estimated_count: number }>(
      appUrl(sandbox, '/analytics/audiences/new-audience'),
    );
    expect(ready.body.state).to.equal('Ready');
    expect(ready.body.estimated_count).to.equal(10);
    const invalid = await api.put<ErrorBody>(appUrl(sandbox, '/analytics/audiences/bad'), {
      json: { description: 'no definition' },
    });
    expect(invalid.statusCode).to.equal(400);
  });

  it('answers 429 TooManyRequests during a storm, sometimes with Retry-After and sometimes without', async () => {
    sandbox.faults.set('appcenter', { throttleForMs: 60_000 });
    const answers = [
      await api.get<ErrorBody>(appUrl(sandbox, '/push/notifications')),
      await api.delete<ErrorBody>(appUrl(sandbox, `/push/devices/${seedPerson(1).installId}`)),
    ];
    for (const res of answers) {
      expect(res.statusCode).to.equal(429);
      expect(res.body.error.code).to.equal('TooManyRequests');
    }
    expect(answers.map((r) => r.headers['retry-after'] !== undefined)).to.deep.equal([true, false]);
    expect(Number(answers[0].headers['retry-after'])).to.be.greaterThan(0);
    const stats = sandbox.stats.snapshot().appcenter;
    expect(stats.operations.Push_List.throttled).to.equal(1);
    expect(stats.operations.Push_DeleteInstallId.throttled).to.equal(1);
  });

  it('answers Push with 404 NotFound once Push is retired, while audiences still work', async () => {
    await withSandbox({ appcenter: { pushRetired: true } }, async (other) => {
      const client = appCenterClient(other);
      const push = await client.get<ErrorBody>(appUrl(other, '/push/notifications'));
      expect(push.statusCode).to.equal(404);
      expect(push.body.error.code).to.equal('NotFound');
      const remove = await client.delete<ErrorBody>(appUrl(other, `/push/devices/${seedPerson(1).installId}`));
      expect(remove.statusCode).to.equal(404);
      const audiences = await client.get<AudiencePage>(appUrl(other, '/analytics/audiences'));
      expect(audiences.statusCode).to.equal(200);
    });
  });

  it('answers every call with the configured status once App Center is retired', async () => {
    await withSandbox({ appcenter: { retired: true, retiredStatus: 410 } }, async (other) => {
      const client = appCenterClient(other);
      const audiences = await client.get<ErrorBody>(appUrl(other, '/analytics/audiences'));
      expect(audiences.statusCode).to.equal(410);
      expect(audiences.body.error.code).to.equal('Gone');
      const block = await client.put<ErrorBody>(appUrl(other, `/devices/block_logs/${seedPerson(1).installId}`), {
        json: {},
      });
      expect(block.statusCode).to.equal(410);
    });
  });

  it('retires everything by date once the sandbox clock is past 2026-06-30', async () => {
    await withSandbox({ appcenter: { retireOnDates: true } }, async (other) => {
      other.clock.advance(Math.max(0, Date.UTC(2026, 5, 30) - other.clock.now()) + 1);
      const audiences = await appCenterClient(other).get<ErrorBody>(appUrl(other, '/analytics/audiences'));
      expect(audiences.statusCode).to.equal(404);
      expect(audiences.body.error.code).to.equal('NotFound');
    });
  });
});
