import { pinpointSandboxPlugin } from '../src/sandbox/pinpoint/pinpoint-sandbox-plugin.js';
import { performance } from 'node:perf_hooks';
import { startSandbox, type Sandbox, type SandboxOptions } from '../src/sandbox/sandbox.js';
import { VENDOR_QUEUE_DEFAULTS } from '../src/connectors/registry.js';
import { createPinpointClient, type PinpointClient } from '../src/vendors/pinpoint-client.js';

/**
 * The `direct` baseline: what a user would script instead of erasure. Per person, the calls the
 * seed's Pinpoint procedure makes and `jobs/delete-user-endpoints.ts` makes too: GetUserEndpoints,
 * DeleteUserEndpoints when something was found, GetUserEndpoints again to read back. Same client
 * (src/vendors/pinpoint-client.ts, built the way the service's sandbox mode builds it), same
 * simulator options, same concurrency; no queue, no ledger, no call metrics.
 */
export interface DirectPinpoint {
  sandbox: Sandbox;
  client: PinpointClient;
  appId: string;
  /** Erases one person by user id; throws when the read-back still lists endpoints. */
  eraseByUserId(userId: string): Promise<{ found: number }>;
  close(): Promise<void>;
}

export async function startDirectPinpoint(options: {
  subjects: number;
  clockSpeed: number;
  sandbox?: SandboxOptions;
}): Promise<DirectPinpoint> {
  // A simulator of its own, seeded like the service's: the service's run has already erased its people.
  const sandbox = await startSandbox({
    ...options.sandbox,
    subjects: options.subjects,
    clockSpeed: options.clockSpeed,
  });
  const client = createPinpointClient(pinpointSandboxPlugin.sandboxSettings(sandbox, VENDOR_QUEUE_DEFAULTS.pinpoint));
  const appId = sandbox.pinpoint.appId;
  return {
    sandbox,
    client,
    appId,
    async eraseByUserId(userId) {
      const found = await client.getUserEndpoints({ appId, userId });
      if (found.length > 0) await client.deleteUserEndpoints({ appId, userId });
      const left = await client.getUserEndpoints({ appId, userId });
      if (left.length > 0) throw new Error(`direct: the read-back still lists ${left.length} endpoint(s)`);
      return { found: found.length };
    },
    async close() {
      client.close();
      await sandbox.close();
    },
  };
}

/** Erases user-0 … user-{n-1} with `concurrency` loops each taking the next person; returns seconds and people found. */
export async function runDirectClosedLoop(
  direct: DirectPinpoint,
  n: number,
  concurrency: number,
): Promise<{ seconds: number; found: number; failed: number }> {
  let next = 0;
  let found = 0;
  let failed = 0;
  const started = performance.now();
  const loop = async () => {
    while (next < n) {
      const i = next++;
      try {
        if ((await direct.eraseByUserId(`user-${i}`)).found > 0) found++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, loop));
  return { seconds: (performance.now() - started) / 1000, found, failed };
}
