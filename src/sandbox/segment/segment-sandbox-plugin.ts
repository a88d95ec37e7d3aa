import { SEGMENT_DEFAULTS, type SegmentSettings } from '../../vendors/segment-settings.js';
import type { VendorSandboxPlugin } from '../sandbox-plugins.js';

/** Segment's settings pointing at its simulator (sandbox mode): src/sandbox/sandbox-plugins.ts. */
export const segmentSandboxPlugin: VendorSandboxPlugin<SegmentSettings> = {
  vendor: 'segment',
  sandboxSettings(sandbox, queueDefaults) {
    const { baseUrl, credentials } = sandbox.vendors.segment;
    // Segment's time runs `speed` times faster in the sandbox: poll as often as an hour of it passes (at least every second).
    const speed = sandbox.clock.describe().speed;
    return {
      ...queueDefaults,
      ...SEGMENT_DEFAULTS,
      baseUrl,
      token: credentials.token,
      // A demo should not wait five minutes for its batch; the config default is for production traffic.
      batchWindowMs: 5_000,
      pollIntervalMs: Math.max(1000, Math.round(SEGMENT_DEFAULTS.pollIntervalMs / speed)),
    };
  },
};
