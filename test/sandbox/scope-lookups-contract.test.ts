import { appcenterSandboxPlugin } from '../../src/sandbox/appcenter/appcenter-sandbox-plugin.js';
import { expect } from 'chai';
import got, { type Got } from 'got';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';
import { createAppCenterClient } from '../../src/vendors/appcenter-client.js';
import { VENDOR_QUEUE_DEFAULTS } from '../../src/connectors/registry.js';
import { MisconfiguredVendorError } from '../../src/vendors/vendor-errors.js';

/**
 * The lookups issue 17 adds to the App Center simulator (Apps_Get, Apps_List), through raw HTTP and
 * through the real client's confirmApp, and the `credentialsRevoked` fault knob at App Center.
 */
describe('App Center app lookups (sandbox, issue 17)', () => {
  let sandbox: Sandbox | undefined;
  afterEach(async () => {
    await sandbox?.close();
    sandbox = undefined;
  });
  async function start(
    appcenter: SandboxOptions['appcenter'] = {},
  ): Promise<{ sandbox: Sandbox; http: Got; base: string }> {
    sandbox = await startSandbox({ subjects: 5, appcenter });
    const http = got.extend({
      headers: { 'x-api-token': sandbox.vendors.appcenter.credentials.apiToken },
      throwHttpErrors: false,
      retry: { limit: 0 },
      responseType: 'json',
    });
    return { sandbox, http, base: `${sandbox.vendors.appcenter.baseUrl}/v0.1/apps` };
  }
  const client = (s: Sandbox, patch: Record<string, unknown> = {}) =>
    createAppCenterClient({ ...appcenterSandboxPlugin.sandboxSettings(s, VENDOR_QUEUE_DEFAULTS.appcenter), ...patch });

  it('Apps_Get answers 200 for a known app and 404 for an unknown one; Apps_List lists the token’s apps', async () => {
    const { sandbox: s, http, base } = await start();
    const known = await http.get(`${base}/${s.appcenter.owner}/${s.appcenter.app}`);
    expect(known.statusCode).to.equal(200);
    expect(known.body).to.deep.include({ name: s.appcenter.app, owner: { name: s.appcenter.owner, type: 'org' } });
    expect((await http.get(`${base}/${s.appcenter.owner}/no-such-app`)).statusCode).to.equal(404);
    const listed = await http.get<Array<{ name: string; owner: { name: string } }>>(base);
    expect(listed.statusCode).to.equal(200);
    expect(listed.body.map((a) => `${a.owner.name}/${a.name}`)).to.include(`${s.appcenter.owner}/${s.appcenter.app}`);
    expect((await got.get(base, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode, 'no token').to.equal(401);
  });

  it('retired: both answer the retired status', async () => {
    const { sandbox: s, http, base } = await start({ retired: true, retiredStatus: 410 });
    expect((await http.get(`${base}/${s.appcenter.owner}/${s.appcenter.app}`)).statusCode).to.equal(410);
    expect((await http.get(base)).statusCode).to.equal(410);
  });

  it('confirmApp: exists; a mistyped app or owner is a MisconfiguredVendorError naming the key; a retired App Center is its answer and date', async () => {
    const { sandbox: s } = await start();
    expect(await client(s).confirmApp(s.appcenter.app)).to.deep.equal({ exists: true });
    const wrongApp = await client(s, { apps: ['typo'] })
      .confirmApp('typo')
      .catch((e: unknown) => e);
    expect(wrongApp).to.be.instanceOf(MisconfiguredVendorError);
    expect((wrongApp as MisconfiguredVendorError).configKey).to.equal('vendors.appcenter.apps[0]');
    const wrongOwner = await client(s, { owner: 'typo-owner' })
      .confirmApp(s.appcenter.app)
      .catch((e: unknown) => e);
    expect((wrongOwner as MisconfiguredVendorError).configKey).to.equal('vendors.appcenter.owner');
    await sandbox!.close();
    const { sandbox: retired } = await start({ retired: true });
    expect(await client(retired).confirmApp(retired.appcenter.app)).to.deep.equal({
      gone: true,
      status: 404,
      vendorAnswer: 'Apps_Get 404, Apps_List 404: App Center answers as retired',
      endOfSupportAt: '2025-03-31',
    });
  });

  it('credentialsRevoked answers App Center’s 401 on every operation, until it is switched off', async () => {
    const { sandbox: s, http, base } = await start();
    s.faults.set('appcenter', { credentialsRevoked: true });
    expect((await http.get(`${base}/${s.appcenter.owner}/${s.appcenter.app}/analytics/audiences`)).statusCode).to.equal(
      401,
    );
    const refused = await client(s)
      .confirmApp(s.appcenter.app)
      .catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(MisconfiguredVendorError);
    expect(refused).to.include({ fault: 'credentials', configKey: 'vendors.appcenter.apiToken' });
    s.faults.set('appcenter', { credentialsRevoked: false });
    expect((await http.get(`${base}/${s.appcenter.owner}/${s.appcenter.app}/analytics/audiences`)).statusCode).to.equal(
      200,
    );
  });
});
