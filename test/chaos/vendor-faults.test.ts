import { expect } from 'chai';
import { startTestService, type TestService } from '../support/test-service.js';
import { testPostgresUrl } from '../support/postgres.js';
import {
  awaitFinal,
  chaosPeople,
  endpointCounts,
  expectNothingLost,
  pause,
  submitPaced,
  tally,
} from './chaos-harness.js';

const SUBJECTS = 330;
/** Bounded so the chaos run stays within a few minutes (the issue asks for a minute of each). */
const ERROR_PHASE_MS = 12_000;
const STORM_MS = 10_000;

describe('Chaos: the vendor answers 30 % 500s, then a 429 storm', () => {
  let service: TestService;

  before(async function () {
    this.timeout(60_000);
    service = await startTestService({
      subjects: SUBJECTS,
      database: (await testPostgresUrl()) ? 'postgres' : 'pglite',
      // The shipped retry policy (5 attempts, exponential backoff from 1 s), not the fast test one.
      // The breaker is kept out of this scenario: at 30 % 500s two runs in three fail, so ten in a row
      // would pause Pinpoint through the storm this test is about (the breaker has its own tests).
      file: {
        jobs: { attempts: 5, backoffMs: 1000, lockDurationMs: 5000, stalledIntervalMs: 2000 },
        reconciler: { everyMs: 2000, staleAfterMs: 5000 },
        breaker: { consecutiveFailures: 1000 },
      },
    });
  });
  after(async () => {
    await service?.close();
  });

  it('ends every request final, each failure with the vendor answer as its reason, erases nobody twice, and spends no attempt on a 429', async function () {
    this.timeout(150_000);
    const sandbox = service.sandbox!;
    const { submitted, neighbours } = chaosPeople(SUBJECTS);
    const neighbourEndpoints = endpointCounts(sandbox.pinpoint, neighbours);
    sandbox.stats.reset();

    sandbox.faults.set('pinpoint', { errorRate: 0.3 });
    const submitting = submitPaced({
      url: service.url,
      token: service.adminToken,
      scenario: 'vendor-faults',
      people: submitted,
      perSecond: submitted.length / ((ERROR_PHASE_MS + STORM_MS) / 1000),
    });
    await pause(ERROR_PHASE_MS);
    sandbox.faults.set('pinpoint', { errorRate: 0, throttleForMs: STORM_MS });
    await pause(STORM_MS);
    sandbox.faults.clear('pinpoint');
    const submissions = await submitting;

    console.log(
      `      (bounded: ${ERROR_PHASE_MS / 1000} s of 30 % 500s and a ${STORM_MS / 1000} s 429 storm, instead of a minute each, to keep the chaos run within a few minutes)`,
    );
    const open = await awaitFinal(service.ledger, submissions.accepted.values(), 90_000);
    const calls = sandbox.stats.snapshot().pinpoint.total;
    const summary = await tally({
      scenario: 'vendor-faults',
      ledger: service.ledger,
      pinpoint: sandbox.pinpoint,
      submissions,
      neighbourEndpoints,
      sent: submitted,
      notes: {
        error_phase_s: ERROR_PHASE_MS / 1000,
        storm_s: STORM_MS / 1000,
        vendor_500s: calls.errors,
        vendor_429s: calls.throttled,
      },
    });
    expectNothingLost(summary, open, submitted);
    expect(calls.errors, 'the vendor did answer 500s').to.be.greaterThan(100);
    expect(calls.throttled, 'the vendor did answer 429s').to.be.greaterThan(100);
    for (const reason of summary.failureReasons.keys())
      expect(reason, 'a failure names the vendor call and its answer').to.match(/pinpoint .*500|InternalServerError/i);

    // A 429 costs no attempt: nobody's tasks ran out of attempts during the storm alone.
    const stormOnly = [...submissions.accepted.values()].slice(-Math.floor(submitted.length / 3));
    for (const id of stormOnly) {
      const [task] = await service.ledger.tasks.getTasks(id);
      expect(task.state, `a request submitted during the 429 storm (${id})`).to.equal('succeeded');
    }
  });
});
