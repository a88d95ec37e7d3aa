import { AMPLITUDE_DEFAULTS, type AmplitudeSettings } from '../../vendors/amplitude-settings.js';
import type { VendorSandboxPlugin } from '../sandbox-plugins.js';

/** Amplitude's settings pointing at its simulator (sandbox mode): src/sandbox/sandbox-plugins.ts. */
export const amplitudeSandboxPlugin: VendorSandboxPlugin<AmplitudeSettings> = {
  vendor: 'amplitude',
  sandboxSettings(sandbox, queueDefaults) {
    const { baseUrl, credentials } = sandbox.vendors.amplitude;
    // Amplitude's days run `speed` times faster in the sandbox: poll as often as 12 h of it pass (at least every 2 s).
    const speed = sandbox.clock.describe().speed;
    return {
      ...queueDefaults,
      ...AMPLITUDE_DEFAULTS,
      baseUrl,
      apiKey: credentials.apiKey,
      secretKey: credentials.secretKey,
      project: 'erasure-sandbox',
      batchWindowMs: 5_000,
      pollIntervalMs: Math.max(2_000, Math.round(AMPLITUDE_DEFAULTS.pollIntervalMs / speed)),
      manualTasks: [],
    };
  },
};
