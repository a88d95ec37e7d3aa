import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { testRedis } from './redis.js';
import { testPostgresUrl } from './postgres.js';
import { startTestService } from './test-service.js';

/**
 * A mocha run of its own for test/integration/test-temp-dirs.test.ts, which starts it with TMPDIR
 * set to an empty dir and checks that dir is empty again once the run is over. Not a `.test.ts`
 * file: `npm test` does not pick it up. TEMP_DIR_RUN=sigint waits to be stopped by a SIGINT.
 */

/** The pid in the first line of `file` in the dir of os.tmpdir() named `prefix…`, if there is one. */
function pidIn(prefix: string, file: string): number | undefined {
  const dir = readdirSync(os.tmpdir()).find((name) => name.startsWith(prefix));
  if (!dir) return undefined;
  return Number(readFileSync(path.join(os.tmpdir(), dir, file), 'utf8').split('\n')[0]);
}

/** What the parent test checks afterwards: what this run made, and the servers it started. */
function report(): void {
  const made = readdirSync(os.tmpdir());
  const pids = {
    redis: pidIn('erasure-test-redis-', 'redis.pid'),
    postgres: pidIn('erasure-test-pg-', 'data/postmaster.pid'),
  };
  process.stdout.write(`TEMP-DIR-RUN ${JSON.stringify({ made, pids })}\n`);
}

describe('a run that starts the shared servers and a service', function () {
  this.timeout(60_000);

  it('leaves its dirs in os.tmpdir() while it runs', async () => {
    await testRedis();
    await testPostgresUrl();
    const service = await startTestService();
    try {
      expect((await service.api('/v1/requests?limit=1')).status).to.equal(200);
      report();
      // Stopped by the parent's SIGINT, with the service still running.
      if (process.env.TEMP_DIR_RUN === 'sigint') await new Promise(() => undefined);
    } finally {
      await service.close();
    }
  });

  it('fails, as a test may', () => {
    expect.fail('a failed test does not keep the run from cleaning up');
  });
});
