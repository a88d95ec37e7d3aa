import { sandboxPluginFor } from '../../src/sandbox/sandbox-plugins.js';
import { expect } from 'chai';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import type { AmplitudeSandboxOptions } from '../../src/sandbox/amplitude/amplitude-sandbox.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { connectorFor } from '../../src/connectors/registry.js';
import { VENDOR_QUEUE_DEFAULTS } from '../../src/connectors/registry.js';
import type { AmplitudeClient } from '../../src/vendors/amplitude-client.js';
import { PermanentVendorError } from '../../src/vendors/vendor-errors.js';
import { submitDeletions, type SubmittedMember } from '../../jobs/amplitude-submit-deletions.js';
import { pollDeletions, pollBatchScope } from '../../jobs/amplitude-poll-deletions.js';
import { memberResults, runBatchToEnd } from '../support/run-batch.js';

const DAY_MS = 86_400_000;

/**
 * The documented variants of Amplitude's User Privacy API (vendor-contracts §5.2, §5.3) that its
 * docs leave open, served by the simulator's knobs and driven through the real client and jobs:
 * both spellings of the ignore-invalid-ids flag, a 400 when neither is honoured, and job
 * statuses in any case.
 */
describe('Amplitude client against every documented variant of the simulator', () => {
  let sandbox: Sandbox;
  let client: AmplitudeClient;
  const start = async (amplitude: AmplitudeSandboxOptions = {}) => {
    sandbox = await startSandbox({ subjects: 20, amplitude: { requestsPerSecond: Infinity, ...amplitude } });
    const connector = connectorFor('amplitude')!;
    const settings = {
      ...sandboxPluginFor(connector.vendor)!.sandboxSettings(sandbox, VENDOR_QUEUE_DEFAULTS.amplitude),
      requestsPerSecond: Infinity,
    };
    client = connector.createClient(settings, undefined, () => sandbox.clock.now()) as AmplitudeClient;
  };
  afterEach(async () => {
    client?.close();
    await sandbox?.close();
  });

  for (const spelling of ['both', 'ignore_invalid_id', 'ignore_invalid_ids'] as const) {
    it(`schedules the known ids and names the unknown one when Amplitude reads the flag as ${spelling}`, async () => {
      await start({ ignoreInvalidIdsSpelling: spelling });
      const answer = await client.requestDeletions([
        { kind: 'user_id', value: 'user-1' },
        { kind: 'user_id', value: 'nobody-at-all' },
      ]);
      expect(answer.invalid).to.deep.equal([{ kind: 'user_id', value: 'nobody-at-all' }]);
      expect(answer.entries.map((e) => e.amplitudeId)).to.deep.equal([String(seedPerson(1).amplitudeId)]);
    });
  }

  it('a 400 for an unknown id (flag not honoured) reaches the client as a PermanentVendorError with status 400', async () => {
    await start({ ignoreInvalidIdsSpelling: 'none' });
    const err = await client
      .requestDeletions([
        { kind: 'user_id', value: 'user-1' },
        { kind: 'user_id', value: 'nobody-at-all' },
      ])
      .catch((e: Error) => e);
    expect(err).to.be.instanceOf(PermanentVendorError);
    expect((err as PermanentVendorError).details.status).to.equal(400);
    expect((err as Error).message).to.not.include('nobody');
  });

  it('splits a batch Amplitude refuses with 400: the valid ids go on, the unknown ones end unknown with the vendor’s answer', async () => {
    await start({ ignoreInvalidIdsSpelling: 'none' });
    const ids = ['user-1', 'ghost-1', 'user-2', 'user-3', 'ghost-2'];
    const members = ids.map((userId, i) => ({ taskId: `t${i}`, requestId: `r${i}`, subject: { userId } }));
    const { result } = await runBatchToEnd(submitDeletions, {
      scope: 'project/erasure-sandbox',
      members,
      clients: { client },
      advance: () => undefined,
    });
    const byTask = memberResults(result);
    for (const i of [0, 2, 3]) {
      const sent = byTask[`t${i}`].result as unknown as SubmittedMember;
      expect(sent.known, ids[i]).to.equal(true);
      expect(sent.day).to.match(/^\d{4}-\d{2}-\d{2}$/);
    }
    for (const i of [1, 4]) {
      const sent = byTask[`t${i}`].result as unknown as SubmittedMember;
      expect(sent.known, ids[i]).to.equal(false);
      expect(sent.vendorAnswer).to.deep.equal({ status: 400 });
    }
    const scheduled = sandbox.amplitude.store.listJobs(
      sandbox.amplitude.store.authenticate(sandbox.amplitude.apiKey, sandbox.amplitude.secretKey, 'us')!,
      '2000-01-01',
      '2100-01-01',
    );
    expect(scheduled.flatMap((j) => j.amplitude_ids.map((e) => e.amplitude_id)).sort()).to.deep.equal(
      [1, 2, 3].map((i) => seedPerson(i).amplitudeId).sort(),
    );
    expect(JSON.stringify(result.evidence)).to.not.include('ghost');
  });

  for (const statusCase of ['lower', 'capitalized', 'upper'] as const) {
    it(`reads job statuses sent ${statusCase}: staging, then done, whatever the case`, async () => {
      await start({ statusCase });
      const created = await client.requestDeletions([{ kind: 'user_id', value: 'user-4' }]);
      expect(created.status).to.equal('staging');
      const listed = await client.listDeletions(created.day, created.day);
      expect(listed.map((j) => j.status)).to.deep.equal(['staging']);
      sandbox.clock.advance(Date.parse(`${created.day}T00:00:00Z`) + 7 * DAY_MS - sandbox.clock.now());
      const members = [
        {
          taskId: 't1',
          requestId: 'r1',
          subject: { userId: 'user-4', amplitudeId: String(seedPerson(4).amplitudeId) },
        },
      ];
      const { result } = await runBatchToEnd(pollDeletions, {
        scope: pollBatchScope('project/erasure-sandbox', created.day),
        members,
        clients: { client },
        advance: () => {
          sandbox.clock.advance(DAY_MS);
        },
      });
      const member = memberResults(result).t1;
      expect(member.state).to.equal('done');
      expect(member.result).to.include({ status: 'done', verification: 'vendor_confirmed', listedInDoneJob: true });
    });
  }
});
