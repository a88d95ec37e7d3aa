import { expect } from 'chai';
import got, { type Got } from 'got';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import {
  SANDBOX_AMPLITUDE_EU_PROJECT,
  SANDBOX_AMPLITUDE_PROJECT,
  SANDBOX_AMPLITUDE_WEB_PROJECT,
  webAmplitudeId,
} from '../../src/sandbox/amplitude/amplitude-seed.js';

const DAY_MS = 86_400_000;
const DELETIONS = 'api/2/deletions/users';
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const startOfDay = (day: string) => Date.parse(`${day}T00:00:00Z`);

interface Entry {
  amplitude_id: number;
  requested_on_day: string;
  requester: string | null;
  user_id?: string;
}
interface Job {
  day: string;
  status: string;
  amplitude_ids: Entry[];
  app?: number;
  active_scrub_done_date?: string;
  invalid_ids?: Array<number | string>;
}

/** A plain got client as our Amplitude client will use it: Basic auth, no retries, statuses inspected. */
function amplitudeClient(baseUrl: string, apiKey: string, secretKey: string): Got {
  return got.extend({
    prefixUrl: baseUrl,
    username: apiKey,
    password: secretKey,
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'json',
  });
}

function mainClient(sandbox: Sandbox): Got {
  return amplitudeClient(sandbox.vendors.amplitude.baseUrl, sandbox.amplitude.apiKey, sandbox.amplitude.secretKey);
}

/** Moves the sandbox clock to an absolute instant (never backwards). */
function advanceTo(sandbox: Sandbox, ms: number): void {
  sandbox.clock.advance(Math.max(0, ms - sandbox.clock.now()));
}

describe('Amplitude User Privacy API simulator, driven by got with Basic auth', () => {
  let sandbox: Sandbox;
  let client: Got;
  let startDay: string;
  const request = (json: Record<string, unknown>) => client.post<Job>(DELETIONS, { json, responseType: 'json' });
  const list = (c: Got = client, start = startDay, end = dayOf(startOfDay(startDay) + 90 * DAY_MS)) =>
    c.get<Job[]>(DELETIONS, { searchParams: { start_day: start, end_day: end }, responseType: 'json' });

  // The real limit (1 request/s per key) would make every multi-call test wait; its own tests below use it.
  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20, amplitude: { requestsPerSecond: Infinity } });
    client = mainClient(sandbox);
    startDay = dayOf(sandbox.clock.now() - DAY_MS);
  });
  afterEach(async () => {
    await sandbox.close();
  });

  it('answers 401 to a wrong secret key and to a request without credentials', async () => {
    const wrong = amplitudeClient(sandbox.vendors.amplitude.baseUrl, sandbox.amplitude.apiKey, 'not-the-secret');
    expect((await list(wrong)).statusCode).to.equal(401);
    const anonymous = got.extend({
      prefixUrl: sandbox.vendors.amplitude.baseUrl,
      retry: { limit: 0 },
      throwHttpErrors: false,
    });
    expect(
      (await anonymous.get(DELETIONS, { searchParams: { start_day: startDay, end_day: startDay } })).statusCode,
    ).to.equal(401);
    expect((await list()).statusCode, 'the right pair is accepted').to.equal(200);
  });

  it('schedules mixed amplitude ids and user ids into one staging job ten days ahead, lists it and counts the POST', async () => {
    const today = dayOf(sandbox.clock.now());
    const res = await request({
      amplitude_ids: [seedPerson(3).amplitudeId],
      user_ids: ['user-4'],
      requester: 'dpo@example.com',
    });
    expect(res.statusCode).to.equal(200);
    expect(res.body).to.deep.equal({
      day: dayOf(sandbox.clock.now() + 10 * DAY_MS),
      status: 'staging',
      amplitude_ids: [
        { amplitude_id: seedPerson(3).amplitudeId, requested_on_day: today, requester: 'dpo@example.com' },
        { amplitude_id: seedPerson(4).amplitudeId, requested_on_day: today, requester: 'dpo@example.com' },
      ],
    });
    const jobs = await list();
    expect(jobs.statusCode).to.equal(200);
    expect(jobs.body).to.be.an('array').with.length(1);
    expect(jobs.body[0].status).to.equal('staging');
    expect(jobs.body[0].amplitude_ids.map((e) => e.amplitude_id)).to.have.members([
      seedPerson(3).amplitudeId,
      seedPerson(4).amplitudeId,
    ]);
    expect(sandbox.stats.calls('amplitude', 'createDeletion')).to.equal(1);
    expect(sandbox.stats.calls('amplitude', 'listDeletions')).to.equal(1);
  });

  it('rejects 101 ids in one request with 400, counting amplitude_ids and user_ids together, and accepts 100', async () => {
    const amplitude_ids = Array.from({ length: 50 }, (_, i) => 700_000_000 + i);
    const tooMany = await request({
      amplitude_ids,
      user_ids: Array.from({ length: 51 }, (_, i) => `ghost-${i}`),
      ignore_invalid_id: true,
    });
    expect(tooMany.statusCode).to.equal(400);
    const hundred = await request({
      amplitude_ids,
      user_ids: Array.from({ length: 50 }, (_, i) => `ghost-${i}`),
      ignore_invalid_id: true,
    });
    expect(hundred.statusCode).to.equal(200);
  });

  it('rejects a request naming an unknown id with 400 and schedules none of its known ids', async () => {
    const res = await request({
      amplitude_ids: [seedPerson(1).amplitudeId, 999],
      user_ids: ['user-2'],
      requester: 'dpo@example.com',
    });
    expect(res.statusCode).to.equal(400);
    const jobs = await list();
    expect(jobs.statusCode).to.equal(200);
    expect(jobs.body).to.deep.equal([]);
  });

  it('with ignore_invalid_id "true" schedules the known ids and answers 200 with the unknown ones as invalid_ids', async () => {
    const res = await request({
      amplitude_ids: [seedPerson(1).amplitudeId, 999],
      user_ids: ['user-2', 'nobody'],
      ignore_invalid_id: 'true',
    });
    expect(res.statusCode).to.equal(200);
    expect(res.body.invalid_ids).to.deep.equal([999, 'nobody']);
    expect(res.body.amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([
      seedPerson(1).amplitudeId,
      seedPerson(2).amplitudeId,
    ]);
    const jobs = await list();
    expect(jobs.body[0].amplitude_ids).to.have.length(2);
  });

  it('accepts ignore_invalid_ids as a JSON boolean and "True" as a string, and refuses "yes"', async () => {
    expect((await request({ user_ids: ['nobody', 'user-1'], ignore_invalid_ids: true })).statusCode).to.equal(200);
    expect((await request({ user_ids: ['nobody', 'user-2'], ignore_invalid_id: 'True' })).statusCode).to.equal(200);
    expect((await request({ user_ids: ['nobody', 'user-3'], ignore_invalid_id: 'false' })).statusCode).to.equal(400);
    expect((await request({ user_ids: ['user-4'], ignore_invalid_id: 'yes' })).statusCode).to.equal(400);
  });

  it('adds the mapped user_id to each entry that has one when include_mapped_user_ids is set', async () => {
    const anonymous = 400_000_005; // person 5's anonymous device-only neighbour: no user id
    const res = await request({ amplitude_ids: [seedPerson(5).amplitudeId, anonymous], include_mapped_user_ids: true });
    expect(res.statusCode).to.equal(200);
    expect(res.body.amplitude_ids[0].user_id).to.equal('user-5');
    expect(res.body.amplitude_ids[1]).to.not.have.property('user_id');
    const plain = await request({ amplitude_ids: [seedPerson(6).amplitudeId] });
    expect(plain.body.amplitude_ids[0]).to.not.have.property('user_id');
  });

  it('moves a job from staging to submitted at day − 3, then to done five days after active_scrub_done_date', async () => {
    const { body } = await request({ user_ids: ['user-7'] });
    const run = startOfDay(body.day);
    advanceTo(sandbox, run - 3 * DAY_MS - 60_000);
    expect((await list()).body[0].status).to.equal('staging');
    advanceTo(sandbox, run - 3 * DAY_MS + 60_000);
    const submitted = (await list()).body[0];
    expect(submitted.status).to.equal('submitted');
    expect(submitted).to.not.have.property('active_scrub_done_date');
    advanceTo(sandbox, run + DAY_MS + 60_000);
    const scrubbed = (await list()).body[0];
    expect(scrubbed.status).to.equal('submitted');
    expect(scrubbed.active_scrub_done_date).to.equal(dayOf(run + DAY_MS));
    advanceTo(sandbox, run + 6 * DAY_MS - 60_000);
    expect((await list()).body[0].status, 'backups are still being cleared').to.equal('submitted');
    advanceTo(sandbox, run + 6 * DAY_MS + 60_000);
    expect((await list()).body[0].status).to.equal('done');
  });

  it('joins requests to the staging job until three days before its day, then starts a new batch with a later day', async () => {
    const first = await request({ user_ids: ['user-1'] });
    sandbox.clock.advance(2 * DAY_MS);
    const joined = await request({ user_ids: ['user-2'] });
    expect(joined.body.day).to.equal(first.body.day);
    advanceTo(sandbox, startOfDay(first.body.day) - 3 * DAY_MS + 3_600_000);
    const late = await request({ user_ids: ['user-3'] });
    expect(late.statusCode).to.equal(200);
    expect(late.body.day > first.body.day, `${late.body.day} is after ${first.body.day}`).to.equal(true);
    const jobs = (await list()).body;
    expect(jobs.map((j) => [j.day, j.status, j.amplitude_ids.length])).to.deep.equal([
      [first.body.day, 'submitted', 2],
      [late.body.day, 'staging', 1],
    ]);
  });

  it('removes an id from a staging job with DELETE and returns the removed entry', async () => {
    const { body } = await request({ user_ids: ['user-3', 'user-4'], requester: 'dpo@example.com' });
    const res = await client.delete<Entry>(`${DELETIONS}/${seedPerson(3).amplitudeId}/${body.day}`, {
      responseType: 'json',
    });
    expect(res.statusCode).to.equal(200);
    expect(res.body).to.deep.equal({
      amplitude_id: seedPerson(3).amplitudeId,
      requested_on_day: dayOf(sandbox.clock.now()),
      requester: 'dpo@example.com',
    });
    const jobs = (await list()).body;
    expect(jobs[0].amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([seedPerson(4).amplitudeId]);
    expect(sandbox.stats.calls('amplitude', 'cancelDeletion')).to.equal(1);
  });

  it('refuses DELETE with 400 once the job is submitted, and keeps the id in the job', async () => {
    const { body } = await request({ user_ids: ['user-3'] });
    advanceTo(sandbox, startOfDay(body.day) - 3 * DAY_MS + 60_000);
    const res = await client.delete(`${DELETIONS}/${seedPerson(3).amplitudeId}/${body.day}`);
    expect(res.statusCode).to.equal(400);
    expect((await list()).body[0].amplitude_ids).to.have.length(1);
  });

  it('answers GET with 400 when a day is missing or malformed or the range exceeds six months, and with an array otherwise', async () => {
    expect((await client.get(DELETIONS)).statusCode).to.equal(400);
    expect((await client.get(DELETIONS, { searchParams: { start_day: '2026-01-01' } })).statusCode).to.equal(400);
    expect(
      (await client.get(DELETIONS, { searchParams: { start_day: '20260101', end_day: '20260131' } })).statusCode,
    ).to.equal(400);
    expect((await list(client, '2026-01-01', '2026-07-02')).statusCode).to.equal(400);
    const sixMonths = await list(client, '2026-01-01', '2026-07-01');
    expect(sixMonths.statusCode).to.equal(200);
    expect(sixMonths.body).to.deep.equal([]);
  });

  it('lists only the authenticated project’s jobs', async () => {
    await request({ user_ids: ['user-2'] });
    const web = amplitudeClient(
      sandbox.vendors.amplitude.baseUrl,
      SANDBOX_AMPLITUDE_WEB_PROJECT.apiKey,
      SANDBOX_AMPLITUDE_WEB_PROJECT.secretKey,
    );
    expect((await list(web)).body).to.deep.equal([]);
    expect((await list()).body).to.have.length(1);
  });

  it('with delete_from_org creates one job, marked with app, in each project that has the users', async () => {
    const res = await client.post<Job[]>(DELETIONS, {
      json: { user_ids: ['user-2', 'user-3'], delete_from_org: 'true' },
      responseType: 'json',
    });
    expect(res.statusCode).to.equal(200);
    const byApp = new Map(res.body.map((r) => [r.app, r]));
    expect([...byApp.keys()]).to.have.members([SANDBOX_AMPLITUDE_PROJECT.appId, SANDBOX_AMPLITUDE_WEB_PROJECT.appId]);
    const web = byApp.get(SANDBOX_AMPLITUDE_WEB_PROJECT.appId)!;
    expect(web.amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([webAmplitudeId(2)]);
    expect(web.invalid_ids, 'user-3 has no data in the web project').to.deep.equal(['user-3']);
    const webClient = amplitudeClient(
      sandbox.vendors.amplitude.baseUrl,
      SANDBOX_AMPLITUDE_WEB_PROJECT.apiKey,
      SANDBOX_AMPLITUDE_WEB_PROJECT.secretKey,
    );
    const webJobs = (await list(webClient)).body;
    expect(webJobs).to.have.length(1);
    expect(webJobs[0].app).to.equal(SANDBOX_AMPLITUDE_WEB_PROJECT.appId);
  });

  it('does not block tracking: after the scrub the old id is unknown and a new event creates a new amplitude id', async () => {
    const { body } = await request({ user_ids: ['user-6'] });
    advanceTo(sandbox, startOfDay(body.day) + DAY_MS + 60_000);
    // Events arrive through the SDK, which the sandbox does not serve: set that state up in the store.
    const reborn = sandbox.amplitude.store.ingest('user-6');
    expect(reborn).to.not.equal(seedPerson(6).amplitudeId);
    expect(
      (await request({ amplitude_ids: [seedPerson(6).amplitudeId] })).statusCode,
      'the deleted id is gone',
    ).to.equal(400);
    const again = await request({ user_ids: ['user-6'] });
    expect(again.statusCode).to.equal(200);
    expect(again.body.amplitude_ids.map((e) => e.amplitude_id)).to.deep.equal([reborn]);
  });

  it('accepts a form-encoded body with repeated keys', async () => {
    const body = `amplitude_ids=${seedPerson(8).amplitudeId}&amplitude_ids=${seedPerson(9).amplitudeId}&requester=dpo%40example.com&ignore_invalid_id=false`;
    const res = await client.post<Job>(DELETIONS, {
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      responseType: 'json',
    });
    expect(res.statusCode).to.equal(200);
    expect(res.body.amplitude_ids.map((e) => [e.amplitude_id, e.requester])).to.deep.equal([
      [seedPerson(8).amplitudeId, 'dpo@example.com'],
      [seedPerson(9).amplitudeId, 'dpo@example.com'],
    ]);
  });

  it('serves the EU project on the EU host only', async () => {
    const { baseUrl } = sandbox.vendors.amplitude;
    const euBaseUrl = String(sandbox.vendors.amplitude.euBaseUrl);
    const eu = SANDBOX_AMPLITUDE_EU_PROJECT;
    expect((await list(amplitudeClient(euBaseUrl, eu.apiKey, eu.secretKey))).statusCode).to.equal(200);
    expect((await list(amplitudeClient(baseUrl, eu.apiKey, eu.secretKey))).statusCode).to.equal(401);
    expect(
      (await list(amplitudeClient(euBaseUrl, sandbox.amplitude.apiKey, sandbox.amplitude.secretKey))).statusCode,
    ).to.equal(401);
  });
});

describe('Amplitude User Privacy API simulator limits, driven by got', () => {
  let sandbox: Sandbox;
  const start = async (amplitude: SandboxOptions['amplitude'] = {}) => {
    sandbox = await startSandbox({ subjects: 20, amplitude });
    return mainClient(sandbox);
  };
  const range = () => ({ start_day: dayOf(sandbox.clock.now()), end_day: dayOf(sandbox.clock.now() + 30 * DAY_MS) });
  afterEach(async () => {
    await sandbox.close();
  });

  it('answers the second request within one second with 429, Retry-After and an error body', async () => {
    const client = await start();
    expect((await client.get(DELETIONS, { searchParams: range() })).statusCode).to.equal(200);
    const second = await client.post(DELETIONS, { json: { user_ids: ['user-1'] } });
    expect(second.statusCode).to.equal(429);
    expect(second.headers['retry-after']).to.equal('1');
    expect(second.body).to.deep.equal({ error: 'Too many requests' });
    expect(sandbox.stats.snapshot().amplitude.operations.createDeletion.throttled).to.equal(1);
  });

  it('answers 429 without Retry-After when retryAfter is "never"', async () => {
    const client = await start({ retryAfter: 'never' });
    await client.get(DELETIONS, { searchParams: range() });
    const second = await client.get(DELETIONS, { searchParams: range() });
    expect(second.statusCode).to.equal(429);
    expect(second.headers).to.not.have.property('retry-after');
  });

  it('answers 429 to the ninth request in flight for one project', async () => {
    const client = await start({ requestsPerSecond: Infinity });
    sandbox.faults.set('amplitude', { latencyMs: 300 });
    const results = await Promise.all(
      Array.from({ length: 9 }, () => client.get(DELETIONS, { searchParams: range() })),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    expect(statuses).to.deep.equal([200, 200, 200, 200, 200, 200, 200, 200, 429]);
    expect(results.find((r) => r.statusCode === 429)!.headers, 'no known wait by default').to.not.have.property(
      'retry-after',
    );
    sandbox.faults.set('amplitude', { latencyMs: 0 });
    expect(
      (await client.get(DELETIONS, { searchParams: range() })).statusCode,
      'the slots free up once answered',
    ).to.equal(200);
  });

  it('sends Retry-After on the in-flight 429 too when retryAfter is "always"', async () => {
    const client = await start({ requestsPerSecond: Infinity, retryAfter: 'always' });
    sandbox.faults.set('amplitude', { latencyMs: 300 });
    const results = await Promise.all(
      Array.from({ length: 9 }, () => client.get(DELETIONS, { searchParams: range() })),
    );
    const throttled = results.filter((r) => r.statusCode === 429);
    expect(throttled).to.have.length(1);
    expect(throttled[0].headers['retry-after']).to.equal('1');
  });
});
