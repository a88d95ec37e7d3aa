import { stopSharedServices } from './services.js';
import { leftoverTestTempDirs, removeTestTempDirs } from './temp-dirs.js';

// Ctrl-C (or a SIGTERM) would end the run without 'exit' listeners: exit instead, so the shared
// servers are stopped and this run's temp dirs removed (test/support/temp-dirs.ts).
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => process.exit(code));

/** Mocha root hooks: shared servers started lazily by tests are stopped once the run ends. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedServices();
    removeTestTempDirs();
    const leftover = leftoverTestTempDirs();
    if (leftover.length) throw new Error(`temp dirs of this run could not be removed: ${leftover.join(', ')}`);
  },
};
