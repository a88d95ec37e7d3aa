import type { TaskSpec } from '../ledger/ledger-types.js';
import { subjectNeedles } from '../privacy/token-match.js';
import { createAppCenterClient, type AppCenterClient } from '../vendors/appcenter-client.js';
import { appcenterSettingsKeys, withAppCenterDefaults, type AppCenterSettings } from '../vendors/appcenter-settings.js';
import { appcenterQueue, APPCENTER_JOBS } from '../../queues/appcenter-queue.js';
import { appcenterEraseDevices } from '../../jobs/appcenter-erase-devices.js';
import { appcenterDeleteAudiences } from '../../jobs/appcenter-delete-audiences.js';
import { appcenterDeleteNotifications } from '../../jobs/appcenter-delete-notifications.js';
import { appcenterExportDevices, customPropertyKinds } from '../../jobs/appcenter-export-devices.js';
import { appcenterSweepAudiences } from '../../jobs/appcenter-sweep-audiences.js';
import { appcenterSweepNotifications } from '../../jobs/appcenter-sweep-notifications.js';
import { connectorQueue, UnplannableVendorError, type ConnectorJobs, type VendorConnector } from './connector.js';
import { taskId } from './task-id.js';

const APPCENTER_QUEUE_DEFAULTS = { rateLimit: { max: 10, durationMs: 1000 }, concurrency: 5, throttleDelayMs: 5000 };

const APPCENTER_CONNECTOR_JOBS: ConnectorJobs<AppCenterClient> = {
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
export const appcenterConnector: VendorConnector<AppCenterSettings, AppCenterClient> = {
  vendor: 'appcenter',
  queue: connectorQueue(appcenterQueue, APPCENTER_CONNECTOR_JOBS),
  jobs: APPCENTER_CONNECTOR_JOBS,
  settingsKeys: appcenterSettingsKeys,
  queueDefaults: APPCENTER_QUEUE_DEFAULTS,
  createClient: (settings, calls, _clock, budget) => createAppCenterClient(settings, calls, budget),
  plan(input, settings) {
    const full = withAppCenterDefaults(settings);
    const { subject } = input;
    const canSearch = subjectNeedles(subject).length > 0;
    const deviceReason =
      subject.installId || customPropertyKinds(subject, full).length > 0
        ? undefined
        : 'needs an install id, or an identifier held in a configured device custom property';
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
