/**
 * Skips the running test, or from a `before` hook every test of its suite, with a reason that the
 * closing `N passed, N failed, N skipped` line of the run repeats (test/support/summary-reporter.cjs
 * reads `skipReason`). With CI=true that reporter counts each such skip as a failure.
 */
export function skipBecause(context: Mocha.Context, reason: string): never {
  const runnable = context.test;
  // In a hook `this.test` is the hook; its suite's tests are the ones skipped.
  const target = (runnable as { type?: string } | undefined)?.type === 'hook' ? runnable!.parent : runnable;
  if (target) (target as { skipReason?: string }).skipReason = reason;
  context.skip();
}
