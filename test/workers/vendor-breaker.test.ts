import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createQueueSet, type QueueSet } from '../../src/infrastructure/queue-set.js';
import { createVendorBreaker, type VendorBreaker } from '../../src/infrastructure/vendor-breaker.js';
import { createLogger } from '../../src/logger.js';
import { resolveQueues } from '../../queues/registry.js';
import { TransientVendorError, isVendorOutage } from '../../src/vendors/vendor-errors.js';
import { testConfig } from '../support/test-service.js';
import { SUITE_LOG_FILE } from '../support/suite-log.js';

describe('Per-vendor circuit breaker, state in Redis (issue 17)', () => {
  let queues: QueueSet;
  let breaker: VendorBreaker;
  let other: VendorBreaker;
  let webhook: http.Server;
  let alerts: Array<Record<string, unknown>>;

  beforeEach(async () => {
    alerts = [];
    webhook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        alerts.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const config = await testConfig();
    queues = await createQueueSet({ url: config.redisUrl!, prefix: config.queuePrefix }, resolveQueues(config));
    const logger = createLogger({ logLevel: 'debug', logFile: SUITE_LOG_FILE }, { silentConsole: true });
    const settings = {
      consecutiveFailures: 3,
      probeAfterMs: 60_000,
      webhookUrl: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
    };
    breaker = createVendorBreaker({ redisUrl: config.redisUrl!, queues, settings, logger });
    // A second process on the same Redis and prefix sees the same state.
    other = createVendorBreaker({ redisUrl: config.redisUrl!, queues, settings, logger });
  });
  afterEach(async () => {
    await breaker.close();
    await other.close();
    await queues.close();
    await new Promise((resolve) => webhook.close(resolve));
  });

  it('opens after N consecutive outages across processes, pausing only that vendor’s queue, and alerts the webhook', async () => {
    expect(await breaker.recordTransient('segment', 'segment getRegulation failed (503)')).to.equal(false);
    expect(await other.recordTransient('segment', 'segment getRegulation failed (503)')).to.equal(false);
    expect(await breaker.recordTransient('segment', 'segment getRegulation failed (503)')).to.equal(true);
    const state = await other.state('segment');
    expect(state).to.include({ state: 'open', fault: 'transient' });
    expect(state.reason).to.match(/^3 consecutive failures; last: segment getRegulation failed \(503\)/);
    expect(await queues.queue('segment').isPaused()).to.equal(true);
    expect(await queues.queue('amplitude').isPaused()).to.equal(false);
    expect(alerts).to.have.length(1);
    expect(alerts[0]).to.include({
      event: 'vendor_breaker_open',
      vendor: 'segment',
      state: 'open',
      fault: 'transient',
    });
  });

  it('counts only consecutive outages: a success in between starts again', async () => {
    await breaker.recordTransient('amplitude', 'x');
    await breaker.recordTransient('amplitude', 'x');
    await breaker.recordSuccess('amplitude');
    expect(await breaker.recordTransient('amplitude', 'x')).to.equal(false);
    expect((await breaker.state('amplitude')).state).to.equal('closed');
  });

  it('lets a probe through after a storm (half-open): a success closes it, a failure opens it again', async () => {
    for (let i = 0; i < 3; i++) await breaker.recordTransient('pinpoint', 'pinpoint GetUserEndpoints failed (500)');
    const openedAt = Date.now();
    expect(await breaker.probeDue(openedAt + 1_000), 'not before probeAfterMs').to.deep.equal([]);
    expect(await breaker.probeDue(openedAt + 61_000)).to.deep.equal(['pinpoint']);
    expect((await breaker.state('pinpoint')).state).to.equal('half_open');
    expect(await queues.queue('pinpoint').isPaused(), 'the queue runs for the probe').to.equal(false);

    expect(
      await breaker.recordTransient('pinpoint', 'pinpoint GetUserEndpoints failed (500)'),
      'one failure re-opens a half-open breaker',
    ).to.equal(true);
    expect((await breaker.state('pinpoint')).state).to.equal('open');
    expect(await queues.queue('pinpoint').isPaused()).to.equal(true);

    expect(await breaker.probeDue(Date.now() + 61_000)).to.deep.equal(['pinpoint']);
    await breaker.recordSuccess('pinpoint');
    expect((await breaker.state('pinpoint')).state).to.equal('closed');
  });

  it('never probes after a credentials or scope fault: only the operator’s resume closes it', async () => {
    await breaker.trip(
      's3',
      'scope_missing',
      'vendors.s3.locations[0].bucket "x" does not exist',
      'vendors.s3.locations[0].bucket',
    );
    expect(await breaker.probeDue(Date.now() + 3_600_000)).to.deep.equal([]);
    expect(await breaker.state('s3')).to.include({
      state: 'open',
      fault: 'scope_missing',
      configKey: 'vendors.s3.locations[0].bucket',
    });
    // A later storm does not overwrite the config fault's reason.
    await breaker.trip('s3', 'transient', 'storm');
    expect((await breaker.state('s3')).fault).to.equal('scope_missing');
    await other.reset('s3');
    expect((await breaker.state('s3')).state).to.equal('closed');
    expect(await queues.queue('s3').isPaused()).to.equal(false);
  });

  it('counts the vendor failing (5xx, 408, timeouts), not our own read-back checks', () => {
    expect(isVendorOutage(new TransientVendorError({ vendor: 's3', operation: 'GetObject', status: 503 }))).to.equal(
      true,
    );
    expect(isVendorOutage(new TransientVendorError({ vendor: 's3', operation: 'GetObject', status: 408 }))).to.equal(
      true,
    );
    expect(
      isVendorOutage(
        new TransientVendorError(
          { vendor: 'segment', operation: 'getRegulation', code: 'TimeoutError' },
          'did not complete',
        ),
      ),
    ).to.equal(true);
    expect(
      isVendorOutage(new TransientVendorError({ vendor: 's3', operation: 'ReadObject', code: 'Truncated' })),
    ).to.equal(false);
    expect(
      isVendorOutage(new TransientVendorError({ vendor: 'pinpoint', operation: 'GetEndpoint', code: 'StillPresent' })),
    ).to.equal(false);
  });
});
