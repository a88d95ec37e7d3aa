import { expect } from 'chai';
import { S3Client, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { serveSandbox } from '../../src/sandbox/sandbox-server.js';
import type { ListeningServer } from '../../src/sandbox/vendor-http.js';
import { waitFor } from '../support/test-service.js';
import {
  connectSharedSandbox,
  SharedSandboxClock,
  SharedSandboxError,
  type SharedSandbox,
} from '../../src/sandbox/shared-sandbox.js';

const TOKEN = 'shared-sandbox-admin-token-0123';

describe('Connecting to a shared sandbox (src/sandbox/shared-sandbox.ts)', () => {
  describe('a sandbox on every interface, reached at another address than its simulators print (a container)', () => {
    let sandbox: Sandbox;
    let server: ListeningServer;
    let shared: SharedSandbox | undefined;

    before(async () => {
      sandbox = await startSandbox({ subjects: 5, clockSpeed: 1000, host: '0.0.0.0' });
      server = await serveSandbox(sandbox, { port: 0, host: '0.0.0.0', adminToken: TOKEN });
    });
    after(async () => {
      shared?.close();
      await server?.close();
      await sandbox?.close();
    });

    it('moves every simulator address to the host the sandbox was reached at, and the real clients work there', async () => {
      // 127.0.0.2 is loopback on Linux but not an address the simulators print, as `sandbox` is in compose.
      shared = await connectSharedSandbox({ url: `http://127.0.0.2:${server.port}`, token: TOKEN });
      for (const [vendor, info] of Object.entries(shared.vendors))
        expect(new URL(info.baseUrl).hostname, vendor).to.equal('127.0.0.2');
      expect(new URL(String(shared.vendors.appcenter.exportContainerSasUri)).hostname).to.equal('127.0.0.2');
      expect(new URL(String(shared.vendors.amplitude.euBaseUrl)).hostname).to.equal('127.0.0.2');
      expect(shared.pinpoint.appId).to.equal(sandbox.pinpoint.appId);
      expect(shared.appcenter).to.deep.equal({ owner: sandbox.appcenter.owner, app: sandbox.appcenter.app });

      const s3 = shared.vendors.s3;
      const client = new S3Client({
        endpoint: s3.baseUrl,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: s3.credentials.accessKeyId, secretAccessKey: s3.credentials.secretAccessKey },
        maxAttempts: 1,
      });
      const listed = await client.send(new ListObjectsV2Command({ Bucket: sandbox.s3.buckets.imports, MaxKeys: 1 }));
      expect(listed.KeyCount).to.equal(1);
      client.destroy();
    });

    it('gives the address it was reached at for simulators that print "every interface" (0.0.0.0)', async () => {
      expect(new URL(sandbox.vendors.pinpoint.baseUrl).hostname).to.equal('0.0.0.0');
      const local = await connectSharedSandbox({ url: `http://127.0.0.1:${server.port}`, token: TOKEN });
      local.close();
      expect(local.vendors.pinpoint.baseUrl).to.equal(
        `http://127.0.0.1:${new URL(sandbox.vendors.pinpoint.baseUrl).port}`,
      );
    });

    it('says what to fix when nothing answers, after waiting for it', async () => {
      const started = Date.now();
      const err = await connectSharedSandbox({ url: 'http://127.0.0.1:9', token: TOKEN, waitMs: 300 }).catch(
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(SharedSandboxError);
      expect((err as Error).message)
        .to.include('ERASURE_SANDBOX_URL')
        .and.include('unreachable');
      expect(Date.now() - started).to.be.at.least(250);
    });
  });

  describe('a sandbox on loopback, reached on loopback', () => {
    it('keeps the addresses its simulators print', async () => {
      const sandbox = await startSandbox({ subjects: 1 });
      const server = await serveSandbox(sandbox, { port: 0, host: '127.0.0.1', adminToken: TOKEN });
      try {
        const shared = await connectSharedSandbox({ url: server.url, token: TOKEN });
        shared.close();
        expect(shared.vendors).to.deep.equal(sandbox.vendors);
      } finally {
        await server.close();
        await sandbox.close();
      }
    });
  });

  describe('a sandbox that goes away', () => {
    it('tells of failing refreshes once per outage, and the clock carries on from its last reading', async () => {
      const sandbox = await startSandbox({ subjects: 1, clockSpeed: 1000 });
      const server = await serveSandbox(sandbox, { port: 0, host: '127.0.0.1', adminToken: TOKEN });
      const errors: Error[] = [];
      const shared = await connectSharedSandbox({
        url: server.url,
        token: TOKEN,
        refreshMs: 10,
        onRefreshError: (err) => errors.push(err),
      });
      try {
        await server.close();
        await sandbox.close();
        const before = shared.clock.now();
        await waitFor(async () => errors.length > 0, 5_000);
        // Many more refreshes fail meanwhile (every 10 ms): still one report.
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(errors).to.have.length(1);
        expect(shared.clock.now()).to.be.greaterThan(before);
      } finally {
        shared.close();
      }
    });
  });

  describe('SharedSandboxClock', () => {
    it("carries the sandbox's reading forward at its speed and never goes back", () => {
      const clock = new SharedSandboxClock();
      const now = Date.now();
      clock.sync({ now: new Date(now + 86_400_000).toISOString(), speed: 1000, offsetMs: 0 }, now, now);
      const first = clock.now();
      expect(first).to.be.at.least(now + 86_400_000);
      expect(clock.describe().speed).to.equal(1000);
      // A later reading that lands behind what was already told (network delay): time holds, it does not go back.
      clock.sync({ now: new Date(now).toISOString(), speed: 1000, offsetMs: 0 }, Date.now(), Date.now());
      expect(clock.now()).to.be.at.least(first);
    });

    it('refuses a reading without a valid time or speed', () => {
      const clock = new SharedSandboxClock();
      expect(() => {
        clock.sync({ now: 'yesterday', speed: 1, offsetMs: 0 }, 0, 0);
      }).to.throw(SharedSandboxError);
      expect(() => {
        clock.sync({ now: new Date().toISOString(), speed: 0, offsetMs: 0 }, 0, 0);
      }).to.throw(SharedSandboxError);
    });
  });
});
