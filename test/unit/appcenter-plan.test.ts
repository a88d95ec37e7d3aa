import { expect } from 'chai';
import { appcenterConnector } from '../../src/connectors/appcenter-connector.js';
import { UnplannableVendorError } from '../../src/connectors/connector.js';
import { withAppCenterDefaults, type AppCenterSettings } from '../../src/vendors/appcenter-settings.js';
import { appcenterQueue } from '../../queues/appcenter-queue.js';

const base = {
  rateLimit: { max: 10, durationMs: 1000 },
  concurrency: 5,
  throttleDelayMs: 5000,
  apiToken: 'token',
  owner: 'org',
  apps: ['ios-app', 'android-app'],
};
const byProperty: AppCenterSettings = withAppCenterDefaults({
  ...base,
  customProperties: { email: ['email'], userId: ['user_id'] },
  exportContainerSasUri: 'https://acct.blob.core.windows.net/exports?sig=x',
});
const installIdOnly: AppCenterSettings = withAppCenterDefaults(base);

const plan = (subject: Record<string, string>, settings: AppCenterSettings, vendorsExplicit = true) =>
  appcenterConnector.plan({ requestId: 'req-1', subject, vendorsExplicit }, settings);

describe('planning App Center tasks', () => {
  it('plans devices, audiences and notifications for every app, on the App Center queue', () => {
    const tasks = plan({ email: 'ann.lee@example.com' }, byProperty);
    expect(tasks.map((t) => `${t.resource} ${t.action}`)).to.deep.equal([
      'app/ios-app delete-devices',
      'app/ios-app delete-audiences',
      'app/ios-app delete-notifications',
      'app/android-app delete-devices',
      'app/android-app delete-audiences',
      'app/android-app delete-notifications',
    ]);
    for (const t of tasks) {
      expect(t.queue).to.equal(appcenterQueue.name);
      expect(appcenterConnector.queue.jobNames).to.include(t.jobName);
      expect(t.initialState).to.equal(undefined);
    }
    expect(new Set(tasks.map((t) => t.id)).size).to.equal(6);
  });

  it('puts no identifier in task ids', () => {
    for (const t of plan({ email: 'ann.lee@example.com', userId: 'user-4242' }, byProperty)) {
      expect(t.id).to.not.include('ann').and.not.include('4242');
    }
  });

  it('skips devices, with a reason, when neither an install id nor a configured custom property can find them', () => {
    const tasks = plan({ email: 'ann.lee@example.com' }, installIdOnly);
    const devices = tasks.filter((t) => t.action === 'delete-devices');
    expect(devices.map((t) => t.initialState)).to.deep.equal(['skipped', 'skipped']);
    expect(devices[0].waitingReason).to.match(/install id/);
    expect(tasks.filter((t) => t.action !== 'delete-devices').every((t) => t.initialState === undefined)).to.equal(
      true,
    );
  });

  it('plans devices by install id without any custom property configured', () => {
    const tasks = plan({ installId: '00000000-0000-4000-8000-00000000002a' }, installIdOnly);
    expect(tasks.every((t) => t.initialState === undefined)).to.equal(true);
  });

  it('refuses a request that names App Center with nothing it can look for', () => {
    expect(() => plan({ amplitudeId: '100000042' }, byProperty)).to.throw(UnplannableVendorError, /^appcenter: /);
  });

  it('skips every task, with reasons, when App Center was only included by default', () => {
    const tasks = plan({ amplitudeId: '100000042' }, byProperty, false);
    expect(tasks.map((t) => t.initialState)).to.deep.equal(Array(6).fill('skipped'));
    expect(tasks.every((t) => typeof t.waitingReason === 'string' && t.waitingReason.length > 0)).to.equal(true);
  });
});
