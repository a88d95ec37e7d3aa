import { expect } from 'chai';
import { startTestService, waitFor, type TestService } from '../support/test-service.js';
import { DEFAULT_SEGMENT_TIMINGS } from '../../src/sandbox/segment/segment-store.js';
import { runCli, serviceFlags } from './run-cli.js';
import { freeTextDigest } from '../../src/privacy/free-text.js';

describe('erasure retry', function () {
  // Each command is a child process (about 0.3 s of CPU): generous on a busy machine.
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService();
  });
  after(async () => service?.close());

  const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);

  /** Submits through the CLI while Pinpoint answers 400 to everything, and waits until the request has failed. */
  async function failedPinpointRequest(userId: string): Promise<string> {
    service.sandbox!.faults.set('pinpoint', { badRequestRate: 1 });
    try {
      const res = await cli('submit', '--user-id', userId, '--vendor', 'pinpoint', '--json');
      expect(res.code, res.stderr).to.equal(0);
      const { id } = JSON.parse(res.stdout);
      await service.waitForRequest(id);
      expect((await service.ledger.requests.getRequest(id))!.status).to.equal('failed');
      return id;
    } finally {
      service.sandbox!.faults.set('pinpoint', { badRequestRate: 0 });
    }
  }

  const status = async (id: string) => (await service.ledger.requests.getRequest(id))!.status;

  it('lists a failed Pinpoint task on --dry-run without touching it, retries it without, and the audit trail holds the reason', async function () {
    const id = await failedPinpointRequest('user-5');
    const reason = 'Pinpoint 400s were a bad IAM policy, fixed in INC-4711';

    const dry = await cli('retry', '--vendor', 'pinpoint', '--dry-run', '--reason', reason);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.match(/^would retry 1 task\(s\) of 1 request\(s\) \(dry run: nothing changed\):/);
    const listed = dry.stdout.split('\n').find((l) => l.startsWith(id));
    expect(listed, 'the failed task is listed by request, task, vendor and action')
      .to.include(`${id}__pinpoint`)
      .and.to.include('pinpoint  delete-user-endpoints');
    expect(await status(id), 'a dry run changes nothing').to.equal('failed');
    const dryJson = JSON.parse(
      (await cli('retry', '--vendor', 'pinpoint', '--dry-run', '--reason', reason, '--json')).stdout,
    );
    expect(dryJson).to.deep.include({ dryRun: true, count: 1 });
    expect(dryJson.tasks[0]).to.include({ requestId: id, vendor: 'pinpoint', action: 'delete-user-endpoints' });
    expect(dryJson.tasks[0].error).to.be.a('string');

    const run = await cli('retry', '--vendor', 'pinpoint', '--reason', reason);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^retried 1 task\(s\) of 1 request\(s\):/);
    expect(run.stdout).to.include(id);
    await waitFor(async () => (await status(id)) === 'completed');

    const receipt = JSON.parse((await cli('receipt', id, '--json')).stdout);
    const retried = receipt.receipt.auditChain.find((e: { action: string }) => e.action === 'request.retried');
    // Issue 25 §3: the chain holds the reason's digest; the scrubbed text travels beside it.
    expect(retried.text.reason).to.equal(reason);
    expect(retried.detail.reasonSha256).to.match(/^[0-9a-f]{64}$/);
    expect(retried.actor).to.equal('token:admin');
    const again = await cli('retry', '--vendor', 'pinpoint', '--reason', reason);
    expect(again.stdout).to.equal('no failed task matches: nothing was retried\n');
  });

  it('retries one request by id, and every task failed since a time, each with its reason', async function () {
    const before = new Date(Date.now() - 1000).toISOString();
    const a = await failedPinpointRequest('user-6');
    const b = await failedPinpointRequest('user-7');

    const sinceDry = JSON.parse(
      (await cli('retry', '--since', before, '--dry-run', '--reason', 'outage over', '--json')).stdout,
    );
    expect(sinceDry.tasks.map((t: { requestId: string }) => t.requestId)).to.have.members([a, b]);
    const future = JSON.parse(
      (
        await cli(
          'retry',
          '--since',
          new Date(Date.now() + 60_000).toISOString(),
          '--dry-run',
          '--reason',
          'outage over',
          '--json',
        )
      ).stdout,
    );
    expect(future.count).to.equal(0);
    const allDry = JSON.parse((await cli('retry', '--all', '--dry-run', '--reason', 'outage over', '--json')).stdout);
    expect(
      allDry.tasks.map((t: { requestId: string }) => t.requestId),
      '--all lists every failed task',
    ).to.include.members([a, b]);

    const one = await cli('retry', a, '--reason', 'one request, checked by hand');
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.match(/^retried 1 task\(s\) of 1 request\(s\):/);
    await waitFor(async () => (await status(a)) === 'completed');
    expect(await status(b), 'only the named request is retried').to.equal('failed');

    const rest = await cli('retry', '--since', before, '--reason', 'everything since the outage');
    expect(rest.stdout).to.include(b).and.not.to.include(a);
    await waitFor(async () => (await status(b)) === 'completed');
    const trail = await service.ledger.audit.auditTrail(b);
    expect(trail.find((e) => e.action === 'request.retried')!.detail.reason).to.equal('everything since the outage');
  });

  it('refuses a retry without a reason or without saying what to retry (usage error, exit 2, nothing sent)', async () => {
    const noReason = await cli('retry', '--vendor', 'pinpoint');
    expect(noReason.code).to.equal(2);
    expect(noReason.stderr).to.include('--reason is required');
    const nothing = await cli('retry', '--reason', 'just because');
    expect(nothing.code).to.equal(2);
    expect(nothing.stderr).to.include('name what to retry');
    const allAndVendor = await cli('retry', '--all', '--vendor', 'pinpoint', '--reason', 'just because');
    expect(allAndVendor.code).to.equal(2);
    expect(allAndVendor.stderr).to.include('--all retries every failed task');
    const badTime = await cli('retry', '--since', 'yesterday', '--reason', 'just because');
    expect(badTime.code).to.equal(2);
    expect(badTime.stderr).to.include('--since must be an ISO 8601 time');
    const unknownVendor = await cli('retry', '--vendor', 'myspace', '--reason', 'just because');
    expect(unknownVendor.code, 'the service refuses an unknown vendor: exit 1').to.equal(1);
    expect(unknownVendor.stderr).to.include('vendor must be one of');
  });
});

describe('erasure retry --vendor segment', function () {
  this.timeout(120_000);
  let service: TestService;

  before(async () => {
    service = await startTestService({
      file: {
        sandbox: {
          subjects: 30,
          clockSpeed: 1,
          vendorOverrides: { segment: { batchWindowMs: 300, pollIntervalMs: 200, pollJitter: 0 } },
        },
      },
    });
  });
  after(async () => service?.close());

  const cli = (...args: string[]) => runCli([...args, ...serviceFlags(service)]);
  const store = () => service.sandbox!.segment.store;
  const status = async (id: string) => (await service.ledger.requests.getRequest(id))!.status;

  /** Lets Segment (sandbox clock) take the `count`-th regulation to its final status. */
  async function finishRegulation(count: number) {
    await waitFor(
      async () =>
        store().regulationsCreated >= count &&
        (service.sandbox!.stats.snapshot().segment?.operations.getRegulation?.calls ?? 0) >= count,
    );
    service.sandbox!.clock.advance(DEFAULT_SEGMENT_TIMINGS.finishAfterMs + 60_000);
  }

  async function failedSegmentRequest(userId: string): Promise<string> {
    store().planOutcomes(1, { status: 'FAILED', failingDestination: 'Mixpanel' });
    const regulation = store().regulationsCreated + 1;
    const submitted = await cli('submit', '--user-id', userId, '--vendor', 'segment', '--json');
    expect(submitted.code, submitted.stderr).to.equal(0);
    const { id } = JSON.parse(submitted.stdout);
    await finishRegulation(regulation);
    await service.waitForRequest(id);
    expect(await status(id)).to.equal('failed');
    return id;
  }

  it('lists a task of a FAILED Segment regulation on --dry-run without touching it, runs it again without, and audits the reason', async () => {
    const id = await failedSegmentRequest('user-9');
    const [task] = await service.ledger.tasks.getTasks(id);
    const reason = 'Mixpanel destination removed from the workspace';
    const dry = JSON.parse(
      (await cli('retry', '--vendor', 'segment', '--dry-run', '--reason', reason, '--json')).stdout,
    );
    expect(dry.tasks.map((t: { requestId: string; taskId: string }) => `${t.requestId}:${t.taskId}`)).to.deep.equal([
      `${id}:${task.id}`,
    ]);
    expect(await status(id), 'a dry run changes nothing').to.equal('failed');

    const retriedAt = Date.now();
    // Counted before the retry: the new regulation can be created before the CLI process has exited.
    const next = store().regulationsCreated + 1;
    const run = await cli('retry', '--vendor', 'segment', '--reason', reason);
    expect(run.code, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/^retried 1 task\(s\) of 1 request\(s\):/);
    const trail = await service.ledger.audit.auditTrail(id);
    // Issue 25 §3: the chained detail holds the reason's digest; the readable trail puts the text back beside it.
    expect(trail.find((e) => e.action === 'request.retried')!.detail).to.deep.equal({
      reason,
      reasonSha256: freeTextDigest(reason),
      tasks: [task.id],
    });
    // The task's job ran again: it joined a new regulation, which now finishes.
    expect(Date.now()).to.be.at.least(retriedAt);
    await finishRegulation(next);
    await waitFor(async () => (await status(id)) === 'completed_with_errors');
  });

  it('completes a retried Segment task through a new regulation', async () => {
    const id = await failedSegmentRequest('user-10');
    const regulation = store().regulationsCreated + 1;
    await cli('retry', '--vendor', 'segment', '--reason', 'Mixpanel fixed');
    await finishRegulation(regulation);
    await waitFor(async () => (await status(id)) === 'completed_with_errors');
  });
});
