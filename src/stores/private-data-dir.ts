import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';

/**
 * Data at rest is private (issue 25 §4): the data dir is 0700 and every file in it 0600.
 * `process.umask(0o077)` makes every file this process and its children create from now on
 * owner-only (PGlite's files and WAL, the redis-server child's AOF and RDB, generated secrets,
 * certificates, logs); the walk fixes what an earlier version left readable. Symlinks are left
 * alone (chmod would follow them out of the dir).
 */
export function makeDataDirPrivate(dataDir: string): void {
  // Worker threads cannot set the umask (it is the process's); there the walks below still apply.
  if (isMainThread) process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tighten(dataDir);
}

/**
 * Owner-only modes for everything under `dir`. PGlite unpacks its initial database with explicit
 * chmods (0666, which no umask reaches), so the service runs this again once the ledger is open.
 */
export function tighten(dir: string): void {
  chmodSync(dir, 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) tighten(full);
    else if (entry.isFile() && (lstatSync(full).mode & 0o077) !== 0) chmodSync(full, 0o600);
  }
}
