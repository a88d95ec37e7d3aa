import type { SandboxClock } from '../sandbox-clock.js';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { listen, type ListeningServer } from '../vendor-http.js';
import { AmplitudeStore, type AmplitudeSchedule } from './amplitude-store.js';
import { createAmplitudeSimulator, type AmplitudeSimulatorOptions } from './amplitude-simulator.js';
import { seedAmplitude, type SeededAmplitudeProject } from './amplitude-seed.js';

/** `startSandbox({ amplitude })`: the simulator's switches (applied to both hosts) and the job schedule. */
export type AmplitudeSandboxOptions = Omit<AmplitudeSimulatorOptions, 'store' | 'stats' | 'faults' | 'region'> & {
  /** How deletion batches are timed on the sandbox clock. */
  schedule?: Partial<AmplitudeSchedule>;
};

/** The running Amplitude hosts (US and EU) over one seeded store. */
export interface StartedAmplitude {
  store: AmplitudeStore;
  server: ListeningServer;
  euServer: ListeningServer;
  projects: { main: SeededAmplitudeProject; web: SeededAmplitudeProject; eu: SeededAmplitudeProject };
}

/** Seeds the store and starts the US host and the EU-residency host on their own loopback ports. */
export async function startAmplitude(input: {
  options?: AmplitudeSandboxOptions;
  clock: SandboxClock;
  stats: SandboxStats;
  faults: FaultKnobs;
  subjects: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
}): Promise<StartedAmplitude> {
  const { schedule, ...simulatorOptions } = input.options ?? {};
  const store = new AmplitudeStore(() => input.clock.now(), schedule);
  const projects = seedAmplitude(store, input.subjects);
  const common = { ...simulatorOptions, store, stats: input.stats, faults: input.faults };
  const server = await listen(createAmplitudeSimulator({ ...common, region: 'us' }), 0, input.host);
  const euServer = await listen(createAmplitudeSimulator({ ...common, region: 'eu' }), 0, input.host);
  return { store, server, euServer, projects };
}
