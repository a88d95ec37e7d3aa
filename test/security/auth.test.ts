import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { AuthFailureLimiter } from '../../src/api/auth-failure-limiter.js';
import { createTokenVerifier, sha256Hex } from '../../src/api/auth.js';

describe('Authentication', () => {
  it('keeps tokens only as SHA-256 digests and tells roles apart', () => {
    const verify = createTokenVerifier('admin-token-0123456789', [
      { name: 'viewer', sha256: sha256Hex('viewer-token-0123456789'), role: 'viewer' },
    ]);
    expect(verify('admin-token-0123456789')).to.deep.equal({ name: 'admin', role: 'admin' });
    expect(verify('viewer-token-0123456789')).to.deep.equal({ name: 'viewer', role: 'viewer' });
    expect(verify('viewer-token-012345678')).to.equal(undefined);
    expect(verify('')).to.equal(undefined);
  });

  it('blocks an address after too many failures until its window ends', () => {
    const limiter = new AuthFailureLimiter(3, 1000);
    for (let i = 0; i < 3; i++) limiter.recordFailure('10.0.0.1', 0);
    expect(limiter.blockedFor('10.0.0.1', 10)).to.equal(990);
    expect(limiter.blockedFor('10.0.0.2', 10), 'other addresses are not affected').to.equal(0);
    expect(limiter.blockedFor('10.0.0.1', 1000)).to.equal(0);
  });

  describe('over HTTP', () => {
    let service: TestService;
    before(async () => {
      service = await startTestService();
    });
    after(async () => service?.close());

    it('sends security headers and no-store on API answers', async () => {
      const res = await service.api('/v1/requests?limit=1');
      expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
      expect(res.headers.get('x-frame-options')).to.equal('DENY');
      expect(res.headers.get('cache-control')).to.equal('no-store');
      expect(res.headers.get('content-security-policy')).to.include("default-src 'none'");
      expect(res.headers.get('x-powered-by')).to.equal(null);
    });

    // Issue 25 §2 changed this: a right token is never refused by the failure limiter (a valid client behind a shared address).
    it('answers 429 after twenty failed authentications from one address, but never to a right token, without reading bodies', async () => {
      for (let i = 0; i < 20; i++) {
        const res = await service.api('/v1/requests', { token: `wrong-${i}`, body: { subject: { userId: 'user-1' } } });
        expect(res.status).to.equal(401);
      }
      const blocked = await service.api('/v1/requests?limit=1', { token: 'wrong-again' });
      expect(blocked.status).to.equal(429);
      expect(Number(blocked.headers.get('retry-after'))).to.be.within(1, 60);
      expect((await service.api('/v1/requests?limit=1')).status, 'the right token still gets in').to.equal(200);
    });
  });
});
