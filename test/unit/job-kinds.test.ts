import { expect } from 'chai';
import { CONNECTORS } from '../../src/connectors/registry.js';
import { processorsOfKind } from '../../src/connectors/connector.js';
import { pinpointConnector } from '../../src/connectors/pinpoint-connector.js';
import { DELETE_PROJECT } from '../../src/planner/project-deletion-job.js';
import { recordJobFailure, failedJobReason } from '../../src/workers/record-job-failure.js';
import { createLogger } from '../../src/logger.js';

const logger = createLogger({ logLevel: 'error', logFile: undefined }, { silentConsole: true });

/** A ledger fake that records the calls `recordJobFailure` makes; `wins` says whether failTask applies. */
function fakeLedger(wins: boolean) {
  const calls: string[] = [];
  return {
    calls,
    tasks: {
      failTask: (taskId: string, reason: string) => {
        calls.push(`failTask ${taskId} ${reason}`);
        return Promise.resolve(wins ? { applied: true, state: 'failed' } : { applied: false, state: 'cancelled' });
      },
    },
    requests: {
      settleRequest: (requestId: string) => {
        calls.push(`settleRequest ${requestId}`);
        return Promise.resolve('failed' as const);
      },
    },
  };
}

describe('Job kinds', () => {
  it('derives each vendor queue’s job names from the jobs its connector declares', () => {
    for (const connector of CONNECTORS) {
      expect(connector.queue.jobNames, connector.vendor).to.deep.equal(Object.keys(connector.jobs));
      expect(connector.queue.vendor).to.equal(connector.vendor);
    }
  });

  it('gives every job name one connector, so dispatching by name is unambiguous', () => {
    const names = CONNECTORS.flatMap((c) => Object.keys(c.jobs));
    expect(new Set(names).size).to.equal(names.length);
  });

  it('runs project deletion through the Pinpoint connector as a scope job', () => {
    expect(pinpointConnector.jobs[DELETE_PROJECT]?.kind).to.equal('scope');
    expect(Object.keys(processorsOfKind(pinpointConnector.jobs, 'scope'))).to.deep.equal([DELETE_PROJECT]);
    expect(Object.keys(processorsOfKind(pinpointConnector.jobs, 'batch'))).to.deep.equal(['export-segment']);
    expect(Object.keys(processorsOfKind(pinpointConnector.jobs, 'task'))).to.have.members([
      'delete-user-endpoints',
      'find-endpoint',
    ]);
  });
});

describe('recordJobFailure', () => {
  it('fails the task and settles its request when the failure wins', async () => {
    const ledger = fakeLedger(true);
    const written = await recordJobFailure(
      { ledger, logger },
      { kind: 'task', requestId: 'r1', taskId: 't1' },
      'job failed',
    );
    expect(written).to.include({ applied: true, settled: true });
    expect(ledger.calls).to.deep.equal(['failTask t1 job failed', 'settleRequest r1']);
  });

  it('records nothing more and leaves settling to the winner when the task had already ended', async () => {
    const ledger = fakeLedger(false);
    const written = await recordJobFailure(
      { ledger, logger },
      { kind: 'task', requestId: 'r1', taskId: 't1' },
      'job failed',
    );
    expect(written).to.include({ applied: false, settled: false, state: 'cancelled' });
    expect(ledger.calls).to.deep.equal(['failTask t1 job failed']);
  });

  it('fails a scope job’s project deletion, not a task', async () => {
    const ledger = fakeLedger(true);
    const failed: string[] = [];
    const projectDeletions = {
      fail: (id: string, reason: string) => {
        failed.push(`${id} ${reason}`);
        return Promise.resolve(undefined);
      },
    };
    await recordJobFailure(
      { ledger, projectDeletions, logger },
      { kind: 'scope', projectDeletionId: 'pd1' },
      'stalled',
    );
    expect(failed).to.deep.equal(['pd1 stalled']);
    expect(ledger.calls).to.deep.equal([]);
  });

  it('words a failure from outside the processor as the job ending, and a vendor’s own as it is', () => {
    expect(
      failedJobReason(Object.assign(new Error('job stalled more than allowable limit'), { name: 'Error' })),
    ).to.equal('job ended: job stalled more than allowable limit');
    expect(failedJobReason(Object.assign(new Error('pinpoint: 400'), { name: 'PermanentVendorError' }))).to.equal(
      'pinpoint: 400',
    );
  });
});
