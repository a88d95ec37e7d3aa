import { expect } from 'chai';
import { startSandbox, type Sandbox } from '../../src/sandbox/sandbox.js';
import type { ExportBlobPlacement, ExportRowLayout } from '../../src/sandbox/appcenter/appcenter-store.js';
import { seedPerson } from '../../src/sandbox/seed.js';
import { createAppCenterClient, type AppCenterClient } from '../../src/vendors/appcenter-client.js';
import { withAppCenterDefaults } from '../../src/vendors/appcenter-settings.js';
import { appcenterExportDevices } from '../../jobs/appcenter-export-devices.js';
import { memberResults, runBatchToEnd } from '../support/run-batch.js';

/**
 * App Center's device export is not fixed by its docs (row fields, blob names: vendor-contracts
 * §3.3, §8). Through the real client and the export job: every layout we accept finds the person's
 * devices; a drifted row format or a blob that is not under `<export id>/` fails every member as
 * "unexpected export format", never as "no match".
 */
describe('App Center device export: accepted layouts and fail-closed drift, through the real client', () => {
  let sandbox: Sandbox;
  let client: AppCenterClient;
  const person = seedPerson(4);
  const members = [{ taskId: 't1', requestId: 'r1', subject: { userId: person.userId } }];

  const start = async (
    exportRowLayout: ExportRowLayout,
    exportBlobPlacement: ExportBlobPlacement = 'export-folder',
  ) => {
    sandbox = await startSandbox({ subjects: 12, appcenter: { exportRowLayout, exportBlobPlacement } });
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
        customProperties: { userId: ['user_id'] },
      }),
    );
  };
  afterEach(async () => {
    client?.close();
    await sandbox?.close();
  });
  const run = () =>
    runBatchToEnd(appcenterExportDevices, {
      scope: `app/${sandbox.appcenter.app}`,
      members,
      clients: { client },
      advance: () => {
        sandbox.clock.advance(5 * 60_000);
      },
    });
  const deviceThere = () =>
    [...sandbox.appcenter.store.app(sandbox.appcenter.owner, sandbox.appcenter.app).devices.keys()].includes(
      person.installId,
    );

  for (const layout of ['flat', 'nested', 'camel'] as const) {
    it(`finds and deletes the person’s device when rows are laid out ${layout}`, async () => {
      await start(layout);
      expect(deviceThere()).to.equal(true);
      const { result } = await run();
      const member = memberResults(result).t1;
      expect(member.state).to.equal('done');
      expect(member.result).to.include({ devicesMatched: 1, devicesDeleted: 1 });
      expect(deviceThere()).to.equal(false);
    });
  }

  it('fails every member as "unexpected export format" when the rows carry none of the expected id fields, and deletes nothing', async () => {
    await start('drifted');
    const { result } = await run();
    const member = memberResults(result).t1;
    expect(member.state).to.equal('failed');
    expect(member.result.code).to.equal('UnexpectedExportFormat');
    expect(String(member.result.reason)).to.match(
      /^unexpected export format: \d+ of \d+ export rows have none of the expected id fields/,
    );
    expect(String(member.result.reason)).to.not.include(person.installId);
    expect(deviceThere(), 'nothing was claimed or deleted').to.equal(true);
  });

  it('fails every member as "unexpected export format" when the blob is not under the export’s folder', async () => {
    await start('flat', 'container-root');
    const { result } = await run();
    const member = memberResults(result).t1;
    expect(member.state).to.equal('failed');
    expect(member.result).to.include({
      code: 'UnexpectedExportFormat',
      reason: 'unexpected export format: the completed export wrote no blob under <export id>/',
    });
  });
});
