import type { SandboxClock } from '../sandbox-clock.js';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { listen, type ListeningServer } from '../vendor-http.js';
import { SegmentStore, type SegmentStoreOptions } from './segment-store.js';
import { createSegmentSimulator, type SegmentSimulatorOptions } from './segment-simulator.js';
import { seedSegment, type SegmentSeed } from './segment-seed.js';

/** `startSandbox({ segment })`: the simulator's switches plus the regulations' timeline and final status. */
export type SegmentSandboxOptions = Omit<SegmentSimulatorOptions, 'store' | 'stats' | 'faults' | 'token'> &
  Omit<SegmentStoreOptions, 'clock'>;

/** The running Segment Public API over its seeded workspace. */
export interface StartedSegment extends SegmentSeed {
  store: SegmentStore;
  server: ListeningServer;
}

/** Seeds the workspace on the sandbox clock and starts the Public API on its own loopback port. */
export async function startSegment(input: {
  options?: SegmentSandboxOptions;
  clock: SandboxClock;
  stats: SandboxStats;
  faults: FaultKnobs;
  subjects: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
}): Promise<StartedSegment> {
  const { timings, finalStatus, workspaceId, unsupportedDestinationsOverall, ...simulatorOptions } =
    input.options ?? {};
  const store = new SegmentStore({
    clock: input.clock,
    timings,
    finalStatus,
    workspaceId,
    unsupportedDestinationsOverall,
  });
  const seed = seedSegment(store, input.subjects);
  const server = await listen(
    createSegmentSimulator({ ...simulatorOptions, store, stats: input.stats, faults: input.faults, token: seed.token }),
    0,
    input.host,
  );
  return { ...seed, store, server };
}
