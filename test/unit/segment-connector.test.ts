import { expect } from 'chai';
import { loadConfig, ConfigError } from '../../src/config/load-config.js';
import { segmentConnector } from '../../src/connectors/segment-connector.js';
import { UnplannableVendorError, type PlanInput } from '../../src/connectors/connector.js';
import type { SegmentSettings } from '../../src/vendors/segment-settings.js';
import { segmentQueue } from '../../queues/segment-queue.js';

const PERSON = { userId: 'user-4242', email: 'ann.lee@example.com' } as const;

function settings(segment: Record<string, unknown> = {}): SegmentSettings {
  return loadConfig({ env: {}, file: { vendors: { segment: { token: 'sgp_test_token', ...segment } } } }).vendors
    .segment!;
}

function plan(overrides: Partial<PlanInput> = {}, segment: Record<string, unknown> = {}) {
  return segmentConnector.plan(
    { requestId: 'req-1', subject: { userId: PERSON.userId }, vendorsExplicit: true, ...overrides },
    settings(segment),
  );
}

describe('Segment connector and settings', () => {
  it('fills the documented defaults', () => {
    expect(settings()).to.deep.include({
      baseUrl: 'https://api.segmentapis.com',
      regulationType: 'SUPPRESS_WITH_DELETE',
      scope: 'workspace',
      batchWindowMs: 300_000,
      maxIdsPerRegulation: 5000,
      pollIntervalMs: 3_600_000,
      requestsPerSecond: 100,
      manualTasks: [],
    });
    // Calls are budgeted by the client; the queue does not hold call-free member jobs to that budget.
    expect(settings().rateLimit).to.deep.equal({ max: 1000, durationMs: 1000 });
  });

  it('refuses settings Segment would refuse: more than 5,000 ids, DELETE_ARCHIVE_ONLY at workspace scope, a regulation that erases nothing', () => {
    for (const bad of [
      { maxIdsPerRegulation: 5001 },
      { regulationType: 'DELETE_ARCHIVE_ONLY' },
      { regulationType: 'SUPPRESS_ONLY' },
      { scope: { sourceIds: [] } },
    ]) {
      expect(() => settings(bad), JSON.stringify(bad)).to.throw(ConfigError);
    }
    expect(settings({ regulationType: 'DELETE_ARCHIVE_ONLY', scope: { sourceIds: ['abc'] } }).regulationType).to.equal(
      'DELETE_ARCHIVE_ONLY',
    );
  });

  it('plans one regulate-user task for the workspace', () => {
    const tasks = plan();
    expect(tasks).to.have.length(1);
    expect(tasks[0]).to.deep.include({
      vendor: 'segment',
      resource: 'workspace',
      action: 'regulate-user',
      jobName: 'regulate-user',
      queue: segmentQueue.name,
    });
    expect(segmentConnector.queue.jobNames).to.include(tasks[0].jobName);
    expect(tasks[0].initialState).to.equal(undefined);
  });

  it('plans one task per configured source, with ids that name neither the person nor the source', () => {
    const tasks = plan({ subject: { ...PERSON } }, { scope: { sourceIds: ['srcA', 'srcB'] } });
    expect(tasks.map((t) => t.resource)).to.deep.equal(['source/srcA', 'source/srcB']);
    for (const t of tasks) {
      expect(t.id).to.match(/^req-1__segment__regulate-user__[0-9a-f]{12}$/);
      expect(t.id).to.not.include('4242').and.not.include('src');
    }
  });

  it('plans the configured manual tasks as waiting_manual with their instructions', () => {
    const tasks = plan(
      {},
      {
        manualTasks: [
          {
            action: 'request-source-deletion',
            instructions: 'E-mail Segment support to delete the source.',
            resource: 'source/srcA',
          },
        ],
      },
    );
    expect(tasks).to.have.length(2);
    expect(tasks[1]).to.deep.include({
      action: 'request-source-deletion',
      resource: 'source/srcA',
      initialState: 'waiting_manual',
      waitingReason: 'E-mail Segment support to delete the source.',
    });
  });

  it('refuses Segment named for a person without a user id, and skips it with a reason when it was not named', () => {
    expect(() => plan({ subject: { email: PERSON.email } })).to.throw(
      UnplannableVendorError,
      /^segment: needs a userId/,
    );
    const skipped = plan({ subject: { email: PERSON.email }, vendorsExplicit: false });
    expect(skipped).to.have.length(1);
    expect(skipped[0].initialState).to.equal('skipped');
    expect(skipped[0].waitingReason).to.include('userId').and.not.include(PERSON.email);
  });

  it('accepts sandbox overrides without filling defaults over the simulator’s settings', () => {
    const config = loadConfig({
      env: {},
      file: { sandbox: { vendorOverrides: { segment: { batchWindowMs: 1000 } } } },
    });
    expect(config.sandboxMode).to.equal(true);
    expect(config.sandbox.vendorOverrides).to.deep.equal({ segment: { batchWindowMs: 1000 } });
    expect(() =>
      loadConfig({ env: {}, file: { sandbox: { vendorOverrides: { segment: { batchWindowMs: 'soon' } } } } }),
    ).to.throw(ConfigError, /vendorOverrides\.segment\.batchWindowMs/);
  });
});
