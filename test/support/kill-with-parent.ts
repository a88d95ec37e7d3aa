import type { ChildProcess } from 'node:child_process';

/**
 * A test run that ends abruptly (SIGINT, which test/support/root-hooks.ts turns into an exit) takes
 * the child with it, before the exit handlers of test/support/temp-dirs.ts remove the dirs it uses:
 * no orphaned service process keeps a port, a data dir or a Redis connection after the run.
 */
export function killWithParent(child: ChildProcess): void {
  const kill = () => child.kill('SIGKILL');
  process.prependOnceListener('exit', kill);
  child.once('exit', () => process.off('exit', kill));
}
