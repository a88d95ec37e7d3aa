import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../../src/api/auth.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

// Issue 25, items 8 and 10: real OpenGDPR clients get in; identifiers are validated strictly.
const CONTROLLER_TOKEN = 'go-controller-token-0123456789abcdef';
const README = path.join(import.meta.dirname, '../../README.md');

/**
 * The body greencase/go-gdpr's client sends, byte for byte in its field order: Go's encoding/json
 * writes an unset slice and a nil json.RawMessage as null, and time.Time as RFC 3339 with
 * nanoseconds.
 */
function goClientBody(subjectRequestId: string, userId: string, extra = ''): string {
  const submitted = new Date(Date.now() - 60_000).toISOString().replace(/\.(\d{3})Z$/, '.$1456789Z');
  return (
    `{"subject_request_id":"${subjectRequestId}","subject_request_type":"erasure","submitted_time":"${submitted}",` +
    `"api_version":"0.1","status_callback_urls":null,` +
    `"subject_identities":[{"identity_type":"controller_customer_id","identity_value":"${userId}","identity_format":"raw"}],` +
    `"extensions":null${extra}}`
  );
}

describe('OpenGDPR clients, null optional fields and strict identifiers (issue 25, items 8 and 10)', () => {
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: { tokens: [{ name: 'go-controller', sha256: sha256Hex(CONTROLLER_TOKEN), role: 'submitter' }] },
    });
  });
  after(async () => service?.close());

  async function post(pathname: string, body: string, contentType = 'application/json') {
    const res = await fetch(`${service.url}${pathname}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${CONTROLLER_TOKEN}`, 'content-type': contentType },
      body,
    });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) };
  }

  it('accepts the Go client shape (api_version "0.1", Content-Type Application/JSON, nanoseconds, null callbacks and extensions) on /v1/opengdpr_requests and /v2/requests', async () => {
    const v1Id = randomUUID();
    const v1 = await post('/v1/opengdpr_requests', goClientBody(v1Id, 'user-11'), 'Application/JSON');
    expect(v1.status, v1.text).to.equal(201);
    expect(v1.body.subject_request_id).to.equal(v1Id);
    const status = await fetch(`${service.url}/v1/opengdpr_requests/${v1Id}`, {
      headers: { authorization: `Bearer ${CONTROLLER_TOKEN}` },
    });
    expect(status.status).to.equal(200);
    expect(((await status.json()) as { request_status: string }).request_status).to.be.oneOf([
      'pending',
      'in_progress',
      'completed',
    ]);

    // OpenDSR 2.0 makes `regulation` required; everything else is the same shape.
    const v2Id = randomUUID();
    const v2 = await post('/v2/requests', goClientBody(v2Id, 'user-12', ',"regulation":"gdpr"'), 'Application/JSON');
    expect(v2.status, v2.text).to.equal(201);
    expect(v2.body.subject_request_id).to.equal(v2Id);

    // A null regulation on the v1 alias is absent too (it defaults to gdpr); a null required field is "required".
    const nullRegulation = await post(
      '/v1/opengdpr_requests',
      goClientBody(randomUUID(), 'user-13', ',"regulation":null'),
      'Application/JSON',
    );
    expect(nullRegulation.status, nullRegulation.text).to.equal(201);
    const nullType = await post(
      '/v2/requests',
      goClientBody(randomUUID(), 'user-14', ',"regulation":"gdpr"').replace(
        '"subject_request_type":"erasure"',
        '"subject_request_type":null',
      ),
    );
    expect(nullType.status).to.equal(400);
    expect(nullType.text).to.include('subject_request_type is required');
    // Null inside our extension is absent as well.
    const nullInExtension = await post(
      '/v2/requests',
      goClientBody(randomUUID(), 'user-15', ',"regulation":"gdpr"').replace(
        '"extensions":null',
        '"extensions":{"localhost":{"grace_period_seconds":null,"vendors":null,"identities":{"phone":null,"install_id":"3f2504e0-4f89-41d3-9a0c-0305e82c3301"}}}',
      ),
    );
    expect(nullInExtension.status, nullInExtension.text).to.equal(201);
  });

  it('treats null as absent for every optional field of the native API', async () => {
    const res = await fetch(`${service.url}/v1/requests`, {
      method: 'POST',
      headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        requestId: null,
        subject: { userId: 'user-16', email: null, phone: null, installId: null, amplitudeId: null },
        vendors: null,
        regulation: null,
        callbackUrl: null,
        gracePeriodSeconds: null,
      }),
    });
    const body = (await res.json()) as { id: string; regulation: string; vendors: string[] };
    expect(res.status, JSON.stringify(body)).to.equal(202);
    const stored = await service.ledger.requests.getRequest(body.id);
    expect(stored!.regulation).to.equal('gdpr');
    expect(stored!.callbackUrl ?? undefined).to.equal(undefined);
    // The other native bodies too: a null optional filter is no filter.
    const retries = await service.api('/v1/retries', {
      body: {
        reason: 'retry after the outage',
        vendor: null,
        requestId: null,
        since: null,
        all: true,
        dryRun: null,
        limit: null,
      },
    });
    expect(retries.status, JSON.stringify(retries.body)).to.equal(200);
    const retry = await service.api(`/v1/requests/${body.id}/retry`, {
      body: { reason: 'retry after the outage', vendor: null },
    });
    expect(retry.status, JSON.stringify(retry.body)).to.be.below(500).and.not.equal(400);
    // Null is absent for the fields the schema knows; an unknown field stays refused, null or not.
    const unknown = await service.api('/v1/requests', { body: { subject: { userId: 'user-16' }, colour: null } });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.error.details).to.deep.equal([{ field: 'colour', problem: 'is not a known field' }]);
    const missing = await service.api('/v1/requests', { body: { subject: null } });
    expect(missing.status).to.equal(400);
    expect(missing.body.error.details).to.deep.equal([{ field: 'subject', problem: 'is required' }]);
  });

  it('runs the README openssl example against a real discovery answer, and it fails on a changed body', async function () {
    this.timeout(30_000);
    const readme = readFileSync(README, 'utf8');
    const block = /<!-- openssl-verify:start -->\s*```sh\n([\s\S]*?)```\s*<!-- openssl-verify:end -->/.exec(readme);
    expect(block, 'the README has the openssl example').to.not.equal(null);
    const dir = makeTestTempDir('erasure-openssl-');
    // Asynchronously: curl calls this very process, whose event loop must keep running.
    const run = promisify(execFile);
    const { stdout } = await run('bash', ['-euo', 'pipefail', '-c', block![1]], {
      cwd: dir,
      env: { ...process.env, ERASURE_URL: service.url },
      encoding: 'utf8',
    });
    expect(stdout.trim()).to.equal('Verified OK');
    expect(JSON.parse(readFileSync(path.join(dir, 'discovery.json'), 'utf8')).signature_algorithm).to.equal(
      'RSASSA-PKCS1-v1_5-SHA256',
    );

    // The same command on a body changed by one byte: openssl says so and exits non-zero.
    writeFileSync(
      path.join(dir, 'discovery.json'),
      readFileSync(path.join(dir, 'discovery.json'), 'utf8').replace('erasure', 'Erasure'),
    );
    let failed = false;
    try {
      await run(
        'openssl',
        ['dgst', '-sha256', '-verify', 'processor-pub.pem', '-signature', 'discovery.sig', 'discovery.json'],
        { cwd: dir, encoding: 'utf8' },
      );
    } catch (err) {
      failed = true;
      expect(String((err as { stdout?: string }).stdout)).to.include('Verification failure');
    }
    expect(failed, 'a changed body does not verify').to.equal(true);
  });

  it('refuses callbacks into the mapped, translated, tunnelled and documentation ranges on both intakes, through the one guard (item 7)', async () => {
    for (const host of [
      '[::ffff:7f00:1]',
      '[64:ff9b::a00:1]',
      '[2002:7f00:1::1]',
      '[2001:0:4136:e378:8000:63bf:3fff:fdd2]',
      '[fec0::1]',
      '[2001:db8::1]',
      '192.0.2.10',
      '198.51.100.7',
      '203.0.113.9',
    ]) {
      const native = await service.api('/v1/requests', {
        body: { subject: { userId: 'user-22' }, callbackUrl: `https://${host}/cb` },
      });
      expect(native.status, host).to.equal(400);
      expect(native.body.error.details[0].field).to.equal('callbackUrl');
      const opendsr = await post(
        '/v2/requests',
        goClientBody(randomUUID(), 'user-22', ',"regulation":"gdpr"').replace(
          '"status_callback_urls":null',
          `"status_callback_urls":["https://${host}/cb"]`,
        ),
      );
      expect(opendsr.status, host).to.equal(400);
      expect(opendsr.body.error.errors[0].reason).to.equal('callback_url_refused');
    }
  });

  describe('strict identifiers: 400 naming the field, never the value', () => {
    const REFUSED: Array<[string, Record<string, unknown>, string]> = [
      ['a NUL in a user id', { userId: 'user\u00001' }, 'subject.userId'],
      ['a bidi override in a user id', { userId: 'user-\u202e17' }, 'subject.userId'],
      ['a zero-width space in a user id', { userId: 'user\u200b-17' }, 'subject.userId'],
      ['a comma-separated list of user ids', { userId: 'user-17,user-18' }, 'subject.userId'],
      ['a double dot in an e-mail', { email: 'a..b@example.com' }, 'subject.email'],
      ['a domain starting with a hyphen', { email: 'a@-example.com' }, 'subject.email'],
      ['a list of e-mails', { email: 'user17@example.com,user18@example.com' }, 'subject.email'],
      ['a zero-width joiner in an e-mail', { email: 'user17\u200d@example.com' }, 'subject.email'],
      ['a country code that does not exist', { phone: '+999999999999999' }, 'subject.phone'],
      ['a list of phones', { phone: '+442079460958,+442079460959' }, 'subject.phone'],
      ['a bidi isolate in a phone', { phone: '\u2066+442079460958' }, 'subject.phone'],
    ];
    for (const [what, subject, field] of REFUSED) {
      it(`refuses ${what}`, async () => {
        const res = await service.api('/v1/requests', { body: { subject } });
        expect(res.status).to.equal(400);
        expect(res.body.error.details.map((d: { field: string }) => d.field)).to.deep.equal([field]);
        const text = JSON.stringify(res.body);
        for (const value of Object.values(subject)) expect(text).to.not.include(JSON.stringify(value).slice(1, -1));
      });
    }

    it('stores +44 (0) 20 7946 0958 as +442079460958 and refuses a subject key "__proto__" instead of dropping it', async () => {
      const ok = await service.api('/v1/requests', {
        body: { subject: { phone: '+44 (0) 20 7946 0958' }, vendors: ['pinpoint'] },
      });
      expect(ok.status).to.equal(202);
      expect((await service.ledger.vault.loadSubject(ok.body.id as string)).phone).to.equal('+442079460958');
      const proto = await fetch(`${service.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
        body: '{"subject":{"userId":"user-19","__proto__":"user-20"}}',
      });
      const protoBody = (await proto.json()) as { error: { details: Array<{ field: string; problem: string }> } };
      expect(proto.status).to.equal(400);
      expect(protoBody.error.details).to.deep.equal([{ field: 'subject.__proto__', problem: 'is not a known field' }]);
      expect(JSON.stringify(protoBody)).to.not.include('user-20');
      const topLevel = await fetch(`${service.url}/v1/requests`, {
        method: 'POST',
        headers: { authorization: `Bearer ${service.adminToken}`, 'content-type': 'application/json' },
        body: '{"subject":{"userId":"user-19"},"__proto__":{"vendors":["pinpoint"]}}',
      });
      expect(topLevel.status).to.equal(400);
    });

    it('refuses the same identifiers through OpenDSR, naming the OpenDSR field', async () => {
      const body = goClientBody(randomUUID(), 'user-21', ',"regulation":"gdpr"').replace(
        '"identity_type":"controller_customer_id","identity_value":"user-21"',
        '"identity_type":"email","identity_value":"a..b@example.com"',
      );
      const res = await post('/v2/requests', body);
      expect(res.status).to.equal(400);
      expect(res.text).to.include('subject_identities (email)');
      expect(res.text).to.not.include('a..b@example.com');
    });
  });
});
