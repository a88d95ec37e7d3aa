import { expect } from 'chai';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { createAppCenterClient, type AppCenterClient } from '../../src/vendors/appcenter-client.js';
import { withAppCenterDefaults } from '../../src/vendors/appcenter-settings.js';
import { appcenterExportDevices } from '../../jobs/appcenter-export-devices.js';
import { appcenterSweepAudiences } from '../../jobs/appcenter-sweep-audiences.js';
import { appcenterSweepNotifications } from '../../jobs/appcenter-sweep-notifications.js';
import { TransientVendorError } from '../../src/vendors/vendor-errors.js';
import type { BatchInput, BatchProcessor, BatchResult } from '../../src/connectors/processor-contract.js';

/**
 * The App Center batch jobs run at least once (Invariant 3): a job that failed midway, or that
 * finished before the ledger heard, runs again from its checkpoints. The second run must erase
 * nothing twice, start no second export, and report the same per-member evidence.
 */
describe('App Center batch jobs run again from their checkpoints', () => {
  let sandbox: Sandbox;
  let client: AppCenterClient;
  // By the seed's rules: audiences name i % 5 === 2; notifications target i % 4 === 1 and name i % 6 === 3 in their content.
  const people = [seedPerson(2), seedPerson(9), seedPerson(17)];
  const members = people.map((p, i) => ({
    taskId: `task-${i}`,
    requestId: `req-${i}`,
    subject: { email: p.email, userId: p.userId },
  }));

  beforeEach(async () => {
    sandbox = await startSandbox({ subjects: 30 });
    const info = sandbox.vendors.appcenter;
    client = createAppCenterClient(
      withAppCenterDefaults({
        rateLimit: { max: 1000, durationMs: 1000 },
        concurrency: 1,
        throttleDelayMs: 100,
        baseUrl: info.baseUrl,
        apiToken: info.credentials.apiToken,
        owner: sandbox.appcenter.owner,
        apps: [sandbox.appcenter.app],
        exportContainerSasUri: String(info.exportContainerSasUri),
        customProperties: { email: ['email'], userId: ['user_id'] },
      }),
    );
  });
  afterEach(async () => {
    client.close();
    await sandbox.close();
  });

  /** Runs a batch processor until it is done, with a ledger-like evidence store; returns the result and the evidence. */
  const run = (processor: BatchProcessor<AppCenterClient>, evidence: Record<string, unknown> = {}) =>
    runWith(processor, client, evidence);

  async function runWith(
    processor: BatchProcessor<AppCenterClient>,
    appcenter: AppCenterClient,
    evidence: Record<string, unknown> = {},
  ): Promise<{ result: Extract<BatchResult, { outcome: 'done' }>; evidence: Record<string, unknown> }> {
    for (let i = 0; i < 5; i++) {
      const input: BatchInput = {
        batchId: 'batch-1',
        scope: `app/${sandbox.appcenter.app}`,
        members,
        attempt: 1,
        previous: { ...evidence },
        checkpoint: async (e) => void Object.assign(evidence, e),
      };
      const result = await processor(input, { client: appcenter });
      if (result.outcome === 'done') return { result, evidence };
      Object.assign(evidence, result.evidence);
      sandbox.clock.advance(5 * 60_000);
    }
    throw new Error('batch never finished');
  }

  const results = (r: Extract<BatchResult, { outcome: 'done' }>) =>
    Object.fromEntries([...r.members].map(([id, m]) => [id, m.result]));

  it('device export: a run that fails midway, run again, reports each device deleted once, from one export', async () => {
    // The third delete fails as a 500 would: the first run has erased two members' devices by then.
    let deletes = 0;
    const flaky: AppCenterClient = {
      ...client,
      deleteInstallId: async (...args) => {
        if (++deletes === 3)
          throw new TransientVendorError({ vendor: 'appcenter', operation: 'Push_DeleteInstallId', status: 500 });
        return client.deleteInstallId(...args);
      },
    };
    const evidence: Record<string, unknown> = {};
    const failed = await runWith(appcenterExportDevices, flaky, evidence).catch((err: Error) => err);
    expect(failed).to.be.instanceOf(TransientVendorError);
    expect(Object.keys(evidence.progress as object), 'checkpointed before the error went up').to.deep.equal([
      'task-0',
      'task-1',
    ]);

    const again = await runWith(appcenterExportDevices, flaky, evidence);
    expect(Object.values(results(again.result)).map((r) => [r.devicesDeleted, r.devicesAlreadyGone])).to.deep.equal([
      [1, 0],
      [1, 0],
      [1, 0],
    ]);
    expect(sandbox.stats.calls('appcenter', 'Push_ExportDevices')).to.equal(1);
    expect(sandbox.stats.calls('appcenter', 'Push_DeleteInstallId'), 'no device deleted twice').to.equal(3);
    expect(
      sandbox.appcenter.store.blobs.listBlobs('erasure-exports'),
      'the export file is deleted when done',
    ).to.deep.equal([]);
  });

  it('device export: a run repeated after it finished (before the ledger heard) changes nothing', async () => {
    const first = await run(appcenterExportDevices);
    const calls = sandbox.stats.snapshot().appcenter.total.calls;
    const again = await run(appcenterExportDevices, first.evidence);
    expect(results(again.result)).to.deep.equal(results(first.result));
    expect(sandbox.stats.snapshot().appcenter.total.calls, 'no call to App Center').to.equal(calls);
  });

  it('audience sweep: a second run from the first run’s checkpoints reports the same audiences', async () => {
    const first = await run(appcenterSweepAudiences);
    expect(Object.values(results(first.result)).map((r) => r.audienceIds)).to.deep.equal([
      ['vip-[redacted]'],
      [],
      ['vip-[redacted]'],
    ]);
    const again = await run(appcenterSweepAudiences, { ...first.evidence });
    expect(results(again.result)).to.deep.equal(results(first.result));
    expect(sandbox.stats.calls('appcenter', 'Analytics_DeleteAudience')).to.equal(2);
  });

  it('notification sweep: a second run from the first run’s checkpoints reports the same notifications', async () => {
    const first = await run(appcenterSweepNotifications);
    const counts = Object.values(results(first.result)).map((r) => r.notificationsDeleted);
    expect(counts).to.deep.equal([0, 2, 1]);
    const again = await run(appcenterSweepNotifications, { ...first.evidence });
    expect(results(again.result)).to.deep.equal(results(first.result));
  });
});
