import type { VendorQueueDefinition } from './queue-definition.js';

/** Job names of the App Center queue: one task per app and resource, and the shared batch jobs that serve them. */
export const APPCENTER_JOBS = {
  /** Task: a person's push devices in one app (by install id, or through the shared export). */
  eraseDevices: 'appcenter-erase-devices',
  /** Task: the audiences of one app that name a person. */
  deleteAudiences: 'appcenter-delete-audiences',
  /** Task: the push notifications of one app that name a person. */
  deleteNotifications: 'appcenter-delete-notifications',
  /** Shared batch: one device export per app and window, matched for every member, matches erased. */
  exportDevices: 'appcenter-export-devices',
  /** Shared batch: one listing of an app's audiences per window, matches deleted, read back. */
  sweepAudiences: 'appcenter-sweep-audiences',
  /** Shared batch: one reading of an app's notifications per window, matches deleted, read back. */
  sweepNotifications: 'appcenter-sweep-notifications',
} as const;

export const appcenterQueue = {
  name: 'appcenter',
  description:
    'Visual Studio App Center: push devices, audiences and notifications that name a person, limited to the configured App Center rate.',
  vendor: 'appcenter',
} as const satisfies VendorQueueDefinition;
