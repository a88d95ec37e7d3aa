import { sandboxPluginFor } from '../../src/sandbox/sandbox-plugins.js';
import { expect } from 'chai';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import type { SegmentSandboxOptions } from '../../src/sandbox/segment/segment-sandbox.js';
import { DEFAULT_SEGMENT_TIMINGS } from '../../src/sandbox/segment/segment-store.js';
import { SANDBOX_SEGMENT_SOURCES } from '../../src/sandbox/segment/segment-seed.js';
import { connectorFor } from '../../src/connectors/registry.js';
import { VENDOR_QUEUE_DEFAULTS } from '../../src/connectors/registry.js';
import type { SegmentClient } from '../../src/vendors/segment-client.js';
import { pollRegulation, regulationBatchScope } from '../../jobs/segment-poll-regulation.js';
import { memberResults, runBatchToEnd } from '../support/run-batch.js';

/**
 * Segment's documented overall status when destinations that take no deletions are in scope
 * (FAILED, vendor-contracts §4.3) and the other reading (FINISHED), through the real client and
 * the regulation job: either way the erasure Segment did is recorded, the unsupported destinations
 * are named, and nothing is retried.
 */
describe('Segment client against the documented overall status with unsupported destinations', () => {
  let sandbox: Sandbox;
  let client: SegmentClient;
  const start = async (segment: SegmentSandboxOptions = {}) => {
    sandbox = await startSandbox({ subjects: 20, segment });
    const connector = connectorFor('segment')!;
    client = connector.createClient(
      sandboxPluginFor(connector.vendor)!.sandboxSettings(sandbox, VENDOR_QUEUE_DEFAULTS.segment),
    ) as SegmentClient;
  };
  afterEach(async () => {
    client?.close();
    await sandbox?.close();
  });
  const members = [{ taskId: 't1', requestId: 'r1', subject: { userId: 'user-3' } }];
  const regulate = (resource: string) =>
    runBatchToEnd(pollRegulation, {
      scope: regulationBatchScope(resource, 'SUPPRESS_WITH_DELETE'),
      members,
      clients: { client },
      advance: () => {
        sandbox.clock.advance(DEFAULT_SEGMENT_TIMINGS.finishAfterMs + 60_000);
      },
    });

  it('serves FAILED by default when the only destinations not erased are NOT_SUPPORTED; the member is done with errors naming them', async () => {
    await start();
    const { result, runs } = await regulate('workspace');
    expect(runs, 'created, then read once final: no retry').to.equal(2);
    expect(result.evidence.overallStatus).to.equal('FAILED');
    const member = memberResults(result).t1;
    expect(member.state).to.equal('done');
    expect(member.result).to.deep.include({ partial: true, overallStatus: 'FAILED' });
    expect(member.result.failedDestinations).to.have.members(['Mixpanel', 'Google Ads (Classic)']);
    expect(String(member.result.reason)).to.equal(
      `ended FAILED only because destinations take no deletions: ${(member.result.failedDestinations as string[]).join(', ')}`,
    );
    expect(sandbox.segment.store.subjectData('USER_ID', 'user-3'), 'Segment erased the person').to.equal(undefined);
  });

  it('reads FINISHED (the other reading) as done, with the unsupported destinations named', async () => {
    await start({ unsupportedDestinationsOverall: 'FINISHED' });
    const { result } = await regulate('workspace');
    const member = memberResults(result).t1;
    expect(member.state).to.equal('done');
    expect(member.result).to.deep.include({ overallStatus: 'FINISHED' });
    expect(member.result.partial).to.equal(undefined);
    expect(member.result.unsupportedDestinations).to.have.members(['Mixpanel', 'Google Ads (Classic)']);
  });

  it('still fails the member when a destination that takes deletions failed alongside the unsupported ones', async () => {
    await start();
    sandbox.segment.store.planOutcomes(1, { status: 'FAILED', failingDestination: 'Braze' });
    const { result } = await regulate(`source/${SANDBOX_SEGMENT_SOURCES.ios}`);
    const member = memberResults(result).t1;
    expect(member.state).to.equal('failed');
    expect(member.result.failedDestinations).to.deep.equal(['Braze']);
  });
});
