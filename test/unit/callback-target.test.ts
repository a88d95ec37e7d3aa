import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkCallbackUrl, isRefusedAddress, CallbackRefusedError, type CallbackPolicy } from '../../src/callbacks/callback-target.js';
import { CallbackDeliveryError, postCallback } from '../../src/callbacks/post-callback.js';

const STRICT: CallbackPolicy = { allowPrivateNetworks: false, allowedHosts: [] };

describe('Callback targets (SSRF guard)', () => {
  it('refuses private, loopback, link-local and embedded-IPv4 addresses and accepts public ones', () => {
    for (const address of ['10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.0.10', '127.0.0.1', '127.8.8.8', '169.254.169.254', '0.0.0.0', '100.64.0.1', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '64:ff9b::a00:1']) {
      expect(isRefusedAddress(address), address).to.equal(true);
    }
    for (const address of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '93.184.216.34', '2606:4700:4700::1111', '192.169.0.1']) {
      expect(isRefusedAddress(address), address).to.equal(false);
    }
  });

  it('checks a URL by the addresses its host resolves to, and lets configured hosts or private networks through', async () => {
    expect(await checkCallbackUrl('http://10.0.0.1/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('http://localhost:8080/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('http://[fe80::1]/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('https://93.184.216.34/cb', STRICT)).to.equal(undefined);
    expect(await checkCallbackUrl('ftp://93.184.216.34/cb', STRICT)).to.equal('must be an http(s) URL');
    expect(await checkCallbackUrl('http://no-such-host.invalid/cb', STRICT)).to.equal('has a host that does not resolve');
    expect(await checkCallbackUrl('http://localhost:8080/cb', { allowPrivateNetworks: false, allowedHosts: ['LOCALHOST'] })).to.equal(undefined);
    expect(await checkCallbackUrl('http://[::1]:8080/cb', { allowPrivateNetworks: false, allowedHosts: ['::1'] })).to.equal(undefined);
    expect(await checkCallbackUrl('http://10.0.0.1/cb', { allowPrivateNetworks: true, allowedHosts: [] })).to.equal(undefined);
  });

  describe('at delivery', () => {
    let server: http.Server;
    let port: number;
    let hits = 0;

    before(async () => {
      server = http.createServer((req, res) => {
        hits += 1;
        req.resume();
        req.on('end', () => res.writeHead(req.url === '/fail' ? 503 : 202).end());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('resolves the host again when it connects and refuses a private address without sending anything', async () => {
      hits = 0;
      const body = Buffer.from('{"status":"completed"}');
      // A name that resolves to loopback: the check at connect time catches it (DNS may have changed since submission).
      let refused: unknown;
      await postCallback(`http://localhost:${port}/cb`, body, {}, { policy: STRICT, timeoutMs: 2000 }).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(CallbackRefusedError);
      await postCallback(`http://127.0.0.1:${port}/cb`, body, {}, { policy: STRICT, timeoutMs: 2000 }).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(CallbackRefusedError);
      expect(hits).to.equal(0);

      const allowed = { allowPrivateNetworks: false, allowedHosts: ['localhost', '127.0.0.1'] };
      expect(await postCallback(`http://localhost:${port}/cb`, body, {}, { policy: allowed, timeoutMs: 2000 })).to.equal(202);
      expect(await postCallback(`http://127.0.0.1:${port}/cb`, body, {}, { policy: allowed, timeoutMs: 2000 })).to.equal(202);
      expect(hits).to.equal(2);
    });

    it('reports a non-2xx answer as a delivery error that names the status, not the URL', async () => {
      let failure: unknown;
      await postCallback(`http://127.0.0.1:${port}/fail`, Buffer.from('{}'), {}, { policy: { allowPrivateNetworks: true, allowedHosts: [] }, timeoutMs: 2000 }).catch((err: unknown) => (failure = err));
      expect(failure).to.be.instanceOf(CallbackDeliveryError);
      expect((failure as CallbackDeliveryError).httpStatus).to.equal(503);
      expect((failure as Error).message).to.equal('the callback endpoint answered HTTP 503');
    });
  });
});
