import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Every path in os.tmpdir() that this process made for the tests or the bench, with what must stop
 * before it goes. A fresh-clone CI run ran out of disk on what earlier runs had left in /tmp (a test
 * Postgres data dir alone is ~90 MB), so: each owner removes its dir when it stops for good (not on
 * a restart, which reuses it); the root hooks (test/support/root-hooks.ts) remove the rest once the
 * run ends, after a failed test too; and an exit handler removes what an aborted run left (SIGINT,
 * a crash). Only what this process made is touched: other runs on the machine share os.tmpdir().
 */
const made = new Map<string, { stopSync?: () => void }>();

/** A fresh dir `<os.tmpdir()>/<prefix>XXXXXX`, removed at the end of the run at the latest. */
export function makeTestTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  made.set(dir, {});
  return dir;
}

/** A file this process writes in os.tmpdir() (not in a dir of its own), removed like the dirs. */
export function removeAtRunEnd(file: string): void {
  if (!made.has(file)) made.set(file, {});
}

/**
 * What has to stop before `dir` may go when the run ends without its owner's stop (a server that
 * outlives this process, such as the test Postgres): synchronous, as it may run in an exit handler.
 */
export function stopBeforeRemoving(dir: string, stopSync: () => void): void {
  made.set(dir, { stopSync });
}

/** Removes one dir made by makeTestTempDir: for its owner's stop, once nothing uses it any more. */
export function removeTestTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  made.delete(dir);
}

/** Stops what still runs in them and removes every path this process made that is still there. */
export function removeTestTempDirs(): void {
  for (const [dir, { stopSync }] of made) {
    try {
      stopSync?.();
      removeTestTempDir(dir);
    } catch {
      // reported by leftoverTestTempDirs
    }
  }
}

/** Paths this process made that still exist. */
export function leftoverTestTempDirs(): string[] {
  return [...made.keys()].filter((dir) => existsSync(dir));
}

/** tsx's compile cache in os.tmpdir(): shared by every run of the user and kept on purpose (not a run's). */
const TSX_CACHE = `tsx-${process.geteuid?.() ?? os.userInfo().username}`;

/**
 * An empty dir to be a child process's os.tmpdir() (its TMPDIR), so a test can see everything the
 * child left there, but for a link to this run's tsx cache (a cold one costs a minute on a loaded
 * machine). The test Postgres (another user when root) must be able to reach into it.
 */
export function makeChildTmpDir(): string {
  const tmp = makeTestTempDir('erasure-child-tmp-');
  chmodSync(tmp, 0o711);
  const cache = path.join(os.tmpdir(), TSX_CACHE);
  if (existsSync(cache)) symlinkSync(cache, path.join(tmp, TSX_CACHE));
  return tmp;
}

/** What a child left in its makeChildTmpDir() dir. */
export function leftInChildTmpDir(tmp: string): string[] {
  return readdirSync(tmp).filter((name) => name !== TSX_CACHE);
}

// The net for a run that ends without the root hooks. Redis children are killed by listeners that
// run before this one (src/stores/embedded-redis.ts), Postgres by its stopSync.
process.on('exit', removeTestTempDirs);
