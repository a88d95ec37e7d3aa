import { expect } from 'chai';
import {
  nextPollMs,
  parseRegulationBatchScope,
  pollRegulation,
  regulationBatchScope,
  regulationOutcome,
} from '../../jobs/segment-poll-regulation.js';
import { regulateUser } from '../../jobs/segment-regulate-user.js';
import {
  memberFallbackPollMs,
  type BatchInput,
  type BatchOutcome,
  type BatchRequest,
  type TaskInput,
} from '../../src/connectors/processor-contract.js';
import type {
  CreateRegulationInput,
  RegulationStatus,
  SegmentClient,
  SegmentJobSettings,
} from '../../src/vendors/segment-client.js';
import { PermanentVendorError } from '../../src/vendors/vendor-errors.js';

const SETTINGS: SegmentJobSettings = {
  regulationType: 'SUPPRESS_WITH_DELETE',
  batchWindowMs: 300_000,
  maxIdsPerRegulation: 5000,
  pollIntervalMs: 3_600_000,
  pollJitter: 0.1,
};

/** A Segment that records what it was asked and answers the status it is told. */
function fakeSegment(status: () => RegulationStatus | undefined) {
  const created: CreateRegulationInput[] = [];
  const client: SegmentClient = {
    settings: SETTINGS,
    async createRegulation(input) {
      created.push(input);
      return { regulateId: `reg${created.length}` };
    },
    async getRegulation() {
      return status();
    },
    close: () => undefined,
  };
  return { client, created };
}

const regulation = (overallStatus: string, destinations: Array<[string, string]> = []): RegulationStatus => ({
  id: 'reg1',
  overallStatus,
  finishedAt: '2026-01-01T00:00:00.000Z',
  destinations: destinations.map(([name, status], i) => ({ sourceId: 'src1', id: `d${i}`, name, status })),
});

function batchInput(userIds: Array<string | undefined>, previous: Record<string, unknown> = {}) {
  const checkpoints: Array<Record<string, unknown>> = [];
  const input: BatchInput = {
    batchId: 'b1',
    scope: regulationBatchScope('workspace', 'SUPPRESS_WITH_DELETE'),
    members: userIds.map((userId, i) => ({
      taskId: `t${i}`,
      requestId: `r${i}`,
      subject: userId ? { userId } : { email: `p${i}@example.org` },
    })),
    attempt: 1,
    previous,
    checkpoint: async (e) => {
      checkpoints.push(e);
    },
  };
  return { input, checkpoints };
}

describe('Segment jobs', () => {
  describe('the batch scope', () => {
    it('names the resource and the regulation type, and reads back', () => {
      expect(regulationBatchScope('workspace', 'DELETE_ONLY')).to.equal('workspace#DELETE_ONLY');
      expect(parseRegulationBatchScope('workspace#DELETE_ONLY')).to.deep.equal({
        resource: 'workspace',
        target: { kind: 'workspace' },
        regulationType: 'DELETE_ONLY',
      });
      expect(parseRegulationBatchScope('source/abc123#DELETE_ARCHIVE_ONLY').target).to.deep.equal({
        kind: 'source',
        sourceId: 'abc123',
      });
    });

    it('refuses a scope it cannot read', () => {
      for (const bad of ['workspace', 'workspace#UNSUPPRESS', 'source/a b#DELETE_ONLY', 'app/1#DELETE_ONLY']) {
        expect(() => parseRegulationBatchScope(bad), bad).to.throw(PermanentVendorError);
      }
    });
  });

  describe('regulationOutcome', () => {
    const base = { regulationType: 'SUPPRESS_WITH_DELETE', scope: 'workspace' };

    it('FINISHED: done, with every destination’s status and the unsupported ones named', () => {
      const out = regulationOutcome(
        regulation('FINISHED', [
          ['Amplitude', 'FINISHED'],
          ['Mixpanel', 'NOT_SUPPORTED'],
        ]),
        base,
      );
      expect(out.state).to.equal('done');
      expect(out.result).to.deep.include({
        regulateId: 'reg1',
        overallStatus: 'FINISHED',
        coverage: 'regulation-wide',
        unsupportedDestinations: ['Mixpanel'],
      });
      expect(out.result.destinations).to.deep.equal([
        { name: 'Amplitude', id: 'd0', status: 'FINISHED', sourceId: 'src1' },
        { name: 'Mixpanel', id: 'd1', status: 'NOT_SUPPORTED', sourceId: 'src1' },
      ]);
      expect(out.result.partial).to.equal(undefined);
    });

    it('PARTIAL_SUCCESS: done, partial, naming each failing destination once', () => {
      const out = regulationOutcome(
        regulation('PARTIAL_SUCCESS', [
          ['Braze', 'FAILED'],
          ['Amplitude', 'FINISHED'],
          ['Braze', 'FAILED'],
        ]),
        base,
      );
      expect(out.state).to.equal('done');
      expect(out.result).to.deep.include({ partial: true, failedDestinations: ['Braze'] });
    });

    it('FAILED whose only failures are NOT_SUPPORTED destinations (Segment’s documented answer): done with errors naming them, not failed', () => {
      const out = regulationOutcome(
        regulation('FAILED', [
          ['Amplitude', 'FINISHED'],
          ['Mixpanel', 'NOT_SUPPORTED'],
          ['Google Ads', 'NOT_SUPPORTED'],
        ]),
        base,
      );
      expect(out.state).to.equal('done');
      expect(out.result).to.deep.include({
        overallStatus: 'FAILED',
        partial: true,
        failedDestinations: ['Mixpanel', 'Google Ads'],
      });
      expect(out.result.reason).to.equal(
        'ended FAILED only because destinations take no deletions: Mixpanel, Google Ads',
      );
      const alsoFailed = regulationOutcome(
        regulation('FAILED', [
          ['Braze', 'FAILED'],
          ['Mixpanel', 'NOT_SUPPORTED'],
        ]),
        base,
      );
      expect(alsoFailed.state, 'a supported destination that failed still fails the task').to.equal('failed');
      const stillRunning = regulationOutcome(
        regulation('FAILED', [
          ['Braze', 'RUNNING'],
          ['Mixpanel', 'NOT_SUPPORTED'],
        ]),
        base,
      );
      expect(stillRunning.state, 'a destination that did not finish is not counted as erased').to.equal('failed');
    });

    it('FAILED, NOT_SUPPORTED and INVALID: failed, with a reason naming the destinations', () => {
      expect(regulationOutcome(regulation('FAILED', [['Mixpanel', 'FAILED']]), base).result.reason).to.equal(
        'ended FAILED (failing destinations: Mixpanel)',
      );
      const unsupported = regulationOutcome(
        regulation('NOT_SUPPORTED', [
          ['Mixpanel', 'NOT_SUPPORTED'],
          ['Braze', 'NOT_SUPPORTED'],
        ]),
        base,
      );
      expect(unsupported.state).to.equal('failed');
      expect(unsupported.result.reason).to.equal('ended NOT_SUPPORTED (failing destinations: Mixpanel, Braze)');
      const invalid = regulationOutcome(regulation('INVALID'), base);
      expect(invalid.state).to.equal('failed');
      expect(invalid.result.reason).to.equal('ended INVALID (no destination reported the failure)');
    });

    it('a status Segment does not document: failed, never counted as erased', () => {
      const out = regulationOutcome(regulation('ARCHIVED'), base);
      expect(out.state).to.equal('failed');
      expect(out.result.reason).to.include('ARCHIVED').and.include('not counted as erased');
      const odd = regulationOutcome(regulation('done for user-1'), base);
      expect(odd.state).to.equal('failed');
      expect(JSON.stringify(odd.result)).to.not.include('user-1');
    });
  });

  describe('pollRegulation (the batch job)', () => {
    it('creates one regulation for the members’ distinct user ids, checkpoints its id, and waits for Segment', async () => {
      const segment = fakeSegment(() => regulation('INITIALIZED'));
      const { input, checkpoints } = batchInput(['user-1', 'user-2', 'user-1']);
      const result = await pollRegulation(input, { client: segment.client });
      expect(segment.created).to.have.length(1);
      expect(segment.created[0]).to.deep.include({
        target: { kind: 'workspace' },
        regulationType: 'SUPPRESS_WITH_DELETE',
        userIds: ['user-1', 'user-2'],
      });
      expect(checkpoints[0]).to.deep.include({
        regulateId: 'reg1',
        subjects: 2,
        regulationType: 'SUPPRESS_WITH_DELETE',
        scope: 'workspace',
      });
      expect(result.outcome).to.equal('waiting_vendor');
      if (result.outcome !== 'waiting_vendor') return;
      expect(result.pollAfterMs).to.be.within(3_600_000, 3_960_000);
      expect(result.evidence).to.deep.include({ regulateId: 'reg1', overallStatus: 'INITIALIZED' });
      expect(JSON.stringify([checkpoints, result])).to.not.include('user-');
    });

    it('polls the regulation it created on later runs, never creating a second one', async () => {
      const segment = fakeSegment(() => regulation('RUNNING'));
      const { input } = batchInput(['user-1'], { regulateId: 'reg-earlier' });
      const result = await pollRegulation(input, { client: segment.client });
      expect(segment.created).to.have.length(0);
      expect(result.outcome).to.equal('waiting_vendor');
    });

    it('gives every member the regulation’s outcome when it ends', async () => {
      const segment = fakeSegment(() => regulation('FINISHED', [['Amplitude', 'FINISHED']]));
      const { input } = batchInput(['user-1', 'user-2'], { regulateId: 'reg1' });
      const result = await pollRegulation(input, { client: segment.client });
      expect(result.outcome).to.equal('done');
      if (result.outcome !== 'done') return;
      expect([...result.members.keys()]).to.deep.equal(['t0', 't1']);
      for (const member of result.members.values()) expect(member.state).to.equal('done');
      expect(result.evidence).to.deep.include({ regulateId: 'reg1', overallStatus: 'FINISHED', members: 2 });
    });

    it('fails a member without a user id instead of sending an empty regulation', async () => {
      const segment = fakeSegment(() => regulation('FINISHED'));
      const { input } = batchInput([undefined]);
      const result = await pollRegulation(input, { client: segment.client });
      expect(segment.created).to.have.length(0);
      expect(result.outcome).to.equal('done');
      if (result.outcome === 'done') expect(result.members.get('t0')!.state).to.equal('failed');
    });

    it('waits when a regulation it has just created is not readable yet, but fails the batch when an old one is gone', async () => {
      const fresh = await pollRegulation(batchInput(['user-1']).input, { client: fakeSegment(() => undefined).client });
      expect(fresh.outcome).to.equal('waiting_vendor');
      try {
        await pollRegulation(batchInput(['user-1'], { regulateId: 'reg-old' }).input, {
          client: fakeSegment(() => undefined).client,
        });
        expect.fail('expected a throw');
      } catch (err) {
        expect(err).to.be.instanceOf(PermanentVendorError);
        expect((err as Error).message).to.equal('segment getRegulation no longer lists the regulation (404)');
      }
    });

    it('spreads polls with jitter', () => {
      expect(nextPollMs(1000, 0.1, () => 0)).to.equal(1000);
      expect(nextPollMs(1000, 0.1, () => 0.999)).to.equal(1100);
    });
  });

  describe('regulateUser (the member task)', () => {
    function taskInput(outcome: BatchOutcome, subject: Record<string, string> = { userId: 'user-1' }) {
      const asked: BatchRequest[] = [];
      const checkpoints: Array<Record<string, unknown>> = [];
      const input: TaskInput = {
        requestId: 'r1',
        taskId: 't1',
        resource: 'workspace',
        subject,
        attempt: 1,
        previous: {},
        checkpoint: async (e) => {
          checkpoints.push(e);
        },
        awaitBatch: async (request) => {
          asked.push(request);
          return outcome;
        },
      };
      return { input, asked, checkpoints };
    }
    const deps = { client: fakeSegment(() => undefined).client };

    it('joins the batch of its scope and regulation type, sized by the settings, and waits without holding a worker', async () => {
      const { input, asked } = taskInput({ state: 'waiting', batchId: 'b1', closesAt: new Date(Date.now() + 60_000) });
      const result = await regulateUser(input, deps);
      expect(asked).to.deep.equal([
        { kind: 'poll-regulation', scope: 'workspace#SUPPRESS_WITH_DELETE', windowMs: 300_000, maxMembers: 5000 },
      ]);
      expect(result).to.deep.include({
        outcome: 'waiting_vendor',
        pollAfterMs: memberFallbackPollMs(3_600_000),
        reason: 'in a Segment regulation batch that has not been sent yet',
      });
    });

    it('succeeds with the regulation’s evidence when it is done', async () => {
      const { input } = taskInput({
        state: 'done',
        batchId: 'b1',
        result: { regulateId: 'reg1', overallStatus: 'FINISHED' },
      });
      // Segment offers no lookup of a regulated user: its FINISHED is vendor_confirmed (src/receipts/verification.ts).
      expect(await regulateUser(input, deps)).to.deep.equal({
        outcome: 'succeeded',
        evidence: { batchId: 'b1', regulateId: 'reg1', overallStatus: 'FINISHED', verification: 'vendor_confirmed' },
      });
    });

    it('keeps the evidence and fails with the reason when the regulation did not erase', async () => {
      const { input, checkpoints } = taskInput({
        state: 'failed',
        batchId: 'b1',
        result: {
          regulateId: 'reg1',
          overallStatus: 'FAILED',
          reason: 'ended FAILED (failing destinations: Mixpanel)',
        },
      });
      try {
        await regulateUser(input, deps);
        expect.fail('expected a throw');
      } catch (err) {
        expect(err).to.be.instanceOf(PermanentVendorError);
        expect((err as Error).message).to.equal('segment regulation ended FAILED (failing destinations: Mixpanel)');
      }
      expect(checkpoints).to.deep.equal([{ batchId: 'b1', regulateId: 'reg1', overallStatus: 'FAILED' }]);
    });

    it('skips a person without a user id, joining no batch', async () => {
      const { input, asked } = taskInput(
        { state: 'waiting', batchId: 'b1', closesAt: new Date() },
        { email: 'someone@example.org' },
      );
      expect((await regulateUser(input, deps)).outcome).to.equal('skipped');
      expect(asked).to.have.length(0);
    });
  });
});
