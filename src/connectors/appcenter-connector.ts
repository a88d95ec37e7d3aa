import type { TaskSpec } from '../ledger/ledger-types.js';
import { subjectNeedles } from '../privacy/token-match.js';
import { APPCENTER_DEFAULT_RATE } from '../sandbox/appcenter/appcenter-simulator.js';
import { createAppCenterClient } from '../vendors/appcenter-client.js';
import { withAppCenterDefaults, type AppCenterSettings } from '../vendors/appcenter-settings.js';
import { appcenterQueue, APPCENTER_JOBS } from '../../queues/appcenter-queue.js';
import { appcenterEraseDevices } from '../../jobs/appcenter-erase-devices.js';
import { appcenterDeleteAudiences } from '../../jobs/appcenter-delete-audiences.js';
import { appcenterDeleteNotifications } from '../../jobs/appcenter-delete-notifications.js';
import { appcenterExportDevices, customPropertyKinds } from '../../jobs/appcenter-export-devices.js';
import { appcenterSweepAudiences } from '../../jobs/appcenter-sweep-audiences.js';
import { appcenterSweepNotifications } from '../../jobs/appcenter-sweep-notifications.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './pinpoint-connector.js';

const APPCENTER_CONNECTOR_JOBS: ConnectorJobs = {
  [APPCENTER_JOBS.eraseDevices]: { kind: 'task', processor: appcenterEraseDevices },
  [APPCENTER_JOBS.deleteAudiences]: { kind: 'task', processor: appcenterDeleteAudiences },
  [APPCENTER_JOBS.deleteNotifications]: { kind: 'task', processor: appcenterDeleteNotifications },
  [APPCENTER_JOBS.exportDevices]: { kind: 'batch', processor: appcenterExportDevices },
  [APPCENTER_JOBS.sweepAudiences]: { kind: 'batch', processor: appcenterSweepAudiences },
  [APPCENTER_JOBS.sweepNotifications]: { kind: 'batch', processor: appcenterSweepNotifications },
};

const RESOURCES = [
  { action: 'delete-devices', jobName: APPCENTER_JOBS.eraseDevices },
  { action: 'delete-audiences', jobName: APPCENTER_JOBS.deleteAudiences },
  { action: 'delete-notifications', jobName: APPCENTER_JOBS.deleteNotifications },
] as const;

/**
 * Visual Studio App Center: per configured app, one task each for the person's push devices, the
 * audiences and the notifications that name them. Devices need an install id, or an identifier a
 * configured custom property holds (found through the shared device export); audiences and
 * notifications are searched for the e-mail, user id, install id and phone.
 */
export const appcenterConnector: VendorConnector<AppCenterSettings, 'appcenter'> = {
  vendor: 'appcenter',
  queue: connectorQueue(appcenterQueue, APPCENTER_CONNECTOR_JOBS),
  jobs: APPCENTER_CONNECTOR_JOBS,
  clientKey: 'appcenter',
  createClient: (settings, calls, _clock, budget) => createAppCenterClient(settings, calls, budget),
  sandboxSettings(sandbox, queueDefaults) {
    const info = sandbox.vendors.appcenter;
    return withAppCenterDefaults({
      ...queueDefaults,
      // The simulator allows APPCENTER_DEFAULT_RATE calls per second per operation; pace to that.
      rateLimit: { max: APPCENTER_DEFAULT_RATE, durationMs: 1000 },
      baseUrl: info.baseUrl,
      apiToken: String(info.credentials.apiToken),
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
  plan(input, settings) {
    const full = withAppCenterDefaults(settings);
    const { subject } = input;
    const canSearch = subjectNeedles(subject).length > 0;
    const deviceReason = subject.installId || customPropertyKinds(subject, full).length > 0 ? undefined : 'needs an install id, or an identifier held in a configured device custom property';
    const reasons: Record<(typeof RESOURCES)[number]['action'], string | undefined> = {
      'delete-devices': deviceReason,
      'delete-audiences': canSearch ? undefined : 'needs an e-mail, user id, install id or phone to look for',
      'delete-notifications': canSearch ? undefined : 'needs an e-mail, user id, install id or phone to look for',
    };
    if (Object.values(reasons).every(Boolean) && input.vendorsExplicit) {
      throw new UnplannableVendorError('appcenter', 'needs an e-mail, user id, install id or phone');
    }
    return full.apps.flatMap((app) =>
      RESOURCES.map(({ action, jobName }): TaskSpec => {
        const resource = `app/${app}`;
        const reason = reasons[action];
        return {
          id: taskId(input.requestId, 'appcenter', action, resource),
          vendor: 'appcenter',
          resource,
          action,
          queue: appcenterQueue.name,
          jobName,
          ...(reason ? { initialState: 'skipped' as const, waitingReason: reason } : {}),
        };
      }),
    );
  },
};
