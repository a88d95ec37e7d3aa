import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  checkCallbackUrl,
  guardedLookup,
  isRefusedAddress,
  CallbackRefusedError,
  type CallbackPolicy,
  type Resolver,
} from '../../src/callbacks/callback-target.js';
import { CallbackDeliveryError, postCallback } from '../../src/callbacks/post-callback.js';

const STRICT: CallbackPolicy = { allowPrivateNetworks: false, allowedHosts: [] };

describe('Callback targets (SSRF guard)', () => {
  it('refuses private, loopback, link-local and embedded-IPv4 addresses and accepts public ones', () => {
    for (const address of [
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.0.10',
      '127.0.0.1',
      '127.8.8.8',
      '169.254.169.254',
      '0.0.0.0',
      '100.64.0.1',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fc00::1',
      'fd12:3456::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
    ]) {
      expect(isRefusedAddress(address), address).to.equal(true);
    }
    for (const address of [
      '8.8.8.8',
      '172.32.0.1',
      '172.15.255.255',
      '93.184.216.34',
      '2606:4700:4700::1111',
      '192.169.0.1',
    ]) {
      expect(isRefusedAddress(address), address).to.equal(false);
    }
  });

  it('checks a URL by the addresses its host resolves to, and lets configured hosts or private networks through', async () => {
    expect(await checkCallbackUrl('http://10.0.0.1/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('http://localhost:8080/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('http://[fe80::1]/cb', STRICT)).to.match(/private, loopback or link-local/);
    expect(await checkCallbackUrl('https://93.184.216.34/cb', STRICT)).to.equal(undefined);
    expect(await checkCallbackUrl('ftp://93.184.216.34/cb', STRICT)).to.equal('must be an http(s) URL');
    expect(await checkCallbackUrl('http://no-such-host.invalid/cb', STRICT)).to.equal(
      'has a host that does not resolve',
    );
    expect(
      await checkCallbackUrl('http://localhost:8080/cb', { allowPrivateNetworks: false, allowedHosts: ['LOCALHOST'] }),
    ).to.equal(undefined);
    expect(
      await checkCallbackUrl('http://[::1]:8080/cb', { allowPrivateNetworks: false, allowedHosts: ['::1'] }),
    ).to.equal(undefined);
    expect(await checkCallbackUrl('http://10.0.0.1/cb', { allowPrivateNetworks: true, allowedHosts: [] })).to.equal(
      undefined,
    );
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
    after(
      () =>
        new Promise<void>((resolve) =>
          server.close(() => {
            resolve();
          }),
        ),
    );

    it('resolves the host again when it connects and refuses a private address without sending anything', async () => {
      hits = 0;
      const body = Buffer.from('{"status":"completed"}');
      // A name that resolves to loopback: the check at connect time catches it (DNS may have changed since submission).
      let refused: unknown;
      await postCallback(`http://localhost:${port}/cb`, body, {}, { policy: STRICT, timeoutMs: 2000 }).catch(
        (err: unknown) => (refused = err),
      );
      expect(refused).to.be.instanceOf(CallbackRefusedError);
      await postCallback(`http://127.0.0.1:${port}/cb`, body, {}, { policy: STRICT, timeoutMs: 2000 }).catch(
        (err: unknown) => (refused = err),
      );
      expect(refused).to.be.instanceOf(CallbackRefusedError);
      expect(hits).to.equal(0);

      const allowed = { allowPrivateNetworks: false, allowedHosts: ['localhost', '127.0.0.1'] };
      expect(
        await postCallback(`http://localhost:${port}/cb`, body, {}, { policy: allowed, timeoutMs: 2000 }),
      ).to.equal(202);
      expect(
        await postCallback(`http://127.0.0.1:${port}/cb`, body, {}, { policy: allowed, timeoutMs: 2000 }),
      ).to.equal(202);
      expect(hits).to.equal(2);
    });

    it('connects to the address the stub resolver gave and checked, and refuses a name rebound to loopback without sending anything', async () => {
      hits = 0;
      const body = Buffer.from('{}');
      // `hook.test` exists only in the stub: a 202 proves the socket went to the resolver's (checked) address.
      const toLoopback: Resolver = async () => [{ address: '127.0.0.1', family: 4 }];
      expect(
        await postCallback(
          `http://hook.test:${port}/cb`,
          body,
          {},
          {
            policy: { allowPrivateNetworks: false, allowedHosts: ['hook.test'] },
            timeoutMs: 2000,
            resolve: toLoopback,
          },
        ),
      ).to.equal(202);
      expect(hits).to.equal(1);
      // Submission saw a public address; by delivery the name points at loopback.
      let calls = 0;
      const rebinding: Resolver = async () =>
        calls++ === 0
          ? [{ address: '93.184.216.34', family: 4 }]
          : [
              { address: '127.0.0.1', family: 4 },
              { address: '93.184.216.34', family: 4 },
            ];
      expect(await checkCallbackUrl(`http://rebind.test:${port}/cb`, STRICT, rebinding)).to.equal(undefined);
      let refused: unknown;
      await postCallback(
        `http://rebind.test:${port}/cb`,
        body,
        {},
        { policy: STRICT, timeoutMs: 2000, resolve: rebinding },
      ).catch((err: unknown) => (refused = err));
      expect(refused).to.be.instanceOf(CallbackRefusedError);
      expect(hits, 'nothing reached the rebound address').to.equal(1);
    });

    it('reports a non-2xx answer as a delivery error that names the status, not the URL', async () => {
      let failure: unknown;
      await postCallback(
        `http://127.0.0.1:${port}/fail`,
        Buffer.from('{}'),
        {},
        { policy: { allowPrivateNetworks: true, allowedHosts: [] }, timeoutMs: 2000 },
      ).catch((err: unknown) => (failure = err));
      expect(failure).to.be.instanceOf(CallbackDeliveryError);
      expect((failure as CallbackDeliveryError).httpStatus).to.equal(503);
      expect((failure as Error).message).to.equal('the callback endpoint answered HTTP 503');
    });
  });

  describe('one outbound-URL guard with a stub resolver (issue 25, item 7)', () => {
    /** One address from each refused range, named by the range. */
    const REFUSED_SAMPLES: Record<string, string> = {
      'this network 0.0.0.0/8': '0.1.2.3',
      'private 10/8': '10.9.8.7',
      'CGNAT 100.64/10': '100.127.255.254',
      'loopback 127/8': '127.0.0.2',
      'link-local 169.254/16': '169.254.169.254',
      'private 172.16/12': '172.20.1.1',
      'IETF 192.0.0/24': '192.0.0.8',
      'documentation TEST-NET-1': '192.0.2.10',
      '6to4 relay 192.88.99/24': '192.88.99.1',
      'private 192.168/16': '192.168.1.1',
      'benchmarking 198.18/15': '198.19.0.1',
      'documentation TEST-NET-2': '198.51.100.7',
      'documentation TEST-NET-3': '203.0.113.9',
      'multicast 224/4': '239.1.1.1',
      'reserved 240/4': '250.1.1.1',
      'unspecified ::': '::',
      'loopback ::1': '::1',
      'IPv4-compatible ::/96': '::7f00:1',
      'IPv4-mapped private': '::ffff:10.0.0.1',
      'IPv4-mapped public (still mapped)': '::ffff:8.8.8.8',
      'NAT64 64:ff9b::/96': '64:ff9b::7f00:1',
      'local NAT64 64:ff9b:1::/48': '64:ff9b:1::a00:1',
      'discard-only 100::/64': '100::1',
      'Teredo 2001::/32': '2001:0:4136:e378:8000:63bf:3fff:fdd2',
      'benchmarking 2001:2::/48': '2001:2::1',
      'documentation 2001:db8::/32': '2001:db8::1',
      '6to4 2002::/16': '2002:7f00:1::1',
      'documentation 3fff::/20': '3fff:fff::1',
      'unique-local fc00::/7': 'fd00::1',
      'link-local fe80::/10': 'fe80::1',
      'site-local fec0::/10': 'fec0::1',
      'multicast ff00::/8': 'ff02::1',
    };
    const PUBLIC = ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '2003::1'];
    const familyOf = (address: string) => (address.includes(':') ? 6 : 4);
    const stub =
      (table: Record<string, string[]>): Resolver =>
      async (host) => {
        const answer = table[host];
        if (!answer) throw Object.assign(new Error('stub: no such name'), { code: 'ENOTFOUND' });
        return answer.map((address) => ({ address, family: familyOf(address) }));
      };

    it('refuses a name that resolves into each refused range, and accepts public ones', async () => {
      for (const [range, address] of Object.entries(REFUSED_SAMPLES)) {
        expect(isRefusedAddress(address), range).to.equal(true);
        expect(
          await checkCallbackUrl('https://hooks.example.com/cb', STRICT, stub({ 'hooks.example.com': [address] })),
          range,
        ).to.match(/private, loopback or link-local/);
      }
      for (const address of PUBLIC) {
        expect(isRefusedAddress(address), address).to.equal(false);
        expect(
          await checkCallbackUrl('https://hooks.example.com/cb', STRICT, stub({ 'hooks.example.com': [address] })),
          address,
        ).to.equal(undefined);
      }
    });

    it('refuses a name with several addresses when any one of them is refused', async () => {
      for (const address of ['10.0.0.5', '::ffff:127.0.0.1', 'fec0::2', '2001:db8::5']) {
        const resolve = stub({ 'multi.example.com': ['93.184.216.34', '2606:4700:4700::1111', address] });
        expect(await checkCallbackUrl('https://multi.example.com/cb', STRICT, resolve), address).to.match(/private/);
        const found = await new Promise<unknown>((done) => {
          guardedLookup(false, resolve)('multi.example.com', { all: true }, (err) => {
            done(err);
          });
        });
        expect(found, address).to.be.instanceOf(CallbackRefusedError);
      }
    });

    it('resolves once at connect time and hands the socket the address it checked (pinning)', async () => {
      let calls = 0;
      // Rebinding: a public answer first, loopback on every later question.
      const rebinding: Resolver = async () =>
        calls++ === 0 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }];
      const pinned = await new Promise<string>((done, fail) => {
        guardedLookup(false, rebinding)('rebind.example.com', {}, (err, address) => {
          err ? fail(err) : done(address as string);
        });
      });
      expect(pinned, 'the address checked is the address connected to').to.equal('93.184.216.34');
      expect(calls, 'one resolution per connection').to.equal(1);
      const second = await new Promise<unknown>((done) => {
        guardedLookup(false, rebinding)('rebind.example.com', {}, (err) => {
          done(err);
        });
      });
      expect(second, 'the rebound answer is checked too').to.be.instanceOf(CallbackRefusedError);
    });
  });
});
