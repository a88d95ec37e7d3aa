import { expect } from 'chai';
import { randomUUID, verify as verifySignature, X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueueEvents } from 'bullmq';
import { sha256Hex } from '../../src/api/auth.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { verifySignature as verifyEd25519 } from '../../src/receipts/receipt-signer.js';
import { startTestService, type TestService } from '../support/test-service.js';

const PROCESSOR_DOMAIN = 'opendsr.erasure.test';
const CONTROLLER_TOKEN = 'controller-token-0123456789abcdef';
const VIEWER_TOKEN = 'viewer-token-0123456789abcdefghij';

// ---------------------------------------------------------------------------------------------
// A controller, written from the OpenDSR 2.0 spec (specification.md of github.com/opengdpr/opengdpr), not from our code.
// ---------------------------------------------------------------------------------------------

interface SignedAnswer {
  status: number;
  raw: Buffer;
  body: any;
  domain: string | null;
  signature: string | null;
}

/** §6: the signature is over the raw body bytes, SHA-256, base64, checked with the certificate's key. */
function signatureValid(raw: Buffer, signature: string | null, certificatePem: string): boolean {
  if (!signature) return false;
  try {
    return verifySignature(
      'sha256',
      raw,
      new X509Certificate(certificatePem).publicKey,
      Buffer.from(signature, 'base64'),
    );
  } catch {
    return false;
  }
}

class Controller {
  private certificatePem?: string;

  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly allowedDomains: string[],
  ) {}

  async call(method: string, path: string, body?: string | object, headerPrefix = 'X-OpenDSR'): Promise<SignedAnswer> {
    const payload = typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body);
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      body: payload,
    });
    const raw = Buffer.from(await res.arrayBuffer());
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      parsed = raw.toString('utf8');
    }
    return {
      status: res.status,
      raw,
      body: parsed,
      domain: res.headers.get(`${headerPrefix}-Processor-Domain`),
      signature: res.headers.get(`${headerPrefix}-Signature`),
    };
  }

  /** §4 + §2.6 steps 1–3: discovery, then the certificate it names, which must be for the processor's domain. */
  async discover(
    path = '/v2/discovery',
    headerPrefix = 'X-OpenDSR',
  ): Promise<{ answer: SignedAnswer; certificatePem: string }> {
    const answer = await this.call('GET', path, undefined, headerPrefix);
    const certificateRes = await fetch(answer.body.processor_certificate);
    expect(certificateRes.status).to.equal(200);
    const certificatePem = await certificateRes.text();
    const certificate = new X509Certificate(certificatePem);
    expect(answer.domain).to.be.oneOf(this.allowedDomains);
    expect(certificate.checkHost(answer.domain!)).to.equal(answer.domain);
    expect(new Date(certificate.validTo).getTime()).to.be.greaterThan(Date.now());
    this.certificatePem = certificatePem;
    return { answer, certificatePem };
  }

  /** Every answer: domain allow-listed and signature valid over the raw bytes, before parsing. */
  verified(answer: SignedAnswer): boolean {
    return (
      !!this.certificatePem &&
      this.allowedDomains.includes(answer.domain ?? '') &&
      signatureValid(answer.raw, answer.signature, this.certificatePem)
    );
  }

  get certificate(): string {
    return this.certificatePem!;
  }
}

function erasureRequest(overrides: Record<string, unknown> = {}) {
  return {
    regulation: 'gdpr',
    subject_request_id: randomUUID(),
    subject_request_type: 'erasure',
    submitted_time: new Date(Date.now() - 3_600_000).toISOString(),
    subject_identities: [
      { identity_type: 'controller_customer_id', identity_value: 'user-20', identity_format: 'raw' },
    ],
    api_version: '2.0',
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------------
// A tiny callback receiver on loopback: records raw bodies and headers; can fail on purpose.
// ---------------------------------------------------------------------------------------------

interface Received {
  path: string;
  raw: Buffer;
  headers: http.IncomingHttpHeaders;
  answered: number;
}

class Receiver {
  readonly received: Received[] = [];
  private failuresLeft = new Map<string, number>();
  private waiters: Array<{ match: (r: Received) => boolean; resolve: (r: Received) => void }> = [];
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const left = this.failuresLeft.get(path) ?? 0;
      const answered = left > 0 ? 500 : 202;
      if (left > 0) this.failuresLeft.set(path, left - 1);
      const record = { path, raw: Buffer.concat(chunks), headers: req.headers, answered };
      this.received.push(record);
      res.writeHead(answered).end();
      for (const waiter of this.waiters.splice(0)) {
        if (waiter.match(record)) waiter.resolve(record);
        else this.waiters.push(waiter);
      }
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  failNext(path: string, times: number) {
    this.failuresLeft.set(path, times);
  }

  /** Resolves with the first delivery (already here or still to come) that matches. */
  next(match: (r: Received) => boolean, timeoutMs = 15_000): Promise<Received> {
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('no matching callback arrived'));
      }, timeoutMs);
      this.waiters.push({
        match,
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

const bodyOf = (r: Received) => JSON.parse(r.raw.toString('utf8'));

describe('OpenDSR 2.0 processor API and signed status callbacks', () => {
  let service: TestService;
  let receiver: Receiver;
  let receiverUrl: string;
  let controller: Controller;

  before(async () => {
    receiver = new Receiver();
    receiverUrl = await receiver.start();
    service = await startTestService({
      file: {
        tokens: [
          { name: 'controller-a', sha256: sha256Hex(CONTROLLER_TOKEN), role: 'submitter' },
          { name: 'viewer', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' },
        ],
        // Loopback callbacks are allowed here only, for the receiver; everything else private is refused.
        callbacks: { allowedHosts: ['127.0.0.1'], backoffMs: 50, attempts: 5, timeoutMs: 5000 },
        opendsr: { processorDomain: PROCESSOR_DOMAIN },
      },
    });
    controller = new Controller(service.url, CONTROLLER_TOKEN, [PROCESSOR_DOMAIN]);
  });
  after(async () => {
    await service?.close();
    await receiver?.close();
  });

  it('runs discovery, create, status and cancel-while-pending, with every answer and the callback signed by the certificate from discovery', async () => {
    const { answer: discovery, certificatePem } = await controller.discover();
    expect(discovery.status).to.equal(200);
    expect(controller.verified(discovery)).to.equal(true);
    expect(discovery.body.api_version).to.equal('2.0');
    expect(discovery.body.supported_subject_request_types).to.deep.equal(['erasure']);
    expect(discovery.body.supported_identities).to.deep.include({ identity_type: 'email', identity_format: 'raw' });
    expect(discovery.body.supported_identities).to.deep.include({
      identity_type: 'controller_customer_id',
      identity_format: 'raw',
    });
    // Our lookup hashes are keyed, so hashed identities cannot be matched and are not offered.
    expect(
      discovery.body.supported_identities.map((i: { identity_format: string }) => i.identity_format),
    ).to.deep.equal(['raw', 'raw']);

    // Create, with our extension's grace period so the request stays pending (cancellable).
    const callbackUrl = `${receiverUrl}/opendsr/callbacks`;
    const endpointsBefore = service.sandbox!.pinpoint.store.userEndpoints(
      service.sandbox!.pinpoint.appId,
      'user-21',
    ).length;
    expect(endpointsBefore).to.be.greaterThan(0);
    const request = erasureRequest({
      subject_identities: [
        { identity_type: 'controller_customer_id', identity_value: 'user-21', identity_format: 'raw' },
      ],
      status_callback_urls: [callbackUrl],
      extensions: {
        [PROCESSOR_DOMAIN]: { grace_period_seconds: 3600, vendors: ['pinpoint'] },
        'opendsr.other.example': { anything: 1 },
      },
    });
    const sent = JSON.stringify(request);
    const created = await controller.call('POST', '/v2/requests', sent);
    expect(created.status).to.equal(201);
    expect(controller.verified(created)).to.equal(true);
    expect(created.body.subject_request_id).to.equal(request.subject_request_id);
    expect(created.body.controller_id).to.equal('controller-a');
    expect(Buffer.from(created.body.encoded_request, 'base64').toString('utf8')).to.equal(sent);
    expect(Date.parse(created.body.received_time)).to.be.closeTo(Date.now(), 10_000);
    // The legal clock starts when the person asked (submitted_time), not when we received it.
    expect(Date.parse(created.body.expected_completion_time)).to.equal(
      Date.parse(request.submitted_time) + 30 * 86_400_000,
    );

    const pending = await controller.call('GET', `/v2/requests/${request.subject_request_id}`);
    expect(pending.status).to.equal(200);
    expect(controller.verified(pending)).to.equal(true);
    expect(pending.body).to.include({
      subject_request_id: request.subject_request_id,
      request_status: 'pending',
      controller_id: 'controller-a',
    });
    expect(pending.body.expected_completion_time).to.equal(created.body.expected_completion_time);
    expect(pending.body.extensions[PROCESSOR_DOMAIN].status).to.equal('scheduled');

    const cancelled = await controller.call('DELETE', `/v2/requests/${request.subject_request_id}`);
    expect(cancelled.status).to.equal(202);
    expect(controller.verified(cancelled)).to.equal(true);
    expect(cancelled.body).to.include({
      subject_request_id: request.subject_request_id,
      controller_id: 'controller-a',
    });
    expect(cancelled.body.received_time).to.be.a('string');
    expect((await controller.call('GET', `/v2/requests/${request.subject_request_id}`)).body.request_status).to.equal(
      'cancelled',
    );

    // The callback for the change to cancelled, checked the way §2.6 tells a controller to.
    const callback = await receiver.next(
      (r) => r.path === '/opendsr/callbacks' && bodyOf(r).subject_request_id === request.subject_request_id,
    );
    expect(callback.headers['x-opendsr-processor-domain']).to.equal(PROCESSOR_DOMAIN);
    const signature = String(callback.headers['x-opendsr-signature']);
    expect(signatureValid(callback.raw, signature, certificatePem)).to.equal(true);
    const payload = bodyOf(callback);
    expect(payload).to.include({
      status_callback_url: callbackUrl,
      request_status: 'cancelled',
      controller_id: 'controller-a',
      subject_request_id: request.subject_request_id,
    });
    expect(payload.expected_completion_time).to.equal(created.body.expected_completion_time);
    // No identifier of the person in the callback.
    expect(callback.raw.toString('utf8')).not.to.include('user-21');

    // A tampered body (or a signature moved onto another body) fails verification.
    const tampered = Buffer.from(callback.raw.toString('utf8').replace('"cancelled"', '"completed"'));
    expect(tampered.equals(callback.raw)).to.equal(false);
    expect(signatureValid(tampered, signature, certificatePem)).to.equal(false);
    expect(signatureValid(Buffer.from(JSON.stringify(payload, null, 1)), signature, certificatePem)).to.equal(false);
    expect(
      controller.verified({
        ...created,
        raw: Buffer.from(created.raw.toString('utf8').replace('controller-a', 'controller-b')),
      }),
    ).to.equal(false);

    // Nothing was erased: the person's Pinpoint endpoints are still there.
    expect(service.sandbox!.pinpoint.store.userEndpoints(service.sandbox!.pinpoint.appId, 'user-21')).to.have.length(
      endpointsBefore,
    );
  });

  it('reports a request in progress and then completed through signed callbacks, and refuses to cancel it once it is no longer pending', async () => {
    await controller.discover();
    const callbackUrl = `${receiverUrl}/opendsr/progress`;
    const request = erasureRequest({
      status_callback_urls: [callbackUrl],
      extensions: { [PROCESSOR_DOMAIN]: { vendors: ['pinpoint'] } },
    });
    const created = await controller.call('POST', '/v2/requests', request);
    expect(created.status).to.equal(201);
    const ours = (r: Received) =>
      r.path === '/opendsr/progress' && bodyOf(r).subject_request_id === request.subject_request_id;
    const completed = await receiver.next((r) => ours(r) && bodyOf(r).request_status === 'completed');
    const inProgress = await receiver.next((r) => ours(r) && bodyOf(r).request_status === 'in_progress');
    for (const callback of [inProgress, completed])
      expect(
        signatureValid(callback.raw, String(callback.headers['x-opendsr-signature']), controller.certificate),
      ).to.equal(true);
    // One callback per state change: pending → in_progress → completed.
    expect(
      receiver.received
        .filter(ours)
        .map((r) => bodyOf(r).request_status)
        .sort(),
    ).to.deep.equal(['completed', 'in_progress']);
    expect(bodyOf(completed).extensions[PROCESSOR_DOMAIN].status).to.equal('completed');

    const status = await controller.call('GET', `/v2/requests/${request.subject_request_id}`);
    expect(status.body.request_status).to.equal('completed');
    expect(service.sandbox!.pinpoint.store.userEndpoints(service.sandbox!.pinpoint.appId, 'user-20')).to.have.length(0);

    const late = await controller.call('DELETE', `/v2/requests/${request.subject_request_id}`);
    expect(late.status).to.equal(400);
    expect(controller.verified(late)).to.equal(true);
    expect(late.body.error.code).to.equal(400);
    expect(late.body.error.errors[0]).to.include({ reason: 'not_pending' });
  });

  it('answers a repeated subject_request_id with the same answer and creates nothing new; a different body under the same id is refused', async () => {
    await controller.discover();
    const request = erasureRequest({
      subject_identities: [
        { identity_type: 'email', identity_value: 'user22@example.com', identity_format: 'raw' },
        { identity_type: 'controller_customer_id', identity_value: 'user-22', identity_format: 'raw' },
      ],
      extensions: { [PROCESSOR_DOMAIN]: { grace_period_seconds: 3600, vendors: ['pinpoint'] } },
    });
    const first = await controller.call('POST', '/v2/requests', request);
    const second = await controller.call('POST', '/v2/requests', request);
    expect(first.status).to.equal(201);
    expect(second.status).to.equal(201);
    expect(controller.verified(second)).to.equal(true);
    expect(second.body).to.deep.equal(first.body);
    const before = await service.ledger.queries.countRequestsByStatus();
    const third = await controller.call('POST', '/v2/requests', request);
    expect(third.body).to.deep.equal(first.body);
    expect(await service.ledger.queries.countRequestsByStatus()).to.deep.equal(before);

    const changed = await controller.call('POST', '/v2/requests', { ...request, regulation: 'ccpa' });
    // Issue 22: a reused subject_request_id follows the native rule for a reused key (422), not 409.
    expect(changed.status).to.equal(422);
    expect(controller.verified(changed)).to.equal(true);
    expect(changed.body.error.errors[0].reason).to.equal('idempotency_key_reused');
    expect(await service.ledger.queries.countRequestsByStatus()).to.deep.equal(before);
  });

  it('refuses private, loopback and link-local callback URLs at submission unless the config allows the host', async () => {
    await controller.discover();
    for (const url of [
      'http://10.0.0.7/cb',
      'http://localhost:9/cb',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]:8080/cb',
      'http://[::ffff:127.0.0.1]/cb',
      'http://192.168.1.20/cb',
    ]) {
      const refused = await controller.call('POST', '/v2/requests', erasureRequest({ status_callback_urls: [url] }));
      expect(refused.status, url).to.equal(400);
      expect(controller.verified(refused)).to.equal(true);
      expect(refused.body.error.errors[0].reason).to.equal('callback_url_refused');
      expect(refused.raw.toString('utf8')).not.to.include(new URL(url).hostname);

      const native = await service.api('/v1/requests', {
        body: { subject: { userId: 'user-23' }, vendors: ['pinpoint'], callbackUrl: url },
      });
      expect(native.status, url).to.equal(400);
      expect(native.body.error.details).to.deep.equal([
        {
          field: 'callbackUrl',
          problem:
            'resolves to a private, loopback or link-local address; callbacks go only to public addresses (config callbacks.allowPrivateNetworks or callbacks.allowedHosts to allow it)',
        },
      ]);
    }
  });

  it('delivers native callbacks signed with the receipt key on every status change, retrying a receiver that failed', async () => {
    receiver.failNext('/native', 1);
    const submitted = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-24' }, vendors: ['pinpoint'], callbackUrl: `${receiverUrl}/native` },
    });
    expect(submitted.status).to.equal(202);
    const id = submitted.body.id as string;
    const ok = (status: string) => (r: Received) =>
      r.path === '/native' && r.answered === 202 && bodyOf(r).requestId === id && bodyOf(r).status === status;
    const completed = await receiver.next(ok('completed'));
    const inProgress = await receiver.next(ok('in_progress'));
    const key = await service.api('/v1/receipt-key');
    for (const callback of [inProgress, completed]) {
      expect(Object.keys(bodyOf(callback)).sort()).to.deep.equal(['requestId', 'status', 'updatedAt']);
      expect(callback.headers['x-erasure-key-id']).to.equal(key.body.keyId);
      expect(
        verifyEd25519(
          key.body.publicKey,
          callback.raw.toString('utf8'),
          String(callback.headers['x-erasure-signature']),
        ),
      ).to.equal(true);
      expect(
        verifyEd25519(
          key.body.publicKey,
          callback.raw.toString('utf8').replace(id, randomUUID()),
          String(callback.headers['x-erasure-signature']),
        ),
      ).to.equal(false);
    }
    // The first delivery was answered 500 and was delivered again; the audit trail says so once each job ended.
    const events = new QueueEvents('callbacks', {
      connection: redisConnection(service.redisUrl, true),
      prefix: service.config.queuePrefix,
    });
    try {
      await events.waitUntilReady();
      for (const callback of [inProgress, completed]) {
        const { status, updatedAt } = bodyOf(callback);
        const job = await service.queues
          .queue('callbacks')
          .getJob(`native__${id}__${status}__${Date.parse(updatedAt)}__0`);
        await job!.waitUntilFinished(events, 15_000);
      }
    } finally {
      await events.close();
    }
    const attempts = receiver.received.filter((r) => r.path === '/native' && bodyOf(r).requestId === id);
    expect(attempts.filter((r) => r.answered === 500)).to.have.length(1);
    expect(attempts).to.have.length(3);
    const trail = await service.ledger.audit.auditTrail(id);
    const delivered = trail.filter((e) => e.action === 'callback.delivered');
    expect(delivered.map((e) => e.detail.attempt).sort()).to.deep.equal([1, 2]);
  });

  it('serves the OpenGDPR v1 paths with v1 signature headers, and refuses requests it cannot act on with signed spec errors', async () => {
    const v1 = new Controller(service.url, CONTROLLER_TOKEN, [PROCESSOR_DOMAIN]);
    const { answer } = await v1.discover('/v1/discovery', 'X-OpenGDPR');
    expect(v1.verified(answer)).to.equal(true);
    const request = erasureRequest({
      extensions: { [PROCESSOR_DOMAIN]: { grace_period_seconds: 3600, vendors: ['pinpoint'] } },
    });
    delete (request as Record<string, unknown>).regulation;
    const created = await v1.call('POST', '/v1/opengdpr_requests', request, 'X-OpenGDPR');
    expect(created.status).to.equal(201);
    expect(v1.verified(created)).to.equal(true);
    const status = await v1.call('GET', `/v1/opengdpr_requests/${request.subject_request_id}`, undefined, 'X-OpenGDPR');
    expect(status.body.request_status).to.equal('pending');
    expect(
      (await v1.call('DELETE', `/v1/opengdpr_requests/${request.subject_request_id}`, undefined, 'X-OpenGDPR')).status,
    ).to.equal(202);

    await controller.discover();
    const hashed = await controller.call(
      'POST',
      '/v2/requests',
      erasureRequest({
        subject_identities: [{ identity_type: 'email', identity_value: 'a'.repeat(64), identity_format: 'sha256' }],
      }),
    );
    expect(hashed.status).to.equal(400);
    expect(controller.verified(hashed)).to.equal(true);
    expect(hashed.body.error.errors[0].reason).to.equal('unsupported_identity');
    const access = await controller.call('POST', '/v2/requests', erasureRequest({ subject_request_type: 'access' }));
    expect(access.body.error.errors[0].reason).to.equal('unsupported_subject_request_type');
    const noRegulation = erasureRequest();
    delete (noRegulation as Record<string, unknown>).regulation;
    expect((await controller.call('POST', '/v2/requests', noRegulation)).status).to.equal(400);
    const badEmail = await controller.call(
      'POST',
      '/v2/requests',
      erasureRequest({
        subject_identities: [{ identity_type: 'email', identity_value: 'not-an-address', identity_format: 'raw' }],
      }),
    );
    expect(badEmail.status).to.equal(400);
    expect(badEmail.raw.toString('utf8')).not.to.include('not-an-address');
    expect((await controller.call('PUT', `/v2/requests/${request.subject_request_id}`, {})).status).to.equal(405);
    expect((await controller.call('GET', `/v2/requests/${randomUUID()}`)).status).to.equal(404);

    const anonymous = new Controller(service.url, 'not-a-token-at-all', [PROCESSOR_DOMAIN]);
    await anonymous.discover();
    const unauthorised = await anonymous.call('POST', '/v2/requests', erasureRequest());
    expect(unauthorised.status).to.equal(401);
    expect(anonymous.verified(unauthorised)).to.equal(true);
    const viewer = new Controller(service.url, VIEWER_TOKEN, [PROCESSOR_DOMAIN]);
    await viewer.discover();
    expect((await viewer.call('POST', '/v2/requests', erasureRequest())).status).to.equal(403);
    expect((await viewer.call('GET', `/v2/requests/${request.subject_request_id}`)).status).to.equal(200);
  });
});
