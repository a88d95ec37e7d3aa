import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { killWithParent } from './kill-with-parent.js';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** `erasure worker --queues <queues>` as its own process; resolves once it is consuming. */
export function startWorkerProcess(env: Record<string, string>, queues = 'pinpoint'): Promise<ChildProcess> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/erasure.mjs'), 'worker', '--queues', queues], {
    env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killWithParent(child);
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4000);
      if (output.includes('worker running on queues')) {
        child.off('exit', onExit);
        resolve(child);
      }
    };
    const onExit = (code: number | null) => {
      reject(new Error(`worker exited early (${code}):\n${output.slice(-2000)}`));
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
    child.once('exit', onExit);
  });
}
