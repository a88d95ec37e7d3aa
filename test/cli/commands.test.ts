import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { startTestService, type TestService } from '../support/test-service.js';
import { runCli, serviceFlags } from './run-cli.js';

describe('erasure client commands', function () {
  // Each command is a child process (about 0.3 s of CPU): generous on a busy machine.
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);

  async function submitted(args: string[]): Promise<any> {
    const res = await cli('submit', ...args, '--json');
    expect(res.code, res.stderr).to.equal(0);
    return JSON.parse(res.stdout);
  }

  it('submits one request from flags, shows its status, and answers a repeated --request-id as a duplicate', async function () {
    const key = `cli-${randomUUID()}`;
    const text = await cli('submit', '--user-id', 'user-11', '--vendor', 'pinpoint', '--request-id', key);
    expect(text.code, text.stderr).to.equal(0);
    const id = /^accepted: request ([0-9a-f-]{36}) \(in_progress, due /.exec(text.stdout)?.[1];
    expect(id, text.stdout).to.be.a('string');
    await service.waitForRequest(id!);

    const status = await cli('status', id!);
    expect(status.code).to.equal(0);
    expect(status.stdout)
      .to.include(`request     ${id}`)
      .and.to.include('status      completed')
      .and.to.include('1/1 tasks done (100%)');
    expect(status.stdout.split('\n').find((l) => l.startsWith(`${id}__pinpoint`))).to.include('succeeded');
    expect(status.stdout).not.to.include('user-11');
    const json = JSON.parse((await cli('status', id!, '--json')).stdout);
    expect(json).to.deep.include({ id, status: 'completed' });

    const dup = await submitted(['--user-id', 'user-11', '--vendor', 'pinpoint', '--request-id', key]);
    expect(dup).to.deep.include({ outcome: 'duplicate', id });
  });

  it('answers a refused request with its field problems and exit code 1, and a missing identifier with a usage error', async () => {
    const bad = await cli('submit', '--email', 'not-an-email', '--user-id', 'user-12', '--vendor', 'pinpoint');
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.include('rejected:').and.to.include('subject.email must be an e-mail address');
    expect(bad.stderr).not.to.include('not-an-email');
    const none = await cli('submit', '--vendor', 'pinpoint');
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('name the person with at least one of --email');
  });

  it('lists requests with a status filter, following cursors up to --limit', async function () {
    const ids: string[] = [];
    for (const user of ['user-13', 'user-14', 'user-15'])
      ids.push((await submitted(['--user-id', user, '--vendor', 'pinpoint', '--grace-period', '1h'])).id);
    const listed = await cli('list', '--status', 'scheduled', '--limit', '3', '--page-size', '2', '--json');
    expect(listed.code, listed.stderr).to.equal(0);
    const doc = JSON.parse(listed.stdout);
    expect(doc.requests.map((r: { id: string }) => r.id)).to.deep.equal([...ids].reverse());
    expect(doc.more).to.equal(false);
    const two = JSON.parse((await cli('list', '--status', 'scheduled', '--limit', '2', '--json')).stdout);
    expect(two.requests).to.have.length(2);
    expect(two.more).to.equal(true);
    const text = await cli('list', '--status', 'scheduled', '--limit', '2');
    expect(text.stdout.split('\n')[0].split(/\s{2,}/)).to.deep.equal([
      'ID',
      'STATUS',
      'REGULATION',
      'VENDORS',
      'SUBMITTED',
      'DUE',
      'DAYS LEFT',
    ]);
    expect(text.stdout).to.include('2 request(s); more exist: raise --limit');
    const overdue = await cli('list', '--overdue');
    expect(overdue.stdout).to.equal('no requests\n');
    const badStatus = await cli('list', '--status', 'sleeping');
    expect(badStatus.code).to.equal(1);
    expect(badStatus.stderr).to.include('status must be one of');
  });

  it('cancels a request in its grace period with a reason, and refuses a second cancel with exit code 1', async () => {
    const { id } = await submitted(['--user-id', 'user-16', '--vendor', 'pinpoint', '--grace-period', '2h']);
    const noReason = await cli('cancel', id);
    expect(noReason.code).to.equal(2);
    const cancelled = await cli('cancel', id, '--reason', 'the person withdrew the request');
    expect(cancelled.code, cancelled.stderr).to.equal(0);
    expect(cancelled.stdout)
      .to.include('status      cancelled')
      .and.to.include('cancel: 1 task(s) stopped before they ran');
    const trail = await service.ledger.audit.auditTrail(id);
    expect(trail.find((e) => e.action === 'request.cancelled')!.detail.reason).to.equal(
      'the person withdrew the request',
    );
    const again = await cli('cancel', id, '--reason', 'twice');
    expect(again.code).to.equal(1);
    expect(again.stderr).to.include('HTTP 409 already_finished');
  });

  it('completes a waiting manual task with a note', async () => {
    const id = randomUUID();
    const taskId = `${id}__segment__manual`;
    const { request } = await service.ledger.requests.createRequest({
      id,
      regulation: 'gdpr',
      vendors: ['segment'],
      subject: { userId: 'user-17' },
      submittedAt: new Date(),
      dueAt: new Date(Date.now() + 86_400_000),
      tasks: [
        {
          id: taskId,
          vendor: 'segment',
          resource: 'workspace',
          action: 'request-source-deletion',
          queue: 'segment',
          jobName: 'manual',
          initialState: 'waiting_manual',
          waitingReason: 'ask Segment support',
        },
      ],
      actor: 'test',
    });
    await service.ledger.requests.markEnqueued(request.id);
    const noNote = await cli('task', 'complete', id, taskId);
    expect(noNote.code).to.equal(2);
    expect(noNote.stderr).to.include('--note is required');
    const done = await cli('task', 'complete', id, taskId, '--note', 'Segment ticket 8812: source deleted', '--json');
    expect(done.code, done.stderr).to.equal(0);
    const body = JSON.parse(done.stdout);
    expect(body.status).to.equal('completed');
    expect(body.tasks[0].evidence.note).to.equal('Segment ticket 8812: source deleted');
    const twice = await cli('task', 'complete', id, taskId, '--note', 'again');
    expect(twice.code).to.equal(1);
    const wrongAction = await cli('task', 'finish', id, taskId, '--note', 'x');
    expect(wrongAction.code).to.equal(2);
  });

  it('pauses and resumes a queue', async () => {
    const paused = await cli('queues', 'pause', 'pinpoint');
    expect(paused.code, paused.stderr).to.equal(0);
    expect(paused.stdout).to.equal('queue pinpoint is paused\n');
    expect(await service.queues.queue('pinpoint').isPaused()).to.equal(true);
    const resumed = JSON.parse((await cli('queues', 'resume', 'pinpoint', '--json')).stdout);
    expect(resumed).to.deep.equal({ queue: 'pinpoint', paused: false });
    expect(await service.queues.queue('pinpoint').isPaused()).to.equal(false);
    const unknown = await cli('queues', 'pause', 'myspace');
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.include('no queue myspace');
    expect((await cli('queues', 'drain', 'pinpoint')).code).to.equal(2);
  });

  it('names an unknown flag or command in a usage error (exit 2), and documents every command with --help', async () => {
    const flag = await cli('status', 'x', '--colour');
    expect(flag.code).to.equal(2);
    expect(flag.stderr).to.include('unknown flag --colour').and.to.include('erasure status --help');
    const missingValue = await runCli(['cancel', 'x', '--reason']);
    expect(missingValue.code).to.equal(2);
    expect(missingValue.stderr).to.include('--reason needs a value');
    const command = await runCli(['frobnicate']);
    expect(command.code).to.equal(2);
    expect(command.stderr).to.include('unknown command "frobnicate"');
    const json = await cli('status', '--json');
    expect(json.code).to.equal(2);
    expect(JSON.parse(json.stdout).error).to.deep.equal({ code: 'usage', message: 'status needs REQUEST_ID' });

    const help = await runCli(['--help']);
    expect(help.code).to.equal(0);
    for (const name of ['submit', 'status', 'list', 'retry', 'cancel', 'receipt', 'task', 'queues', 'start', 'worker'])
      expect(help.stdout).to.match(new RegExp(`^  ${name} `, 'm'));
    const names = ['submit', 'status', 'list', 'retry', 'cancel', 'receipt', 'task', 'queues'];
    const helps = await Promise.all(names.map((name) => runCli([name, '--help'])));
    helps.forEach((own, i) => {
      expect(own.code).to.equal(0);
      expect(own.stdout)
        .to.match(new RegExp(`^usage: erasure ${names[i]}`))
        .and.to.include('--token TOKEN');
    });
  });

  it('exits 3 when the service cannot be reached and 1 when it refuses the token', async () => {
    const down = await runCli(['status', randomUUID(), '--url', 'http://127.0.0.1:9', '--token', 'x'.repeat(20)]);
    expect(down.code).to.equal(3);
    expect(down.stderr).to.include('cannot reach http://127.0.0.1:9');
    const badToken = await runCli(['list', '--url', service.url, '--token', 'not-the-token-at-all']);
    expect(badToken.code).to.equal(1);
    expect(badToken.stderr).to.include('HTTP 401 unauthorized');
  });

  it('finds the service and token in ERASURE_URL and ERASURE_TOKEN, or the admin-token file of the data dir', async () => {
    const fromEnv = await runCli(['list', '--limit', '1'], {
      env: { ERASURE_URL: service.url, ERASURE_TOKEN: service.adminToken },
    });
    expect(fromEnv.code, fromEnv.stderr).to.equal(0);
    const fromFile = await runCli(['list', '--limit', '1'], {
      env: { ERASURE_URL: service.url, ERASURE_DATA_DIR: service.config.dataDir },
    });
    expect(fromFile.code, fromFile.stderr).to.equal(0);
    const flagWins = await runCli(['list', '--limit', '1', '--token', 'wrong-token-wrong-token'], {
      env: { ERASURE_URL: service.url, ERASURE_TOKEN: service.adminToken },
    });
    expect(flagWins.code).to.equal(1);
    const none = await runCli(['list'], {
      env: { ERASURE_URL: service.url, ERASURE_DATA_DIR: '/nonexistent-erasure-dir' },
    });
    expect(none.code).to.equal(2);
    expect(none.stderr).to.include('no API token');
  });
});
