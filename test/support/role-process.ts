import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { killWithParent } from './kill-with-parent.js';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A service role (`erasure sandbox | api | worker …`) running as its own OS process. */
export interface RoleProcess {
  child: ChildProcess;
  /** The first match of `ready` in its output (e.g. the URL it printed). */
  ready: RegExpExecArray;
  /** The last few kB of its stdout and stderr, for failure messages. */
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawns `erasure <args>` and resolves once its output matches `ready` (rejects if it exits first or takes over `timeoutMs`). */
export function startRoleProcess(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 45_000,
): Promise<RoleProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/erasure.mjs'), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killWithParent(child);
  let output = '';
  const append = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8000));
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const stop = async (graceMs = 10_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`erasure ${args.join(' ')} not ready within ${timeoutMs} ms:\n${output.slice(-2000)}`));
    }, timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`erasure ${args.join(' ')} exited early (${code}):\n${output.slice(-2000)}`));
    };
    const onData = () => {
      const match = ready.exec(output);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout.off('data', onData);
      child.stderr.off('data', onData);
      resolve({ child, ready: match, output: () => output, stop });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', onExit);
  });
}
