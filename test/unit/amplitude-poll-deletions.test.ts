import { expect } from 'chai';
import { earliestDoneAt, pollBatchScope, pollDeletions } from '../../jobs/amplitude-poll-deletions.js';
import type { AmplitudeClient, DeletionJob } from '../../src/vendors/amplitude-client.js';
import type { BatchInput, BatchResult } from '../../src/connectors/processor-contract.js';

const DAY_MS = 86_400_000;
const DAY = '2026-12-10';
const at = (day: string, plusDays = 0) => Date.parse(`${day}T00:00:00Z`) + plusDays * DAY_MS;

/** An Amplitude client that answers polls from `jobs` at the time `now` says, and counts them. */
function fakeAmplitude(state: { now: number; jobs: DeletionJob[] }) {
  const listed: Array<[string, string]> = [];
  const client = {
    settings: { project: 'p', batchWindowMs: 1000, maxIdsPerRequest: 100, pollIntervalMs: 1000, pollJitter: 0 },
    now: () => state.now,
    listDeletions: async (start: string, end: string) => {
      listed.push([start, end]);
      return state.jobs.filter((j) => j.day >= start && j.day <= end);
    },
  } as unknown as AmplitudeClient;
  return { client, listed };
}

function input(previous: Record<string, unknown> = {}): BatchInput {
  return {
    batchId: 'b1',
    scope: pollBatchScope('project/p', DAY),
    members: [{ taskId: 't1', requestId: 'r1', subject: { amplitudeId: '1001' } }],
    attempt: 1,
    previous,
    checkpoint: async () => undefined,
  };
}

const job = (status: string, activeScrubDoneDate?: string): DeletionJob => ({
  day: DAY,
  status,
  amplitudeIds: ['1001'],
  entryCount: 1,
  ...(activeScrubDoneDate ? { activeScrubDoneDate } : {}),
});

describe('Polling an Amplitude deletion job (amplitude-poll-deletions)', () => {
  it('counts the earliest done from the run day, or from active_scrub_done_date once Amplitude gave it, plus five days of clearing backups', () => {
    expect(earliestDoneAt(DAY)).to.equal(at(DAY, 5));
    expect(earliestDoneAt(DAY, '2026-12-12')).to.equal(at('2026-12-12', 5));
    expect(earliestDoneAt(DAY, 'not a day'), 'a malformed date falls back to the run day').to.equal(at(DAY, 5));
  });

  it('makes no call before the job can be done, and stays open to late members of its day', async () => {
    const state = { now: at(DAY, -9), jobs: [job('staging')] };
    const { client, listed } = fakeAmplitude(state);
    for (const now of [at(DAY, -9), at(DAY), at(DAY, 5) - 1]) {
      state.now = now;
      const result = await pollDeletions(input(), { client });
      expect(result).to.deep.include({ outcome: 'waiting_vendor', pollAfterMs: 1000, openToLateMembers: true });
      expect((result as Extract<BatchResult, { outcome: 'waiting_vendor' }>).evidence).to.deep.equal({
        day: DAY,
        notBefore: '2026-12-15',
      });
    }
    expect(listed).to.deep.equal([]);
  });

  it('polls once the job can be done, and then waits for five days after the scrub date Amplitude reports', async () => {
    const state = { now: at(DAY, 5), jobs: [job('submitted', '2026-12-11')] };
    const { client, listed } = fakeAmplitude(state);
    const first = await pollDeletions(input(), { client });
    expect(listed).to.deep.equal([[DAY, DAY]]);
    expect(first).to.deep.include({ outcome: 'waiting_vendor', openToLateMembers: true });
    const evidence = (first as Extract<BatchResult, { outcome: 'waiting_vendor' }>).evidence;
    expect(evidence).to.include({ day: DAY, status: 'submitted', activeScrubDoneDate: '2026-12-11', polls: 1 });

    state.now = at('2026-12-11', 5) - 1;
    const second = await pollDeletions(input(evidence), { client });
    expect(listed, 'no call before the scrub date plus five days').to.have.length(1);
    expect((second as Extract<BatchResult, { outcome: 'waiting_vendor' }>).evidence).to.deep.equal({
      day: DAY,
      notBefore: '2026-12-16',
    });

    state.now = at('2026-12-11', 5);
    state.jobs = [job('done', '2026-12-11')];
    const third = await pollDeletions(input({ ...evidence }), { client });
    expect(listed).to.have.length(2);
    expect(third.outcome).to.equal('done');
    const members = (third as Extract<BatchResult, { outcome: 'done' }>).members;
    expect(members.get('t1')).to.deep.equal({
      state: 'done',
      result: {
        day: DAY,
        status: 'done',
        activeScrubDoneDate: '2026-12-11',
        listedInDoneJob: true,
        verification: 'vendor_confirmed',
      },
    });
    expect((third as Extract<BatchResult, { outcome: 'done' }>).evidence).to.include({ polls: 2 });
  });

  it('fails its members with a reason when Amplitude lists no job for the day once it can be done', async () => {
    const { client } = fakeAmplitude({ now: at(DAY, 6), jobs: [] });
    const result = await pollDeletions(input(), { client });
    expect(result.outcome).to.equal('done');
    expect((result as Extract<BatchResult, { outcome: 'done' }>).members.get('t1')).to.deep.equal({
      state: 'failed',
      result: { day: DAY, reason: `Amplitude lists no deletion job for ${DAY}` },
    });
  });
});
