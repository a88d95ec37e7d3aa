import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { QueueEvents } from 'bullmq';
import { startTestService, type TestService } from '../support/test-service.js';
import { redisConnection } from '../../src/infrastructure/queue-set.js';
import { reconcile } from '../../src/workers/reconciler.js';
import { createRequestEnqueuer } from '../../src/planner/request-enqueuer.js';

/** A callback receiver that records each native callback's status and resolves once it has `count`. */
class Receiver {
  readonly statuses: string[] = [];
  private waiting?: { count: number; resolve: () => void };
  private readonly server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      this.statuses.push((JSON.parse(body) as { status: string }).status);
      res.writeHead(204).end();
      if (this.waiting && this.statuses.length >= this.waiting.count) this.waiting.resolve();
    });
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/callbacks`;
  }

  received(count: number): Promise<void> {
    if (this.statuses.length >= count) return Promise.resolve();
    return new Promise((resolve) => (this.waiting = { count, resolve }));
  }

  close(): Promise<void> {
    return new Promise((resolve) =>
      this.server.close(() => {
        resolve();
      }),
    );
  }
}

describe('Status callbacks through the ledger outbox', function () {
  this.timeout(60_000);
  let service: TestService;
  let receiver: Receiver;
  afterEach(async () => {
    await service?.close();
    await receiver?.close();
  });

  async function start(): Promise<string> {
    receiver = new Receiver();
    const callbackUrl = await receiver.start();
    service = await startTestService({
      file: { callbacks: { allowedHosts: ['127.0.0.1'], backoffMs: 50, attempts: 5, timeoutMs: 5000 } },
    });
    return callbackUrl;
  }

  const outboxRows = async (requestId: string) =>
    (
      await service.db.query<{ job_id: string; status: string }>(
        `SELECT job_id, status FROM callback_outbox WHERE request_id = $1 ORDER BY created_at`,
        [requestId],
      )
    ).rows;

  it('queues a change’s callback right after its commit and leaves nothing in the outbox', async () => {
    const callbackUrl = await start();
    const res = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-2' }, vendors: ['pinpoint'], callbackUrl },
    });
    expect(res.status).to.equal(202);
    await service.waitForRequest(res.body.id);
    await receiver.received(2);
    expect(receiver.statuses).to.deep.equal(['in_progress', 'completed']);
    expect(await outboxRows(res.body.id)).to.deep.equal([]);
  });

  it('still delivers every callback, once each, when the enqueue after the commit failed (Redis unreachable for it)', async () => {
    const callbackUrl = await start();
    const callbacks = service.queues.queue('callbacks');
    // The commit succeeds, then the enqueue fails: what a crash or a Redis outage right after the commit does.
    callbacks.addBulk = async () => {
      throw new Error('Connection is closed.');
    };
    const res = await service.api('/v1/requests', {
      body: { subject: { userId: 'user-3' }, vendors: ['pinpoint'], callbackUrl },
    });
    expect(res.status).to.equal(202);
    const id = res.body.id as string;
    await service.waitForRequest(id);
    expect((await service.api(`/v1/requests/${id}`)).body.status).to.equal('completed');
    const left = await outboxRows(id);
    expect(
      left.map((r) => r.status),
      'both changes wait in the outbox',
    ).to.deep.equal(['in_progress', 'completed']);
    for (const row of left) expect(row.job_id).not.to.include(':');
    expect(receiver.statuses).to.deep.equal([]);

    // Redis is back; the reconciler's next sweep (rows past its grace) queues them.
    delete (callbacks as { addBulk?: unknown }).addBulk;
    const deps = {
      ledger: service.ledger,
      queues: service.queues,
      enqueue: createRequestEnqueuer({ ledger: service.ledger, queues: service.queues }),
      logger: service.logger,
      callbacks: service.callbacks,
    };
    const options = { enqueueGraceMs: 10_000, staleAfterMs: 60_000, identityRetentionDays: 30 };
    const report = await reconcile(deps, options, new Date(Date.now() + 11_000));
    expect(report.callbacksQueued).to.equal(2);
    expect(await outboxRows(id)).to.deep.equal([]);
    const events = new QueueEvents('callbacks', {
      connection: redisConnection(service.redisUrl, true),
      prefix: service.config.queuePrefix,
    });
    try {
      await events.waitUntilReady();
      for (const row of left) {
        const job = await callbacks.getJob(row.job_id);
        if ((await job!.getState()) !== 'completed') await job!.waitUntilFinished(events, 20_000);
      }
    } finally {
      await events.close();
    }
    expect([...receiver.statuses].sort()).to.deep.equal(['completed', 'in_progress']);

    // Queued again (a sweep racing the dispatch, or a crash after the enqueue but before the row
    // was deleted): the deterministic job id makes it the same job, so nothing is sent twice.
    for (const row of left) {
      await service.db.query(
        `INSERT INTO callback_outbox (job_id, request_id, format, status, changed_at) VALUES ($1, $2, 'native', $3, now())`,
        [row.job_id, id, row.status],
      );
    }
    expect((await reconcile(deps, options, new Date(Date.now() + 11_000))).callbacksQueued).to.equal(2);
    const counts = await callbacks.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
    expect(counts).to.deep.equal({ waiting: 0, active: 0, delayed: 0, completed: 2, failed: 0 });
    expect(receiver.statuses).to.have.length(2);
    const delivered = (await service.ledger.audit.auditTrail(id)).filter((e) => e.action === 'callback.delivered');
    expect(delivered.map((e) => e.detail.status).sort()).to.deep.equal(['completed', 'in_progress']);
  });
});
