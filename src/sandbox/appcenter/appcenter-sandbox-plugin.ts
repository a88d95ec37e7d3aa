import { withAppCenterDefaults, type AppCenterSettings } from '../../vendors/appcenter-settings.js';
import type { VendorSandboxPlugin } from '../sandbox-plugins.js';
import { APPCENTER_DEFAULT_RATE } from './appcenter-simulator.js';

/** App Center's settings pointing at its simulator (sandbox mode): src/sandbox/sandbox-plugins.ts. */
export const appcenterSandboxPlugin: VendorSandboxPlugin<AppCenterSettings> = {
  vendor: 'appcenter',
  sandboxSettings(sandbox, queueDefaults) {
    const info = sandbox.vendors.appcenter;
    return withAppCenterDefaults({
      ...queueDefaults,
      // The simulator allows APPCENTER_DEFAULT_RATE calls per second per operation; pace to that.
      rateLimit: { max: APPCENTER_DEFAULT_RATE, durationMs: 1000 },
      baseUrl: info.baseUrl,
      apiToken: info.credentials.apiToken,
      owner: sandbox.appcenter.owner,
      apps: [sandbox.appcenter.app],
      exportContainerSasUri: String(info.exportContainerSasUri),
      // Devices by install id only: an export runs two sandbox minutes, which at the tests' clock
      // speed (1) is two real minutes for any request with an e-mail. Configure App Center against
      // the simulator (`customProperties: {email: ['email'], userId: ['user_id']}`) to match by them.
      customProperties: {},
      deviceExport: { windowMs: 2000, maxMembers: 5000, pollMs: 1000 },
      sweep: { windowMs: 500, maxMembers: 1000 },
    });
  },
};
