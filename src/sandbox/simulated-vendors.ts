import type { SandboxVendorInfo } from './sandbox.js';

/**
 * What a process needs to know about the simulators it talks to: each vendor's description (as
 * `GET /sandbox` gives it) and the simulators' clock. A sandbox started in this process
 * (src/sandbox/sandbox.ts) is one; a shared `erasure sandbox` reached over HTTP
 * (src/sandbox/shared-sandbox.ts) is another. Connectors build their sandbox settings from it.
 */
export interface SimulatedVendors {
  vendors: Record<string, SandboxVendorInfo>;
  pinpoint: { appId: string };
  appcenter: { owner: string; app: string };
  clock: { now(): number; describe(): { speed: number } };
}
