import { expect } from 'chai';
import { appcenterEraseDevices } from '../../jobs/appcenter-erase-devices.js';
import type { TaskInput } from '../../src/connectors/processor-contract.js';
import type { AppCenterClient } from '../../src/vendors/appcenter-client.js';

const INSTALL_ID = '00000000-0000-4000-8000-00000000002a';

/** One app with the person's push device; a task ledger that survives the process. */
function world() {
  const devices = new Set([INSTALL_ID]);
  let evidence: Record<string, unknown> = {};
  let crashAfterDelete = false;
  const client = {
    settings: { blockLogs: false, customProperties: {}, exportContainerSasUri: undefined },
    deleteInstallId: async (_app: string, installId: string) => {
      const answer = devices.delete(installId) ? 'deleted' : 'not_found';
      if (crashAfterDelete) throw new Error('the process is gone');
      return answer;
    },
  } as unknown as AppCenterClient;
  const run = (crash: boolean) => {
    crashAfterDelete = crash;
    const input = {
      requestId: 'r-1',
      taskId: 't-1',
      resource: 'app/owner/app-1',
      subject: { installId: INSTALL_ID },
      attempt: 1,
      previous: evidence,
      checkpoint: async (more: Record<string, unknown>) => void (evidence = { ...evidence, ...more }),
    } as unknown as TaskInput;
    return appcenterEraseDevices(input, { client });
  };
  return { run, devices };
}

describe('App Center device erasure by install id after a crash (Invariant 11)', () => {
  it('says succeeded, removed_in_earlier_attempt, never not_found, when the run that sent the delete died before recording its answer', async () => {
    const w = world();
    const first = await w.run(true).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(first).to.be.instanceOf(Error);
    expect(w.devices.size, 'the device went with the first run').to.equal(0);
    const rerun = await w.run(false);
    expect(rerun.outcome).to.equal('succeeded');
    expect(rerun.evidence).to.include({
      devicesDeleted: 0,
      devicesAlreadyGone: 1,
      earlierAttempt: 'removed_in_earlier_attempt',
    });
  });

  it('still says not_found for a device that was never there, on a first run', async () => {
    const w = world();
    w.devices.clear();
    const result = await w.run(false);
    expect(result.outcome).to.equal('not_found');
    expect(result.evidence).to.not.have.property('earlierAttempt');
  });
});
