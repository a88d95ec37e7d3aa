import { stopSharedServices } from './services.js';

/** Mocha root hooks: shared servers started lazily by tests are stopped once the run ends. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context) {
    this.timeout(30_000);
    await stopSharedServices();
  },
};
