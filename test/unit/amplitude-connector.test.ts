import { expect } from 'chai';
import { loadConfig, ConfigError } from '../../src/config/load-config.js';
import { amplitudeConnector } from '../../src/connectors/amplitude-connector.js';
import { UnplannableVendorError, type PlanInput } from '../../src/connectors/connector.js';
import type { AmplitudeSettings } from '../../src/vendors/amplitude-settings.js';
import { amplitudeQueue } from '../../queues/amplitude-queue.js';
import { dayOfPollScope, pollBatchScope, withJitter } from '../../jobs/amplitude-poll-deletions.js';
import { identifierOf } from '../../jobs/amplitude-submit-deletions.js';
import { amplitudeDeleteUser } from '../../jobs/amplitude-delete-user.js';
import {
  memberFallbackPollMs,
  type BatchOutcome,
  type TaskInput,
  type VendorClients,
} from '../../src/connectors/processor-contract.js';

const PERSON = { userId: 'user-4242', amplitudeId: '100004242', email: 'ann.lee@example.com' } as const;
const KEYS = { apiKey: '0123456789abcdef0123456789abcdef', secretKey: 'fedcba9876543210fedcba9876543210' };

function settings(amplitude: Record<string, unknown> = {}): AmplitudeSettings {
  return loadConfig({ env: {}, file: { vendors: { amplitude: { ...KEYS, ...amplitude } } } }).vendors.amplitude!;
}

function plan(overrides: Partial<PlanInput> = {}, amplitude: Record<string, unknown> = {}) {
  return amplitudeConnector.plan(
    { requestId: 'req-1', subject: { userId: PERSON.userId }, vendorsExplicit: true, ...overrides },
    settings(amplitude),
  );
}

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  expect.fail('expected a throw');
}

describe('Amplitude connector and settings', () => {
  it('fills the documented defaults: 100 ids a call, a 60 s window, polls every 12 h, 1 call/s and 8 in flight', () => {
    expect(settings()).to.deep.include({
      baseUrl: 'https://amplitude.com',
      project: 'default',
      batchWindowMs: 60_000,
      maxIdsPerRequest: 100,
      pollIntervalMs: 12 * 3_600_000,
      requestsPerSecond: 1,
      maxInFlight: 8,
      manualTasks: [],
    });
  });

  it('refuses settings Amplitude would refuse or that are incomplete', () => {
    for (const bad of [
      { maxIdsPerRequest: 101 },
      { apiKey: undefined },
      { secretKey: undefined },
      { baseUrl: 'ftp://amplitude.com' },
      { manualTasks: [{ action: 'x' }] },
    ]) {
      expect(() => settings(bad), JSON.stringify(bad)).to.throw(ConfigError);
    }
  });

  it('plans one amplitude-delete-user task for a person with a user id', () => {
    const tasks = plan();
    expect(tasks).to.have.length(1);
    expect(tasks[0]).to.deep.include({
      vendor: 'amplitude',
      resource: 'project/default',
      action: 'amplitude-delete-user',
      jobName: 'amplitude-delete-user',
      queue: amplitudeQueue.name,
    });
    expect(amplitudeConnector.queue.jobNames).to.include(tasks[0].jobName);
    expect(tasks[0].initialState).to.equal(undefined);
  });

  it('plans it for a person known only by an Amplitude ID, with a task id that names nobody', () => {
    const [task] = plan({ subject: { amplitudeId: PERSON.amplitudeId } });
    expect(task.initialState).to.equal(undefined);
    expect(task.id).to.match(/^req-1__amplitude__amplitude-delete-user__[0-9a-f]{12}$/);
    for (const value of Object.values(PERSON)) expect(task.id).to.not.include(value);
    expect(plan({ subject: { ...PERSON } })[0].id, 'the id does not depend on who the person is').to.equal(task.id);
  });

  it('refuses Amplitude named explicitly for a person with neither a user id nor an Amplitude ID', () => {
    const err = thrown(() => plan({ subject: { email: PERSON.email } }));
    expect(err).to.be.instanceOf(UnplannableVendorError);
    expect(err.message)
      .to.match(/^amplitude: /)
      .and.include('amplitudeId');
    expect(err.message).to.not.include(PERSON.email);
  });

  it('skips it, with a reason, when Amplitude was included by default', () => {
    const [task] = plan({ subject: { email: PERSON.email }, vendorsExplicit: false });
    expect(task.initialState).to.equal('skipped');
    expect(task.waitingReason).to.include('userId');
  });

  it('plans the configured manual tasks as waiting_manual with their instructions, even when the API task is skipped', () => {
    const manualTasks = [
      {
        action: 'self-service-event-deletion',
        instructions: 'Delete the events in Amplitude’s Self Service Data Deletion page',
      },
    ];
    const tasks = plan({ subject: { email: PERSON.email }, vendorsExplicit: false }, { manualTasks });
    expect(tasks).to.have.length(2);
    expect(tasks[1]).to.deep.include({
      vendor: 'amplitude',
      action: 'self-service-event-deletion',
      initialState: 'waiting_manual',
      waitingReason: manualTasks[0].instructions,
    });
  });

  it('sends a person by the Amplitude ID when the request gives one, else by the user id', () => {
    expect(identifierOf({ userId: PERSON.userId, amplitudeId: PERSON.amplitudeId })).to.deep.equal({
      kind: 'amplitude_id',
      value: PERSON.amplitudeId,
    });
    expect(identifierOf({ userId: PERSON.userId })).to.deep.equal({ kind: 'user_id', value: PERSON.userId });
    expect(identifierOf({ email: PERSON.email })).to.equal(undefined);
  });

  it('has a waiting member sleep until its batch wakes it, looking itself only at the fallback', async () => {
    const { batchWindowMs, pollIntervalMs, maxIdsPerRequest } = settings();
    const client = {
      settings: { project: 'default', batchWindowMs, pollIntervalMs, maxIdsPerRequest, pollJitter: 0 },
    } as unknown as NonNullable<VendorClients['amplitude']>;
    const run = async (previous: Record<string, unknown>, started: boolean) => {
      const waiting: BatchOutcome = {
        state: 'waiting',
        batchId: 'b1',
        closesAt: new Date(Date.now() + (started ? -1_000 : 60_000)),
      };
      const input: TaskInput = {
        requestId: 'r1',
        taskId: 't1',
        resource: 'project/default',
        subject: { userId: PERSON.userId },
        attempt: 1,
        previous,
        checkpoint: async () => undefined,
        awaitBatch: async () => waiting,
      };
      return amplitudeDeleteUser(input, { client });
    };
    for (const started of [false, true]) {
      expect(await run({}, started), 'in the deletion call').to.deep.include({
        outcome: 'waiting_vendor',
        pollAfterMs: memberFallbackPollMs(batchWindowMs),
      });
      expect(await run({ day: '2026-12-01' }, started), 'in the poll of its day').to.deep.include({
        outcome: 'waiting_vendor',
        pollAfterMs: memberFallbackPollMs(pollIntervalMs),
      });
    }
  });

  it('polls one job day per batch scope and spreads polls by the jitter', () => {
    expect(dayOfPollScope(pollBatchScope('project/default', '2026-12-01'))).to.equal('2026-12-01');
    expect(() => dayOfPollScope('project/default')).to.throw();
    expect(withJitter(1000, 0.1, () => 0)).to.equal(1000);
    expect(withJitter(1000, 0.1, () => 0.999)).to.equal(1100);
  });
});
