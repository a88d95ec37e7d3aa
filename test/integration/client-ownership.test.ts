import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import type { TestDatabase, TestService } from '../support/test-service.js';
import { NO_POSTGRES, testPostgresUrl } from '../support/postgres.js';
import { runCli } from '../cli/run-cli.js';
import {
  CLIENT_A_TOKEN,
  CLIENT_B_TOKEN,
  OPERATOR_TOKEN,
  VIEWER_TOKEN,
  openDsrRequest,
  ownershipService,
} from '../support/ownership.js';
import { adminSessionCookie } from '../support/admin-session.js';
import { skipBecause } from '../support/skip.js';

/** Issue 22 (README "Clients, roles and idempotency"): each client owns its requests; idempotency keys are per client and bound to their payload. */

for (const database of ['pglite', 'postgres'] as TestDatabase[]) {
  describe(`Client ownership and per-client idempotency (issue 22), ledger on ${database}`, function () {
    this.timeout(120_000);
    let service: TestService;

    before(async function () {
      // initdb/pg_ctl absent on this machine: .ci/run installs them, so CI always runs the Postgres block.
      if (database === 'postgres' && !(await testPostgresUrl())) skipBecause(this, NO_POSTGRES);
      service = await ownershipService(database);
    });
    after(async () => service?.close());

    const body = (requestId: string, userId: string, extra: Record<string, unknown> = {}) => ({
      requestId,
      subject: { userId },
      vendors: ['pinpoint'],
      gracePeriodSeconds: 3600,
      ...extra,
    });
    const countRequests = async () =>
      (await service.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM requests`)).rows[0].n;

    it('gives two clients that use the same requestId a request each, for their own person', async () => {
      const key = `r-1-${randomUUID().slice(0, 8)}`;
      const a = await service.api('/v1/requests', { token: CLIENT_A_TOKEN, body: body(key, 'user-11') });
      const b = await service.api('/v1/requests', { token: CLIENT_B_TOKEN, body: body(key, 'user-12') });
      expect(a.status).to.equal(202);
      expect(b.status, 'B is not told that A’s request is its own').to.equal(202);
      expect(b.body.duplicate).to.equal(false);
      expect(b.body.id).not.to.equal(a.body.id);
      expect(a.body.client).to.equal('client-a');
      expect(b.body.client).to.equal('client-b');
      expect(await service.ledger.vault.loadSubject(a.body.id)).to.deep.equal({ userId: 'user-11' });
      expect(await service.ledger.vault.loadSubject(b.body.id), 'user-12 is erased, not lost').to.deep.equal({
        userId: 'user-12',
      });
      // Each repeat answers with its own client's request.
      const againB = await service.api('/v1/requests', { token: CLIENT_B_TOKEN, body: body(key, 'user-12') });
      expect(againB.status).to.equal(200);
      expect(againB.body).to.include({ duplicate: true, id: b.body.id });
      const receipt = await service.api(`/v1/requests/${b.body.id}/receipt`, { token: CLIENT_B_TOKEN });
      expect(receipt.body.receipt.client).to.equal('client-b');
    });

    it('refuses a reused requestId with another subject, vendors or regulation (422 idempotency_key_reused) and creates nothing; the same payload again is a duplicate', async () => {
      const key = `reuse-${randomUUID().slice(0, 8)}`;
      const first = await service.api('/v1/requests', { token: CLIENT_A_TOKEN, body: body(key, 'user-13') });
      expect(first.status).to.equal(202);
      const before = await countRequests();
      for (const changed of [
        body(key, 'user-14'),
        {
          requestId: key,
          subject: { userId: 'user-13', email: 'user13@example.com' },
          vendors: ['pinpoint'],
          gracePeriodSeconds: 3600,
        },
        body(key, 'user-13', { regulation: 'ccpa' }),
        body(key, 'user-13', { vendors: ['pinpoint', 's3'] }),
      ]) {
        const refused = await service.api('/v1/requests', { token: CLIENT_A_TOKEN, body: changed });
        expect(refused.status, JSON.stringify(refused.body)).to.equal(422);
        expect(refused.body.error.code).to.equal('idempotency_key_reused');
        expect(refused.body.error.details).to.deep.equal([
          { field: 'requestId', problem: 'was already used for a request with another subject, vendors or regulation' },
        ]);
        expect(JSON.stringify(refused.body), 'names the field, never a value').not.to.match(/user-1\d|user13@|reuse-/);
      }
      expect(await countRequests(), 'nothing created').to.equal(before);
      expect((await service.ledger.requests.getRequest(first.body.id))!.status, 'nothing changed').to.equal(
        'scheduled',
      );
      // The same payload with the subject written differently (normalisation) is the same request.
      const same = await service.api('/v1/requests', { token: CLIENT_A_TOKEN, body: body(key, '  user-13 ') });
      expect(same.status).to.equal(200);
      expect(same.body).to.include({ duplicate: true, id: first.body.id });

      // In bulk: the same rule per item.
      const bulk = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: {
          requests: [
            body(key, 'user-13'),
            body(key, 'user-15'),
            body(`${key}-new`, 'user-15'),
            body(`${key}-new`, 'user-16'),
          ],
        },
      });
      expect(bulk.status).to.equal(202);
      expect(bulk.body.summary).to.deep.equal({
        accepted: 1,
        duplicates: 1,
        conflicts: 2,
        rejected: 0,
        notProcessed: 0,
      });
      expect(bulk.body.results.map((r: { outcome: string }) => r.outcome)).to.deep.equal([
        'duplicate',
        'conflict',
        'accepted',
        'conflict',
      ]);
      expect(bulk.body.results[1]).to.deep.equal({
        index: 1,
        outcome: 'conflict',
        code: 'idempotency_key_reused',
        errors: [
          {
            field: 'requests[1].requestId',
            problem: 'was already used for a request with another subject, vendors or regulation',
          },
        ],
      });
      expect(await countRequests()).to.equal(before + 1);
      const onlyConflicts = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: { requests: [body(key, 'user-17')] },
      });
      expect(onlyConflicts.status).to.equal(422);
      expect(onlyConflicts.body.error.code).to.equal('idempotency_key_reused');
    });

    it('answers another client’s request exactly like an unknown id (404) on GET, receipt and cancel, and lists only a client’s own', async () => {
      const mine = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: body(`own-${randomUUID()}`, 'user-18'),
      });
      const theirs = await service.api('/v1/requests', {
        token: CLIENT_B_TOKEN,
        body: body(`own-${randomUUID()}`, 'user-19'),
      });
      const unknown = await service.api(`/v1/requests/${randomUUID()}`, { token: CLIENT_A_TOKEN });
      expect(unknown.status).to.equal(404);
      for (const [method, suffix, requestBody] of [
        ['GET', '', undefined],
        ['GET', '/receipt', undefined],
        ['POST', '/cancel', { reason: 'not mine to cancel' }],
      ] as const) {
        const res = await service.api(`/v1/requests/${theirs.body.id}${suffix}`, {
          token: CLIENT_A_TOKEN,
          method,
          body: requestBody,
        });
        expect(res.status, `${method} ${suffix}`).to.equal(404);
        expect(res.body, 'the same answer as an unknown id').to.deep.equal(unknown.body);
      }
      expect((await service.ledger.requests.getRequest(theirs.body.id))!.status, 'not cancelled').to.equal('scheduled');
      expect((await service.api(`/v1/requests/${mine.body.id}`, { token: CLIENT_A_TOKEN })).status).to.equal(200);

      const listA = await service.api('/v1/requests?limit=500', { token: CLIENT_A_TOKEN });
      expect(listA.status).to.equal(200);
      expect(listA.body.requests.map((r: { id: string }) => r.id))
        .to.include(mine.body.id)
        .and.not.to.include(theirs.body.id);
      expect(new Set(listA.body.requests.map((r: { client: string }) => r.client))).to.deep.equal(
        new Set(['client-a']),
      );
      const filtered = await service.api('/v1/requests?client=client-b', { token: CLIENT_A_TOKEN });
      expect(filtered.status, 'the client filter is for staff').to.equal(403);

      // Staff see every request and may filter by client; an operator cancels any.
      const all = await service.api('/v1/requests?limit=500', { token: VIEWER_TOKEN });
      expect(all.body.requests.map((r: { id: string }) => r.id))
        .to.include(mine.body.id)
        .and.to.include(theirs.body.id);
      const onlyB = await service.api('/v1/requests?limit=500&client=client-b', { token: VIEWER_TOKEN });
      expect(onlyB.body.requests.map((r: { id: string }) => r.id))
        .to.include(theirs.body.id)
        .and.not.to.include(mine.body.id);
      expect((await service.api(`/v1/requests/${theirs.body.id}/receipt`, { token: VIEWER_TOKEN })).status).to.equal(
        200,
      );
      const cancelled = await service.api(`/v1/requests/${theirs.body.id}/cancel`, {
        token: OPERATOR_TOKEN,
        body: { reason: 'operator cancels for client-b' },
      });
      expect(cancelled.status).to.equal(200);
      expect(cancelled.body.status).to.equal('cancelled');
    });

    it('lists through the CLI a client’s own requests, and one client’s for staff with --client', async () => {
      const a = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: body(`cli-${randomUUID()}`, 'user-20'),
      });
      const b = await service.api('/v1/requests', {
        token: CLIENT_B_TOKEN,
        body: body(`cli-${randomUUID()}`, 'user-20'),
      });
      const list = async (token: string, ...args: string[]) =>
        runCli(['list', '--limit', '500', '--json', '--url', service.url, '--token', token, ...args]);
      const own = await list(CLIENT_B_TOKEN);
      expect(own.code, own.stderr).to.equal(0);
      const ownIds = JSON.parse(own.stdout).requests.map((r: { id: string }) => r.id);
      expect(ownIds).to.include(b.body.id).and.not.to.include(a.body.id);
      const refused = await list(CLIENT_B_TOKEN, '--client', 'client-a');
      expect(refused.code).to.equal(1);
      expect(refused.stdout + refused.stderr).to.include('the client filter is for staff roles');
      const staff = await list(VIEWER_TOKEN, '--client', 'client-a');
      expect(staff.code, staff.stderr).to.equal(0);
      const staffIds = JSON.parse(staff.stdout).requests.map((r: { id: string }) => r.id);
      expect(staffIds).to.include(a.body.id).and.not.to.include(b.body.id);
    });

    it('keeps OpenDSR subject_request_ids per controller: two controllers get a request each, and another controller’s answers 404 on GET and DELETE (v2 and v1)', async () => {
      const id = randomUUID();
      const a = await service.api('/v2/requests', { token: CLIENT_A_TOKEN, body: openDsrRequest(id, 'user-21') });
      const b = await service.api('/v2/requests', { token: CLIENT_B_TOKEN, body: openDsrRequest(id, 'user-22') });
      expect(a.status).to.equal(201);
      expect(b.status).to.equal(201);
      const ids = (
        await service.db.query<{ request_id: string; controller_id: string }>(
          `SELECT request_id, controller_id FROM opendsr_requests WHERE subject_request_id = $1 ORDER BY controller_id`,
          [id],
        )
      ).rows;
      expect(ids.map((r) => r.controller_id)).to.deep.equal(['client-a', 'client-b']);
      expect(await service.ledger.vault.loadSubject(ids[1].request_id)).to.deep.equal({ userId: 'user-22' });
      expect((await service.ledger.requests.getRequest(ids[0].request_id))!.client).to.equal('client-a');

      // The same controller, same id, another person: the native rule (422), nothing created.
      const before = await countRequests();
      const reused = await service.api('/v2/requests', { token: CLIENT_A_TOKEN, body: openDsrRequest(id, 'user-23') });
      expect(reused.status).to.equal(422);
      expect(reused.body.error.errors[0].reason).to.equal('idempotency_key_reused');
      expect(await countRequests()).to.equal(before);

      const onlyA = randomUUID();
      expect(
        (
          await service.api('/v1/opengdpr_requests', {
            token: CLIENT_A_TOKEN,
            body: { ...openDsrRequest(onlyA, 'user-24'), api_version: '1.0' },
          })
        ).status,
      ).to.equal(201);
      const unknown = await service.api(`/v2/requests/${randomUUID()}`, { token: CLIENT_B_TOKEN });
      expect(unknown.status).to.equal(404);
      for (const path of [`/v2/requests/${onlyA}`, `/v1/opengdpr_requests/${onlyA}`]) {
        const read = await service.api(path, { token: CLIENT_B_TOKEN });
        expect(read.status, `GET ${path}`).to.equal(404);
        expect(read.body.error.message).to.equal(unknown.body.error.message);
        const cancel = await service.api(path, { token: CLIENT_B_TOKEN, method: 'DELETE' });
        expect(cancel.status, `DELETE ${path}`).to.equal(404);
      }
      const row = (
        await service.db.query<{ request_id: string }>(
          `SELECT request_id FROM opendsr_requests WHERE subject_request_id = $1`,
          [onlyA],
        )
      ).rows[0];
      expect((await service.ledger.requests.getRequest(row.request_id))!.status).to.equal('scheduled');
      expect((await service.api(`/v2/requests/${onlyA}`, { token: CLIENT_A_TOKEN })).body.request_status).to.equal(
        'pending',
      );
      // Staff read any controller's; an id two controllers used is ambiguous and points to the native id.
      expect((await service.api(`/v2/requests/${onlyA}`, { token: VIEWER_TOKEN })).status).to.equal(200);
      expect((await service.api(`/v2/requests/${id}`, { token: VIEWER_TOKEN })).status).to.equal(409);
      expect((await service.api(`/v2/requests/${id}`, { token: CLIENT_B_TOKEN })).status).to.equal(200);
    });

    it('shows the client on the admin page with a client filter for staff, and a client’s own requests only to a client', async () => {
      const a = await service.api('/v1/requests', {
        token: CLIENT_A_TOKEN,
        body: body(`page-${randomUUID()}`, 'user-25'),
      });
      const b = await service.api('/v1/requests', {
        token: CLIENT_B_TOKEN,
        body: body(`page-${randomUUID()}`, 'user-26'),
      });
      const page = async (pathname: string, token: string) => {
        const res = await fetch(`${service.url}${pathname}`, {
          headers: { accept: 'text/html', cookie: await adminSessionCookie(service.url, token) },
          redirect: 'manual',
        });
        return { status: res.status, text: await res.text() };
      };
      const staff = await page('/admin', VIEWER_TOKEN);
      expect(staff.text)
        .to.contain('<th>Client</th>')
        .and.to.contain('<select id="client" name="client">')
        .and.to.contain('<option value="client-b"');
      expect(staff.text).to.contain(`/admin/requests/${a.body.id}`).and.to.contain(`/admin/requests/${b.body.id}`);
      const filtered = await page('/admin?client=client-b', VIEWER_TOKEN);
      expect(filtered.text)
        .to.contain(`/admin/requests/${b.body.id}`)
        .and.not.to.contain(`/admin/requests/${a.body.id}`);
      expect((await page(`/admin/requests/${b.body.id}`, VIEWER_TOKEN)).text).to.match(
        /<dt>Client<\/dt><dd>client-b<\/dd>/,
      );

      const client = await page('/admin?client=client-b', CLIENT_A_TOKEN);
      expect(client.text).to.contain(`/admin/requests/${a.body.id}`).and.not.to.contain(`/admin/requests/${b.body.id}`);
      expect(client.text, 'no client filter for a client').not.to.contain('name="client"');
      expect((await page(`/admin/requests/${b.body.id}`, CLIENT_A_TOKEN)).status).to.equal(404);
      const ownPage = await page(`/admin/requests/${a.body.id}`, CLIENT_A_TOKEN);
      expect(ownPage.status).to.equal(200);
      expect(ownPage.text, 'no links to Bull Board, which a client may not open').not.to.contain('/admin/queues');
      expect((await page(`/admin/requests/${a.body.id}`, VIEWER_TOKEN)).text).to.contain('/admin/queues');
      expect(
        (await page('/admin/queues', CLIENT_A_TOKEN)).status,
        'Bull Board shows every client’s jobs: staff only',
      ).to.equal(403);
    });

    it('labels the request metrics with the client, bounded to configured token names', async () => {
      await service.db.query(
        `UPDATE requests SET client = 'a-token-since-removed' WHERE id = (SELECT id FROM requests WHERE client = 'client-b' LIMIT 1)`,
      );
      const text = await (await fetch(`${service.url}/metrics`)).text();
      expect(text).to.match(/^erasure_requests\{status="scheduled",client="client-a"\} \d+$/m);
      expect(text).to.match(/^erasure_requests\{status="\w+",client="other"\} 1$/m);
      expect(text).to.match(/^erasure_requests_overdue\{client="client-a"\} 0$/m);
      expect(text, 'a viewer submits nothing: no series of its own').not.to.contain('client="auditor"');
      expect(text).to.match(/^erasure_requests_at_risk\{client="client-b"\} 0$/m);
      expect(text).not.to.contain('a-token-since-removed');
    });

    it('creates exactly one request from 50 parallel submissions of one key by one client, half of them for another person; the rest are duplicates, 409 or 422, none 5xx', async () => {
      const key = `parallel-${randomUUID()}`;
      const before = await countRequests();
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          service.api('/v1/requests', { token: CLIENT_A_TOKEN, body: body(key, i % 2 ? 'user-27' : 'user-28') }),
        ),
      );
      const statuses = answers.map((a) => a.status);
      expect(
        statuses.filter((s) => s >= 500),
        JSON.stringify(statuses),
      ).to.deep.equal([]);
      expect(
        statuses.every((s) => [200, 202, 409, 422].includes(s)),
        JSON.stringify(statuses),
      ).to.equal(true);
      expect(statuses.filter((s) => s === 202)).to.have.length(1);
      expect(await countRequests()).to.equal(before + 1);
      const created = answers.find((a) => a.status === 202)!.body.id;
      for (const a of answers.filter((x) => x.status === 200))
        expect(a.body).to.include({ duplicate: true, id: created });
      for (const a of answers.filter((x) => x.status === 422))
        expect(a.body.error.code).to.equal('idempotency_key_reused');
      // The winner's person decides which half repeats it and which half reuses its key.
      const winner = (await service.ledger.vault.loadSubject(created)).userId;
      const sameHalf = answers.filter((_, i) => (i % 2 ? 'user-27' : 'user-28') === winner);
      expect(sameHalf.every((a) => a.status === 200 || a.status === 202 || a.status === 409)).to.equal(true);
      expect(
        answers
          .filter((_, i) => (i % 2 ? 'user-27' : 'user-28') !== winner)
          .every((a) => a.status === 422 || a.status === 409),
      ).to.equal(true);
    });
  });
}
