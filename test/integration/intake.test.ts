import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { sha256Hex } from '../../src/api/auth.js';

const VIEWER_TOKEN = 'viewer-token-for-tests-0123456789';
const SUBMITTER_TOKEN = 'submitter-token-for-tests-0123456789';

describe('Submitting requests through POST /v1/requests', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: {
        tokens: [
          { name: 'viewer', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
          { name: 'upstream', sha256: sha256Hex(SUBMITTER_TOKEN), role: 'submitter' },
        ],
      },
    });
  });
  after(async () => service?.close());

  async function counts() {
    const requests = (await service.ledger.queries.countRequestsByStatus()).byStatus;
    const total = Object.values(requests).reduce((a, b) => a + b, 0);
    const jobs = await service.queues
      .queue('pinpoint')
      .getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
    const parents = await service.queues
      .queue('requests')
      .getJobCountByTypes('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized', 'waiting-children');
    return { total, jobs: jobs + parents };
  }

  it('treats the same requestId twice as one request with one set of jobs', async () => {
    const before = await counts();
    const body = { requestId: 'ticket-4711', subject: { userId: 'user-3' }, vendors: ['pinpoint'] };
    const first = await service.api('/v1/requests', { body });
    const second = await service.api('/v1/requests', { body });
    expect(first.status).to.equal(202);
    expect(second.status).to.equal(200);
    expect(second.body.duplicate).to.equal(true);
    expect(second.body.id).to.equal(first.body.id);
    await service.waitForRequest(first.body.id);
    const after = await counts();
    expect(after.total - before.total).to.equal(1);
    expect(after.jobs - before.jobs, 'one parent and one Pinpoint job').to.equal(2);
  });

  const malformed: Array<[string, unknown, number, string]> = [
    ['a body without a subject', { vendors: ['pinpoint'] }, 400, 'subject'],
    ['an empty subject', { subject: {} }, 400, 'subject'],
    ['a bad e-mail address', { subject: { email: 'not-an-address' } }, 400, 'subject.email'],
    ['a phone number without a country code', { subject: { phone: '555 0100' } }, 400, 'subject.phone'],
    ['an unknown field', { subject: { userId: 'user-1' }, color: 'blue' }, 400, 'color'],
    ['an unknown identifier kind', { subject: { userId: 'user-1', ssn: '123' } }, 400, 'subject.ssn'],
    ['a userId that is a number', { subject: { userId: 42 } }, 400, 'subject.userId'],
    ['vendors that is not a list', { subject: { userId: 'user-1' }, vendors: 'pinpoint' }, 400, 'vendors'],
    ['an unknown vendor', { subject: { userId: 'user-1' }, vendors: ['myspace'] }, 400, 'vendors.0'],
    ['an unknown regulation', { subject: { userId: 'user-1' }, regulation: 'lgpd' }, 400, 'regulation'],
    ['a requestId with a colon', { requestId: 'a:b', subject: { userId: 'user-1' } }, 400, 'requestId'],
    [
      'Pinpoint asked for by install id only (it finds people by user id, e-mail or phone)',
      { subject: { installId: '00000000-0000-4000-8000-000000000001' }, vendors: ['pinpoint'] },
      400,
      'vendors',
    ],
    ['a JSON array', [{ subject: { userId: 'user-1' } }], 400, '(body)'],
  ];
  for (const [what, body, status, field] of malformed) {
    it(`refuses ${what} with ${status}, names the field, and writes nothing`, async () => {
      const before = await counts();
      const res = await service.api('/v1/requests', { body });
      expect(res.status).to.equal(status);
      expect(res.body.error.code).to.equal('invalid_request');
      expect(res.body.error.details.map((d: { field: string }) => d.field)).to.include(field);
      expect(await counts()).to.deep.equal(before);
    });
  }

  it('accepts Pinpoint asked for by e-mail only, planning a find-by-address task for the app', async () => {
    const res = await service.api('/v1/requests', {
      body: { subject: { email: 'user1@example.com' }, vendors: ['pinpoint'] },
    });
    expect(res.status).to.equal(202);
    const status = await service.api(`/v1/requests/${res.body.id}`);
    expect(status.body.tasks.map((t: { action: string; resource: string }) => [t.action, t.resource])).to.deep.equal([
      ['find-endpoint', `app/${service.sandbox!.pinpoint.appId}`],
    ]);
    // It joins the app's shared export batch and waits there (so later tests count a settled queue).
    await waitFor(async () => (await service.ledger.tasks.getTasks(res.body.id))[0]?.state === 'waiting_vendor');
  });

  it('never repeats a submitted value in an error message', async () => {
    const res = await service.api('/v1/requests', {
      body: { subject: { email: 'secret-person@', phone: '+0123' }, requestId: 'has space' },
    });
    expect(res.status).to.equal(400);
    const text = JSON.stringify(res.body);
    for (const value of ['secret-person', '+0123', 'has space']) expect(text).not.to.include(value);
  });

  it('refuses a 2 MB body with 413 and a non-JSON body with 400, writing nothing', async () => {
    const before = await counts();
    const big = await service.api('/v1/requests', { body: { subject: { userId: 'x'.repeat(2 * 1024 * 1024) } } });
    expect(big.status).to.equal(413);
    expect(big.body.error.code).to.equal('body_too_large');
    const broken = await service.api('/v1/requests', {
      body: '{"subject": {',
      headers: { 'content-type': 'application/json' },
    });
    expect(broken.status).to.equal(400);
    expect(broken.body.error.code).to.equal('invalid_json');
    const form = await service.api('/v1/requests', {
      body: 'subject=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status).to.equal(415);
    expect(await counts()).to.deep.equal(before);
  });

  it('asks for a token (401), and lets a viewer read but not submit (403)', async () => {
    const anonymous = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(anonymous.status).to.equal(401);
    expect(anonymous.headers.get('www-authenticate')).to.match(/^Bearer/);
    const wrong = await service.api('/v1/requests', { token: 'not-a-token', body: { subject: { userId: 'user-1' } } });
    expect(wrong.status).to.equal(401);
    const viewerSubmit = await service.api('/v1/requests', {
      token: VIEWER_TOKEN,
      body: { subject: { userId: 'user-1' } },
    });
    expect(viewerSubmit.status).to.equal(403);
    const viewerList = await service.api('/v1/requests?limit=5', { token: VIEWER_TOKEN });
    expect(viewerList.status).to.equal(200);
    const upstream = await service.api('/v1/requests', {
      token: SUBMITTER_TOKEN,
      body: { subject: { userId: 'user-2' }, vendors: ['pinpoint'] },
    });
    expect(upstream.status).to.equal(202);
    await service.waitForRequest(upstream.body.id);
  });

  it('accepts a bulk submission item by item: good ones accepted, bad ones rejected with reasons, duplicates recognised', async () => {
    const res = await service.api('/v1/requests', {
      body: {
        requests: [
          { requestId: 'bulk-1', subject: { userId: 'user-10' }, vendors: ['pinpoint'] },
          { subject: { email: 'nope' } },
          { requestId: 'bulk-1', subject: { userId: 'user-10' }, vendors: ['pinpoint'] },
          { subject: { userId: 'user-11' }, vendors: ['pinpoint'] },
        ],
      },
    });
    expect(res.status).to.equal(202);
    expect(res.body.summary).to.deep.equal({ accepted: 2, duplicates: 1, conflicts: 0, rejected: 1, notProcessed: 0 });
    expect(res.body.results.map((r: { outcome: string }) => r.outcome)).to.deep.equal([
      'accepted',
      'rejected',
      'duplicate',
      'accepted',
    ]);
    expect(res.body.results[1].errors[0].field).to.equal('requests[1].subject.email');
    await Promise.all([service.waitForRequest(res.body.results[0].id), service.waitForRequest(res.body.results[3].id)]);
  });

  it('refuses a bulk submission larger than the configured maximum with 413', async () => {
    const requests = Array.from({ length: service.config.intake.maxBulk + 1 }, (_, i) => ({
      subject: { userId: `user-${i}` },
    }));
    const res = await service.api('/v1/requests', { body: { requests } });
    expect(res.status).to.equal(413);
  });

  it('lists requests with filters and bounded pages, and refuses bad filters', async () => {
    const page = await service.api('/v1/requests?limit=2');
    expect(page.status).to.equal(200);
    expect(page.body.requests).to.have.length(2);
    expect(page.body.nextCursor).to.be.a('string');
    const next = await service.api(`/v1/requests?limit=2&cursor=${page.body.nextCursor}`);
    expect(next.body.requests[0].id).not.to.equal(page.body.requests[0].id);
    const completed = await service.api('/v1/requests?status=completed&limit=500');
    expect(completed.body.requests.every((r: { status: string }) => r.status === 'completed')).to.equal(true);
    expect((await service.api('/v1/requests?limit=100000')).status).to.equal(400);
    expect((await service.api('/v1/requests?status=happy')).status).to.equal(400);
    expect((await service.api('/v1/requests?cursor=garbage')).status).to.equal(400);
    expect((await service.api('/v1/requests/not-a-uuid')).status).to.equal(404);
  });
});
