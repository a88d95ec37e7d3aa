import { expect } from 'chai';
import { sha256Hex } from '../../src/api/auth.js';
import { SANDBOX_PINPOINT_APP_ID } from '../../src/sandbox/pinpoint/pinpoint-seed.js';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from './run-cli.js';

const VIEWER_TOKEN = 'viewer-token-for-the-project-cli-test';
const APP = SANDBOX_PINPOINT_APP_ID;

describe('erasure project', function () {
  // Each command is a child process (about 0.3 s of CPU): generous on a busy machine.
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: { tokens: [{ name: 'auditor', sha256: sha256Hex(VIEWER_TOKEN), role: 'viewer' }] },
    });
  });
  after(async () => service?.close());

  const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);

  it('schedules a deletion with the app id typed twice, lists and shows it, cancels it with a reason, and refuses a second cancel with exit code 1', async () => {
    const scheduled = await cli(
      'project',
      'delete',
      '--app',
      APP,
      '--confirm',
      APP,
      '--reason',
      'project retired (ticket PRIV-77)',
    );
    expect(scheduled.code, scheduled.stderr).to.equal(0);
    const id = new RegExp(
      `^scheduled: project deletion ([0-9a-f-]{36}) of app ${APP} runs at (\\S+) \\(grace period 5 days\\)`,
    ).exec(scheduled.stdout)?.[1];
    expect(id, scheduled.stdout).to.be.a('string');
    expect(scheduled.stdout).to.include(`erasure project cancel ${id} --reason REASON`);

    const listed = await cli('project', 'list', '--json');
    expect(listed.code, listed.stderr).to.equal(0);
    expect(
      JSON.parse(listed.stdout).projectDeletions.map((d: { id: string; status: string }) => [d.id, d.status]),
    ).to.deep.equal([[id, 'scheduled']]);
    const table = await cli('project', 'list');
    expect(table.stdout.split('\n')[0].split(/\s{2,}/)).to.deep.equal([
      'ID',
      'VENDOR',
      'APP',
      'STATUS',
      'OUTCOME',
      'RUNS AT',
      'REQUESTED BY',
      'S3 PREFIXES',
    ]);
    expect(table.stdout.split('\n')[1]).to.include(id).and.to.include('scheduled').and.to.include('token:admin');

    const shown = await cli('project', 'show', id!);
    expect(shown.code, shown.stderr).to.equal(0);
    expect(shown.stdout)
      .to.include(`app               pinpoint ${APP}`)
      .and.to.include('status            scheduled   cancellable')
      .and.to.include('project_deletion.requested');

    const noReason = await cli('project', 'cancel', id!);
    expect(noReason.code).to.equal(2);
    expect(noReason.stderr).to.include('--reason is required');
    const cancelled = await cli('project', 'cancel', id!, '--reason', 'the contract was renewed', '--json');
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect(JSON.parse(cancelled.stdout)).to.include({
      id,
      status: 'cancelled',
      cancelReason: 'the contract was renewed',
    });
    const again = await cli('project', 'cancel', id!, '--reason', 'once more');
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include('was already cancelled').and.to.include('HTTP 409 already_cancelled');
    expect((await service.ledger.audit.auditTrail(id!)).map((e) => e.action)).to.deep.equal([
      'project_deletion.requested',
      'project_deletion.cancelled',
    ]);
  });

  it('refuses a confirmation that differs from the app id (exit 1, naming the field) and a missing --confirm as a usage error (exit 2, nothing sent)', async () => {
    const mismatch = await cli(
      'project',
      'delete',
      '--app',
      APP,
      '--confirm',
      `${APP}x`,
      '--reason',
      'typo in the confirmation',
    );
    expect(mismatch.code).to.equal(1);
    expect(mismatch.stderr)
      .to.include('HTTP 400 invalid_request')
      .and.to.include('confirmAppId must repeat appId exactly');
    const missing = await cli('project', 'delete', '--app', APP, '--reason', 'no confirmation');
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--confirm is required');
    const badGrace = await cli(
      'project',
      'delete',
      '--app',
      APP,
      '--confirm',
      APP,
      '--reason',
      'bad grace',
      '--grace-days',
      'soon',
    );
    expect(badGrace.code).to.equal(2);
    const action = await cli('project', 'explode');
    expect(action.code).to.equal(2);
    expect(action.stderr).to.include('unknown project action "explode"');
    expect(
      JSON.parse((await cli('project', 'list', '--json')).stdout).projectDeletions.filter(
        (d: { status: string }) => d.status === 'scheduled',
      ),
    ).to.deep.equal([]);
  });

  it('answers a viewer token with exit code 1 and the 403, and documents itself in --help', async () => {
    const viewer = await runCli(['project', 'list', '--url', service.url, '--token', VIEWER_TOKEN]);
    expect(viewer.code).to.equal(1);
    expect(viewer.stderr).to.include('HTTP 403 forbidden');
    const help = await runCli(['project', '--help']);
    expect(help.code).to.equal(0);
    expect(help.stdout)
      .to.match(/^usage: erasure project delete --app APP_ID --confirm APP_ID --reason REASON/)
      .and.to.include('--token TOKEN');
    expect((await runCli(['--help'])).stdout).to.match(/^ {2}project /m);
  });
});
