// Mocha's spec reporter plus one closing line in the plain form CI reads:
//   "N passed, N failed"                                   nothing skipped
//   "N passed, N failed, N skipped (reason: n; reason: n)" a suite part could not run here
//   "N passed, N failed (N of them skipped, which CI=true counts as failed: reason: n; …)"
// A skip's reason is the `skipReason` that test/support/skip.ts sets on the test or on a suite
// around it. With CI=true (.ci/run sets it) a skip is a failure, so CI cannot pass on half a suite:
// the skips are added to the failures mocha exits with.
const Mocha = require('mocha');

const NO_REASON = 'no reason given';

function reasonOf(test) {
  for (let node = test; node; node = node.parent) if (node.skipReason) return node.skipReason;
  return NO_REASON;
}

class SummaryReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const reasons = new Map();
    runner.on('pending', (test) => {
      const reason = reasonOf(test);
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    });
    // Registered before Runner#run's own 'end' listener, so the failures it exits with include these.
    runner.once('end', () => {
      const { passes, failures, pending } = this.stats;
      const why = [...reasons].map(([reason, count]) => `${reason}: ${count}`).join('; ');
      let line = `${passes} passed, ${failures} failed${pending ? `, ${pending} skipped (${why})` : ''}`;
      if (pending && process.env.CI === 'true') {
        runner.failures += pending;
        line = `${passes} passed, ${failures + pending} failed (${pending} of them skipped, which CI=true counts as failed: ${why})`;
      }
      process.stdout.write(`\n${line}\n`);
    });
  }
}

module.exports = SummaryReporter;
