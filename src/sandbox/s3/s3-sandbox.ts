import type { SandboxClock } from '../sandbox-clock.js';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { listen, type ListeningServer } from '../vendor-http.js';
import { S3Store } from './s3-store.js';
import { createS3Simulator, type S3SimulatorOptions } from './s3-simulator.js';
import { seedS3, type S3SandboxBuckets } from './s3-seed.js';

/** What `startSandbox({ s3 })` accepts: the simulator's options other than the shared parts it is given. */
export type S3SandboxOptions = Omit<S3SimulatorOptions, 'store' | 'stats' | 'faults'>;

export interface StartedS3 {
  server: ListeningServer;
  store: S3Store;
  buckets: S3SandboxBuckets;
}

/** Seeds an S3 store for `subjects` people and serves it; object timestamps follow the sandbox clock. */
export async function startS3(args: {
  options?: S3SandboxOptions;
  clock: SandboxClock;
  stats: SandboxStats;
  faults: FaultKnobs;
  subjects: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
  accessKeyId: string;
}): Promise<StartedS3> {
  const store = new S3Store({ now: () => args.clock.now() });
  const { buckets } = seedS3(store, args.subjects);
  const app = createS3Simulator({
    accessKeyId: args.accessKeyId,
    ...args.options,
    store,
    stats: args.stats,
    faults: args.faults,
  });
  return { server: await listen(app, 0, args.host), store, buckets };
}
