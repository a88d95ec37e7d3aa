import { expect } from 'chai';
import got, { type Got, type Response } from 'got';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { DEFAULT_SEGMENT_TIMINGS } from '../../src/sandbox/segment/segment-store.js';
import { SANDBOX_SEGMENT_SOURCES, anonymousIdOf } from '../../src/sandbox/segment/segment-seed.js';

const DAY_MS = 86_400_000;
const { startAfterMs, finishAfterMs, suppressAfterMs } = DEFAULT_SEGMENT_TIMINGS;
/** "Tue, 31 Dec 2024 23:59:59 GMT", the example in Segment's rate-limit documentation. */
const RFC_5322_DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;

interface ErrorEnvelope {
  errors: Array<{
    type: string;
    message: string;
    field?: string;
    data?: { remainingPoints: number; msBeforeNext: number; consumedPoints: number };
  }>;
}
interface Created {
  data: { regulateId: string };
}
interface DestinationStatus {
  name: string;
  id: string;
  status: string;
  errString: string;
  finishedAt?: string;
}
interface RegulationBody {
  data: {
    regulation: {
      id: string;
      workspaceId: string;
      overallStatus: string;
      createdAt: string;
      finishedAt?: string;
      streamStatus: Array<{ id: string; destinationStatus: DestinationStatus[] }>;
    };
  };
}
interface Pagination {
  current: string;
  next?: string;
  previous?: string;
  totalEntries?: number;
}
interface RegulationList {
  data: {
    regulations: Array<{
      id: string;
      subjectType: string;
      subjects: string[];
      status: string;
      createdAt: string;
      regulationType: string;
      finishedAt?: string;
    }>;
    pagination: Pagination;
  };
}
interface SuppressionList {
  data: { suppressed: Array<{ subjectType: string; subjectIds: string[] }>; pagination: Pagination };
}

/** A got client as our Segment client uses it: Bearer token, `Accept: application/json`, no retries. */
/** `token: null` sends no Authorization header at all. */
function segmentClient(sandbox: Sandbox, token: string | null = sandbox.segment.token): Got {
  return got.extend({
    prefixUrl: sandbox.vendors.segment.baseUrl,
    headers: { accept: 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    responseType: 'json',
    throwHttpErrors: false,
    retry: { limit: 0 },
  });
}

describe('Segment Public API simulator (deletion and suppression), driven by got', () => {
  let sandbox: Sandbox;
  let api: Got;
  let web: string;
  let ios: string;

  const createWorkspace = (json: Record<string, unknown>) => api.post<Created & ErrorEnvelope>('regulations', { json });
  const createInSource = (sourceId: string, json: Record<string, unknown>) =>
    api.post<Created & ErrorEnvelope>(`regulations/sources/${sourceId}`, { json });
  const getRegulation = (id: string) => api.get<RegulationBody & ErrorEnvelope>(`regulations/${id}`);
  const regulationOf = async (id: string) => {
    const res = await getRegulation(id);
    expect(res.statusCode, JSON.stringify(res.body)).to.equal(200);
    return res.body.data.regulation;
  };
  const destinations = (regulation: RegulationBody['data']['regulation']) =>
    regulation.streamStatus.flatMap((s) => s.destinationStatus);
  const created = (res: Response<Created & ErrorEnvelope>) => {
    expect(res.statusCode, JSON.stringify(res.body)).to.equal(200);
    return res.body.data.regulateId;
  };
  const expectValidationFailure = (res: Response<ErrorEnvelope>, field?: string) => {
    expect(res.statusCode, JSON.stringify(res.body)).to.equal(422);
    expect(res.body.errors[0].type).to.equal('ValidationFailure');
    if (field) expect(res.body.errors[0].field).to.equal(field);
  };
  const listSuppressed = async () => {
    const res = await api.get<SuppressionList>('suppressions', { searchParams: { 'pagination.count': 100 } });
    expect(res.statusCode).to.equal(200);
    return res.body.data.suppressed.flatMap((s) => s.subjectIds.map((id) => `${s.subjectType}:${id}`));
  };

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 20 });
    api = segmentClient(sandbox);
    [web, ios] = sandbox.segment.sourceIds as [string, string];
  });
  afterEach(async () => {
    await sandbox.close();
  });

  it('answers 401 with the errors envelope when the token is missing or wrong', async () => {
    const body = { regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-1'] };
    for (const client of [segmentClient(sandbox, null), segmentClient(sandbox, 'sgp_not-the-token')]) {
      const res = await client.post<ErrorEnvelope>('regulations', { json: body });
      expect(res.statusCode).to.equal(401);
      expect(res.body.errors[0].type).to.equal('Unauthorized');
      expect(res.body.errors[0].message).to.be.a('string').and.not.equal('');
    }
    expect(sandbox.segment.store.regulationsCreated).to.equal(0);
  });

  it('creates a workspace regulation and answers 200 {data:{regulateId}}, also for a vnd.segment.v1+json body', async () => {
    const id = created(
      await createWorkspace({
        regulationType: 'SUPPRESS_WITH_DELETE',
        subjectType: 'USER_ID',
        subjectIds: ['user-1', 'user-2'],
      }),
    );
    expect(id).to.match(/^[0-9A-Za-z]{27}$/);
    const vendorType = await api.post<Created & ErrorEnvelope>('regulations', {
      headers: { 'content-type': 'application/vnd.segment.v1+json' },
      body: JSON.stringify({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-3'] }),
    });
    expect(created(vendorType)).to.not.equal(id);
    const regulation = await regulationOf(id);
    expect(regulation.id).to.equal(id);
    expect(regulation.workspaceId).to.equal(sandbox.segment.workspaceId);
    expect(sandbox.stats.calls('segment', 'createWorkspaceRegulation')).to.equal(2);
    expect(sandbox.segment.store.regulationsCreated).to.equal(2);
  });

  it('refuses 5,001 subject ids and an empty list with 422 ValidationFailure', async () => {
    const tooMany = Array.from({ length: 5_001 }, (_, i) => `user-${i}`);
    expectValidationFailure(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: tooMany }),
      'subjectIds',
    );
    expectValidationFailure(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: [] }),
      'subjectIds',
    );
    created(
      await createWorkspace({
        regulationType: 'DELETE_ONLY',
        subjectType: 'USER_ID',
        subjectIds: tooMany.slice(0, 5_000),
      }),
    );
  });

  it('refuses a body over 4 MB with 422 ValidationFailure', async () => {
    const long = (i: number) => `user-${i}-${'x'.repeat(1_000)}`;
    const res = await createWorkspace({
      regulationType: 'DELETE_ONLY',
      subjectType: 'USER_ID',
      subjectIds: Array.from({ length: 4_300 }, (_, i) => long(i)),
    });
    expectValidationFailure(res);
    created(
      await createWorkspace({
        regulationType: 'DELETE_ONLY',
        subjectType: 'USER_ID',
        subjectIds: Array.from({ length: 3_900 }, (_, i) => long(i)),
      }),
    );
  });

  it('refuses an unknown regulationType or subjectType with 422 ValidationFailure', async () => {
    expectValidationFailure(
      await createWorkspace({ regulationType: 'DELETE_EVERYTHING', subjectType: 'USER_ID', subjectIds: ['user-1'] }),
      'regulationType',
    );
    expectValidationFailure(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'EMAIL', subjectIds: ['user-1'] }),
      'subjectType',
    );
    expect(sandbox.segment.store.regulationsCreated).to.equal(0);
  });

  it('allows DELETE_ARCHIVE_ONLY and ANONYMOUS_ID only together and only at source scope', async () => {
    expectValidationFailure(
      await createWorkspace({ regulationType: 'DELETE_ARCHIVE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-1'] }),
      'regulationType',
    );
    expectValidationFailure(
      await createInSource(web, {
        regulationType: 'DELETE_ONLY',
        subjectType: 'ANONYMOUS_ID',
        subjectIds: [anonymousIdOf(1)],
      }),
      'subjectType',
    );
    created(
      await createInSource(web, {
        regulationType: 'DELETE_ARCHIVE_ONLY',
        subjectType: 'ANONYMOUS_ID',
        subjectIds: [anonymousIdOf(1)],
      }),
    );
    created(
      await createInSource(web, {
        regulationType: 'DELETE_ARCHIVE_ONLY',
        subjectType: 'USER_ID',
        subjectIds: ['user-1'],
      }),
    );
  });

  it('requires a collection for a cloud-source regulation', async () => {
    const cloud = SANDBOX_SEGMENT_SOURCES.salesforce;
    const body = { regulationType: 'DELETE_ONLY', subjectType: 'OBJECT_ID', subjectIds: ['003abc'] };
    expectValidationFailure(
      await api.post<ErrorEnvelope>(`regulations/cloudsources/${cloud}`, { json: body }),
      'collection',
    );
    created(
      await api.post<Created & ErrorEnvelope>(`regulations/cloudsources/${cloud}`, {
        json: { ...body, collection: 'contacts' },
      }),
    );
  });

  it('moves a regulation INITIALIZED → RUNNING → FAILED as the clock advances, with per-destination statuses (FAILED: Segment’s documented answer when destinations take no deletions)', async () => {
    const id = created(
      await createWorkspace({ regulationType: 'SUPPRESS_WITH_DELETE', subjectType: 'USER_ID', subjectIds: ['user-4'] }),
    );

    const initialized = await regulationOf(id);
    expect(initialized.overallStatus).to.equal('INITIALIZED');
    expect(initialized.finishedAt).to.equal(undefined);
    expect(initialized.streamStatus.map((s) => s.id).sort()).to.deep.equal([web, ios].sort());
    expect(destinations(initialized).map((d) => d.status)).to.satisfy((all: string[]) =>
      all.every((s) => s === 'INITIALIZED'),
    );

    sandbox.clock.advance(startAfterMs);
    const running = await regulationOf(id);
    expect(running.overallStatus).to.equal('RUNNING');
    expect(destinations(running).every((d) => d.status === 'RUNNING')).to.equal(true);

    sandbox.clock.advance(finishAfterMs - startAfterMs);
    const finished = await regulationOf(id);
    // Segment and every supported destination finished; Mixpanel and Google Ads take no deletions (vendor-contracts §4.3).
    expect(finished.overallStatus).to.equal('FAILED');
    expect(Date.parse(finished.finishedAt!)).to.be.greaterThan(Date.parse(finished.createdAt));
    const byName = Object.fromEntries(destinations(finished).map((d) => [d.name, d]));
    expect(byName.Amplitude.status).to.equal('FINISHED');
    expect(byName.Braze.status).to.equal('FINISHED');
    expect(byName.Mixpanel.status, 'Mixpanel takes no deletions').to.equal('NOT_SUPPORTED');
    for (const d of destinations(finished)) {
      expect(d.id).to.be.a('string').and.not.equal('');
      expect(d.errString).to.equal('');
      expect(Date.parse(d.finishedAt!)).to.be.at.most(Date.parse(finished.finishedAt!));
    }
  });

  it('ends PARTIAL_SUCCESS naming the destination that failed', async () => {
    sandbox.segment.store.planOutcomes(1, { status: 'PARTIAL_SUCCESS', failingDestination: 'Braze' });
    const partial = created(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-6'] }),
    );
    const next = created(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-7'] }),
    );
    sandbox.clock.advance(finishAfterMs);

    const regulation = await regulationOf(partial);
    expect(regulation.overallStatus).to.equal('PARTIAL_SUCCESS');
    const failed = destinations(regulation).filter((d) => d.status === 'FAILED');
    expect(failed.map((d) => d.name)).to.deep.equal(['Braze']);
    expect(failed[0].errString).to.contain('Braze');
    expect(
      destinations(regulation)
        .filter((d) => d.name === 'Amplitude')
        .every((d) => d.status === 'FINISHED'),
    ).to.equal(true);
    const unplanned = await regulationOf(next);
    expect(
      destinations(unplanned).filter((d) => d.status === 'FAILED'),
      'only the planned regulation has a failed destination',
    ).to.deep.equal([]);
    expect(unplanned.overallStatus, 'its only failures are destinations that take no deletions').to.equal('FAILED');
  });

  it('ends FAILED when an unsupported destination fails although Segment and the supported ones succeeded', async () => {
    sandbox.segment.store.planOutcomes(1, { status: 'FAILED', failingDestination: 'Mixpanel' });
    const id = created(
      await createInSource(web, {
        regulationType: 'SUPPRESS_WITH_DELETE',
        subjectType: 'USER_ID',
        subjectIds: ['user-8'],
      }),
    );
    sandbox.clock.advance(finishAfterMs);
    const regulation = await regulationOf(id);
    expect(regulation.overallStatus).to.equal('FAILED');
    const statuses = Object.fromEntries(destinations(regulation).map((d) => [d.name, d.status]));
    expect(statuses).to.deep.equal({ Amplitude: 'FINISHED', Webhooks: 'FINISHED', Mixpanel: 'FAILED' });
  });

  it('answers 404 NotFound for an unknown regulation id', async () => {
    const res = await getRegulation('2UnknownRegulation000000000');
    expect(res.statusCode).to.equal(404);
    expect(res.body.errors[0].type).to.equal('NotFound');
  });

  it('requires pagination on lists and pages with dotted and bracket forms, next absent on the last page', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(
        created(
          await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: [`user-${i}`] }),
        ),
      );
    created(
      await createInSource(web, { regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-9'] }),
    );

    expectValidationFailure(await api.get<ErrorEnvelope>('regulations'), 'pagination');
    expectValidationFailure(
      await api.get<ErrorEnvelope>('regulations', { searchParams: { 'pagination.count': 0 } }),
      'pagination.count',
    );
    expectValidationFailure(
      await api.get<ErrorEnvelope>('regulations', { searchParams: { 'pagination.count': 1001 } }),
      'pagination.count',
    );

    const first = await api.get<RegulationList>('regulations', { searchParams: { 'pagination.count': 2 } });
    expect(first.statusCode).to.equal(200);
    expect(first.body.data.regulations).to.have.length(2);
    expect(first.body.data.pagination.totalEntries, 'workspace list holds workspace regulations only').to.equal(5);
    const second = await api.get<RegulationList>('regulations', {
      searchParams: { 'pagination.count': 2, 'pagination.cursor': first.body.data.pagination.next! },
    });
    expect(second.body.data.regulations).to.have.length(2);
    expect(second.body.data.pagination.next).to.be.a('string');
    const last = await api.get<RegulationList>('regulations', {
      searchParams: { 'pagination[count]': 2, 'pagination[cursor]': second.body.data.pagination.next! },
    });
    expect(last.statusCode).to.equal(200);
    expect(last.body.data.regulations).to.have.length(1);
    expect(last.body.data.pagination).to.not.have.property('next');
    const seen = [first, second, last].flatMap((page) => page.body.data.regulations.map((r) => r.id));
    expect(seen.sort()).to.deep.equal([...ids].sort());
    expect(last.body.data.regulations[0]).to.include({
      subjectType: 'USER_ID',
      regulationType: 'DELETE_ONLY',
      status: 'INITIALIZED',
    });

    const fromSource = await api.get<RegulationList>(`regulations/sources/${web}`, {
      searchParams: { 'pagination[count]': 10 },
    });
    expect(fromSource.body.data.regulations.map((r) => r.subjects)).to.deep.equal([['user-9']]);
    expect(fromSource.body.data.pagination).to.not.have.property('next');
  });

  it('filters lists by status and regulationTypes', async () => {
    created(await createWorkspace({ regulationType: 'SUPPRESS_ONLY', subjectType: 'USER_ID', subjectIds: ['user-1'] }));
    sandbox.clock.advance(finishAfterMs);
    created(await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-2'] }));
    const list = (query: string) => api.get<RegulationList & ErrorEnvelope>(`regulations?pagination.count=10&${query}`);

    const finished = await list('status=FINISHED');
    expect(finished.body.data.regulations.map((r) => r.regulationType)).to.deep.equal(['SUPPRESS_ONLY']);
    const deletes = await list('regulationTypes[0]=DELETE_ONLY&regulationTypes[1]=DELETE_INTERNAL');
    expect(deletes.body.data.regulations.map((r) => r.subjects[0])).to.deep.equal(['user-2']);
    expectValidationFailure(await list('status=DONE'), 'status');
  });

  it('lists suppressed subjects once the suppression takes effect, and UNSUPPRESS removes them', async () => {
    expectValidationFailure(await api.get<ErrorEnvelope>('suppressions'), 'pagination');
    created(
      await createWorkspace({
        regulationType: 'SUPPRESS_ONLY',
        subjectType: 'USER_ID',
        subjectIds: ['user-1', 'user-2'],
      }),
    );
    expect(await listSuppressed(), 'not yet in force').to.deep.equal([]);

    sandbox.clock.advance(suppressAfterMs);
    expect(await listSuppressed()).to.deep.equal(['USER_ID:user-1', 'USER_ID:user-2']);

    created(await createWorkspace({ regulationType: 'UNSUPPRESS', subjectType: 'USER_ID', subjectIds: ['user-1'] }));
    expect(await listSuppressed()).to.deep.equal(['USER_ID:user-1', 'USER_ID:user-2']);
    sandbox.clock.advance(suppressAfterMs);
    expect(await listSuppressed()).to.deep.equal(['USER_ID:user-2']);

    const page = await api.get<SuppressionList>('suppressions', { searchParams: { 'pagination[count]': 1 } });
    expect(page.body.data.pagination).to.not.have.property('next');
  });

  it('fails a source-level UNSUPPRESS of a user suppressed at workspace level, and keeps the suppression', async () => {
    created(
      await createWorkspace({ regulationType: 'SUPPRESS_WITH_DELETE', subjectType: 'USER_ID', subjectIds: ['user-5'] }),
    );
    sandbox.clock.advance(suppressAfterMs);
    const unsuppress = created(
      await createInSource(web, { regulationType: 'UNSUPPRESS', subjectType: 'USER_ID', subjectIds: ['user-5'] }),
    );
    sandbox.clock.advance(finishAfterMs);
    expect((await regulationOf(unsuppress)).overallStatus).to.equal('FAILED');
    expect(await listSuppressed()).to.deep.equal(['USER_ID:user-5']);
  });

  it('sends X-RateLimit-Consumed, -Remaining and an RFC 5322 -Reset on successes', async () => {
    const res = await createWorkspace({
      regulationType: 'DELETE_ONLY',
      subjectType: 'USER_ID',
      subjectIds: ['user-1'],
    });
    expect(res.statusCode).to.equal(200);
    expect(res.headers['x-ratelimit-consumed']).to.equal('1');
    expect(res.headers['x-ratelimit-remaining']).to.equal('599');
    const reset = String(res.headers['x-ratelimit-reset']);
    expect(reset).to.match(RFC_5322_DATE);
    expect(Date.parse(reset)).to.be.within(Date.now() - 1_000, Date.now() + 61_000);

    const read = await getRegulation(res.body.data.regulateId);
    expect(read.headers['x-ratelimit-remaining']).to.match(/^\d+$/);
    expect(String(read.headers['x-ratelimit-reset'])).to.match(RFC_5322_DATE);
  });

  it('answers the 601st Segment-only create in a minute with 429 and msBeforeNext while Segment & Destination creates still pass', async () => {
    const segmentOnly = (i: number) =>
      createWorkspace({ regulationType: 'SUPPRESS_ONLY', subjectType: 'USER_ID', subjectIds: [`user-${i}`] });
    for (let batch = 0; batch < 600; batch += 50) {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => segmentOnly(batch + i)));
      expect(answers.map((a) => a.statusCode)).to.satisfy((codes: number[]) => codes.every((c) => c === 200));
    }
    const refused = await segmentOnly(600);
    expect(refused.statusCode).to.equal(429);
    expect(refused.body.errors[0].type).to.equal('RequestError');
    expect(refused.body.errors[0].message).to.equal('Too many requests');
    const data = refused.body.errors[0].data!;
    expect(data.remainingPoints).to.equal(0);
    expect(data.msBeforeNext).to.be.within(1, 60_000);
    expect(data.consumedPoints).to.equal(601);

    const other = await createWorkspace({
      regulationType: 'DELETE_ONLY',
      subjectType: 'USER_ID',
      subjectIds: ['user-1'],
    });
    expect(other.statusCode).to.equal(200);
    expect(other.headers['x-ratelimit-remaining']).to.equal('599');
    expect(sandbox.stats.snapshot().segment.operations.createWorkspaceRegulation.throttled).to.equal(1);
  });

  it('answers a 429 storm with the same envelope', async () => {
    sandbox.faults.set('segment', { throttleForMs: 60_000 });
    const res = await getRegulation('anything');
    expect(res.statusCode).to.equal(429);
    expect(res.body.errors[0].type).to.equal('RequestError');
    expect(res.body.errors[0].data!.msBeforeNext).to.be.within(1, 60_000);
  });

  it('forgets regulations after 90 days: 404 on get and gone from the list', async () => {
    const old = created(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-1'] }),
    );
    sandbox.clock.advance(89 * DAY_MS);
    expect(
      (await regulationOf(old)).overallStatus,
      'final (FAILED only for the destinations that take no deletions)',
    ).to.equal('FAILED');

    sandbox.clock.advance(2 * DAY_MS);
    const gone = await getRegulation(old);
    expect(gone.statusCode).to.equal(404);
    expect(gone.body.errors[0].type).to.equal('NotFound');
    const recent = created(
      await createWorkspace({ regulationType: 'DELETE_ONLY', subjectType: 'USER_ID', subjectIds: ['user-2'] }),
    );
    const list = await api.get<RegulationList>('regulations', { searchParams: { 'pagination.count': 10 } });
    expect(list.body.data.regulations.map((r) => r.id)).to.deep.equal([recent]);
  });
});
