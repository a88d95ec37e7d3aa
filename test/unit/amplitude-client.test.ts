import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { SANDBOX_AMPLITUDE_PROJECT } from '../../src/sandbox/amplitude/amplitude-seed.js';
import { createAmplitudeClient, type AmplitudeClient } from '../../src/vendors/amplitude-client.js';
import { AMPLITUDE_DEFAULTS, type AmplitudeSettings } from '../../src/vendors/amplitude-settings.js';
import { PermanentVendorError, RateLimitedError, TransientVendorError } from '../../src/vendors/vendor-errors.js';
import { VENDOR_QUEUE_DEFAULTS } from '../../src/connectors/registry.js';

const DAY_MS = 86_400_000;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function settingsFor(sandbox: Sandbox, extra: Partial<AmplitudeSettings> = {}): AmplitudeSettings {
  return {
    ...VENDOR_QUEUE_DEFAULTS.amplitude,
    ...AMPLITUDE_DEFAULTS,
    baseUrl: sandbox.vendors.amplitude.baseUrl,
    apiKey: sandbox.amplitude.apiKey,
    secretKey: sandbox.amplitude.secretKey,
    throttleDelayMs: 4321,
    requestsPerSecond: Infinity,
    ...extra,
  };
}

async function thrown(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a rejection');
}

/** A server answering every request with one canned answer, recording what it was sent. */
async function cannedServer(
  status: number,
  headers: Record<string, string>,
  body: string,
): Promise<{ url: string; bodies: string[]; close(): Promise<void> }> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(text);
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    close: () =>
      new Promise((resolve) =>
        server.close(() => {
          resolve();
        }),
      ),
  };
}

describe('Amplitude client (got, Basic auth) against the simulator', () => {
  let sandbox: Sandbox;
  let client: AmplitudeClient;
  const store = () => sandbox.amplitude.store;

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 50, amplitude: { requestsPerSecond: Infinity } });
    client = createAmplitudeClient(settingsFor(sandbox));
  });
  afterEach(async () => {
    client.close();
    await sandbox.close();
  });

  it('schedules user ids and Amplitude ids in one call, maps each user id to its Amplitude id, and lists the unknown ones', async () => {
    const answer = await client.requestDeletions([
      { kind: 'user_id', value: 'user-3' },
      { kind: 'amplitude_id', value: String(seedPerson(4).amplitudeId) },
      { kind: 'user_id', value: 'nobody-here' },
      { kind: 'amplitude_id', value: '999999' },
    ]);
    expect(answer.day).to.equal(dayOf(sandbox.clock.now() + 10 * DAY_MS));
    expect(answer.status).to.equal('staging');
    expect(answer.invalid).to.have.deep.members([
      { kind: 'user_id', value: 'nobody-here' },
      { kind: 'amplitude_id', value: '999999' },
    ]);
    expect(answer.entries.find((e) => e.userId === 'user-3')?.amplitudeId).to.equal(String(seedPerson(3).amplitudeId));
    expect(answer.entries.map((e) => e.amplitudeId)).to.have.members([
      String(seedPerson(3).amplitudeId),
      String(seedPerson(4).amplitudeId),
    ]);
    expect(sandbox.stats.calls('amplitude', 'createDeletion')).to.equal(1);
  });

  it('lists a day’s job with its entries as exact strings, and withdraws one entry while the job is staging', async () => {
    const { day } = await client.requestDeletions([
      { kind: 'user_id', value: 'user-5' },
      { kind: 'user_id', value: 'user-6' },
    ]);
    const [job] = await client.listDeletions(day, day);
    expect(job).to.deep.include({ day, status: 'staging', entryCount: 2 });
    expect(job.amplitudeIds).to.have.members([String(seedPerson(5).amplitudeId), String(seedPerson(6).amplitudeId)]);
    await client.cancelDeletion(String(seedPerson(5).amplitudeId), day);
    expect((await client.listDeletions(day, day))[0].amplitudeIds).to.deep.equal([String(seedPerson(6).amplitudeId)]);
    expect(
      await client.listDeletions(dayOf(sandbox.clock.now() + 100 * DAY_MS), dayOf(sandbox.clock.now() + 101 * DAY_MS)),
    ).to.deep.equal([]);
  });

  it('answers a poll of a day whose job Amplitude reported done from memory, and calls again for a day not yet done', async () => {
    const { day } = await client.requestDeletions([{ kind: 'user_id', value: 'user-8' }]);
    const calls = () => sandbox.stats.calls('amplitude', 'listDeletions');
    expect((await client.listDeletions(day, day))[0].status).to.equal('staging');
    expect((await client.listDeletions(day, day))[0].status).to.equal('staging');
    expect(calls(), 'a job not done is asked about each time').to.equal(2);
    sandbox.clock.advance(Date.parse(`${day}T00:00:00Z`) + 7 * DAY_MS - sandbox.clock.now());
    const [done] = await client.listDeletions(day, day);
    expect(done).to.deep.include({ day, status: 'done', amplitudeIds: [String(seedPerson(8).amplitudeId)] });
    expect(await client.listDeletions(day, day)).to.deep.equal([done]);
    expect(calls(), 'done is final: no call for the second look').to.equal(3);
  });

  it('refuses a withdrawal once the job is submitted as a PermanentVendorError with the status only', async () => {
    const { day } = await client.requestDeletions([{ kind: 'user_id', value: 'user-7' }]);
    sandbox.clock.advance(Date.parse(`${day}T00:00:00Z`) - 2 * DAY_MS - sandbox.clock.now());
    const err = await thrown(client.cancelDeletion(String(seedPerson(7).amplitudeId), day));
    expect(err).to.be.instanceOf(PermanentVendorError);
    expect(err.message).to.equal('amplitude cancelDeletion was refused (400)');
    expect((err as PermanentVendorError).details.status).to.equal(400);
  });

  it('reports done with active_scrub_done_date once Amplitude has scrubbed and cleared backups', async () => {
    const { day } = await client.requestDeletions([{ kind: 'user_id', value: 'user-8' }]);
    sandbox.clock.advance(Date.parse(`${day}T00:00:00Z`) + 7 * DAY_MS - sandbox.clock.now());
    const [job] = await client.listDeletions(day, day);
    expect(job).to.deep.include({
      day,
      status: 'done',
      activeScrubDoneDate: dayOf(Date.parse(`${day}T00:00:00Z`) + DAY_MS),
    });
    expect(store().user(SANDBOX_AMPLITUDE_PROJECT.appId, seedPerson(8).amplitudeId)).to.equal(undefined);
  });

  it('answers a wrong secret key with a PermanentVendorError (401)', async () => {
    const wrong = createAmplitudeClient(settingsFor(sandbox, { secretKey: 'not-the-secret-key' }));
    const err = await thrown(wrong.listDeletions('2026-01-01', '2026-01-02'));
    expect(err).to.be.instanceOf(PermanentVendorError);
    expect((err as PermanentVendorError).details).to.deep.include({
      vendor: 'amplitude',
      operation: 'listDeletions',
      status: 401,
    });
  });

  it('turns a 500 and an outage into TransientVendorError', async () => {
    sandbox.faults.set('amplitude', { errorRate: 1 });
    expect(await thrown(client.listDeletions('2026-01-01', '2026-01-02'))).to.be.instanceOf(TransientVendorError);
    sandbox.faults.set('amplitude', { errorRate: 0, outage: true });
    const err = await thrown(client.requestDeletions([{ kind: 'user_id', value: 'user-9' }]));
    expect(err).to.be.instanceOf(TransientVendorError);
    expect(err.message).to.equal('amplitude createDeletion failed (503)');
  });

  it('turns a network failure into TransientVendorError', async () => {
    const gone = createAmplitudeClient(settingsFor(sandbox, { baseUrl: 'http://127.0.0.1:9' }));
    expect(await thrown(gone.listDeletions('2026-01-01', '2026-01-02'))).to.be.instanceOf(TransientVendorError);
  });
});

describe('Amplitude client and throttling', () => {
  let sandbox: Sandbox | undefined;
  afterEach(async () => sandbox?.close());

  it('turns a 429 with Retry-After into RateLimitedError waiting that long', async () => {
    sandbox = await startSandbox({ subjects: 10, amplitude: { requestsPerSecond: 1, retryAfter: 'always' } });
    const client = createAmplitudeClient(settingsFor(sandbox));
    await client.listDeletions('2026-01-01', '2026-01-02');
    const err = await thrown(client.listDeletions('2026-01-01', '2026-01-02'));
    expect(err).to.be.instanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).to.equal(1000);
  });

  it('turns a 429 without Retry-After into RateLimitedError waiting the configured delay', async () => {
    sandbox = await startSandbox({ subjects: 10, amplitude: { requestsPerSecond: 1, retryAfter: 'never' } });
    const client = createAmplitudeClient(settingsFor(sandbox));
    await client.listDeletions('2026-01-01', '2026-01-02');
    const err = await thrown(client.listDeletions('2026-01-01', '2026-01-02'));
    expect(err).to.be.instanceOf(RateLimitedError);
    expect((err as RateLimitedError).retryAfterMs).to.equal(4321);
    expect(err.message).to.equal('amplitude listDeletions was throttled; retrying in 4321 ms (429)');
  });

  it('paces its own calls to Amplitude’s 1 per second, so the simulator never has to throttle it', async function () {
    this.timeout(10_000);
    sandbox = await startSandbox({ subjects: 10, amplitude: { requestsPerSecond: 1 } });
    const client = createAmplitudeClient(settingsFor(sandbox, { requestsPerSecond: 1 }));
    const started = Date.now();
    await Promise.all([1, 2, 3].map((n) => client.requestDeletions([{ kind: 'user_id', value: `user-${n}` }])));
    expect(Date.now() - started, 'three calls take two spacings').to.be.at.least(2000);
    expect(sandbox.stats.snapshot().amplitude.total).to.deep.include({ calls: 3, throttled: 0 });
  });

  it('lets polls that wait for their turn share one list call over the union of their days, each getting only its own days', async function () {
    this.timeout(10_000);
    sandbox = await startSandbox({ subjects: 10, amplitude: { requestsPerSecond: 1 } });
    const client = createAmplitudeClient(settingsFor(sandbox, { requestsPerSecond: 1 }));
    const created = await client.requestDeletions([{ kind: 'user_id', value: 'user-1' }]);
    const day = created.day;
    const dayBefore = new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
    // Both wait behind the create's spacing, so they go out as one call.
    const [own, earlier] = await Promise.all([
      client.listDeletions(day, day),
      client.listDeletions(dayBefore, dayBefore),
    ]);
    expect(own.map((j) => j.day)).to.deep.equal([day]);
    expect(earlier).to.deep.equal([]);
    expect(sandbox.stats.snapshot().amplitude.operations.listDeletions).to.deep.include({ calls: 1 });
    // A poll made after that call went out is a call of its own.
    expect((await client.listDeletions(day, day)).map((j) => j.day)).to.deep.equal([day]);
    expect(sandbox.stats.snapshot().amplitude.operations.listDeletions).to.deep.include({ calls: 2 });
  });

  it('sends Amplitude ids digit for digit, above 2^53 too, with both spellings of the ignore-invalid-ids flag and include_mapped_user_ids', async () => {
    const canned = await cannedServer(
      200,
      {},
      '{"day":"2026-03-01","status":"staging","amplitude_ids":[{"amplitude_id":123456789012345678901,"requested_on_day":"2026-02-19","requester":"erasure"}],"invalid_ids":[]}',
    );
    try {
      const client = createAmplitudeClient({
        ...VENDOR_QUEUE_DEFAULTS.amplitude,
        ...AMPLITUDE_DEFAULTS,
        baseUrl: canned.url,
        apiKey: 'api-key-1234',
        secretKey: 'secret-key-1234',
        requestsPerSecond: Infinity,
      });
      const answer = await client.requestDeletions([{ kind: 'amplitude_id', value: '9007199254740993' }]);
      expect(JSON.parse(canned.bodies[0].replace('9007199254740993', '"9007199254740993"'))).to.deep.equal({
        user_ids: [],
        amplitude_ids: ['9007199254740993'],
        requester: 'erasure',
        ignore_invalid_id: true,
        ignore_invalid_ids: true,
        include_mapped_user_ids: true,
      });
      expect(canned.bodies[0]).to.include('"amplitude_ids":[9007199254740993]');
      expect(answer.entries, 'an id read back rounded is not used').to.deep.equal([{ requestedOnDay: '2026-02-19' }]);
    } finally {
      await canned.close();
    }
  });

  it('never puts Amplitude’s error text (which can echo an id) in its errors', async () => {
    const canned = await cannedServer(400, {}, '{"error":"user-42 is not valid"}');
    try {
      const client = createAmplitudeClient({
        ...VENDOR_QUEUE_DEFAULTS.amplitude,
        ...AMPLITUDE_DEFAULTS,
        baseUrl: canned.url,
        apiKey: 'api-key-1234',
        secretKey: 'secret-key-1234',
      });
      const err = await thrown(client.requestDeletions([{ kind: 'user_id', value: 'user-42' }]));
      expect(err).to.be.instanceOf(PermanentVendorError);
      expect(err.message).to.equal('amplitude createDeletion was refused (400)');
      expect(err.message).to.not.include('user-42');
    } finally {
      await canned.close();
    }
  });
});
