import type { SandboxClock } from '../sandbox-clock.js';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { listen, type ListeningServer } from '../vendor-http.js';
import { AppCenterStore } from './appcenter-store.js';
import { createAppCenterSimulator, type AppCenterSimulatorOptions } from './appcenter-simulator.js';
import { sandboxExportContainerSasUri, seedAppCenter } from './appcenter-seed.js';

/** The App Center simulator's options as `startSandbox({appcenter})` takes them. */
export type AppCenterSandboxOptions = Omit<AppCenterSimulatorOptions, 'store' | 'stats' | 'faults' | 'clock'>;

/** A seeded, listening App Center simulator, as `startSandbox` composes it. */
export interface StartedAppCenter {
  server: ListeningServer;
  store: AppCenterStore;
  owner: string;
  app: string;
  token: string;
  /** A SAS URL of the seeded blob container that device exports can write into. */
  exportContainerSasUri: string;
}

export async function startAppCenter(input: {
  options: AppCenterSandboxOptions | undefined;
  clock: SandboxClock;
  stats: SandboxStats;
  faults: FaultKnobs;
  subjects: number;
  /** Address to listen on. @defaultValue '127.0.0.1' */
  host?: string;
}): Promise<StartedAppCenter> {
  const store = new AppCenterStore();
  const seeded = seedAppCenter(store, input.subjects);
  const server = await listen(
    createAppCenterSimulator({ ...input.options, store, stats: input.stats, faults: input.faults, clock: input.clock }),
    0,
    input.host,
  );
  return { server, store, ...seeded, exportContainerSasUri: sandboxExportContainerSasUri(server.url) };
}
