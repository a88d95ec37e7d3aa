import { seedPerson, seededId } from '../seed.js';
import {
  uuidFrom,
  type AppCenterApp,
  type AppCenterNotification,
  type AppCenterStore,
  type NotificationContent,
  type NotificationTarget,
} from './appcenter-store.js';

/** The seeded app: `/v0.1/apps/sandbox-org/erasure-sandbox/...`. */
export const SANDBOX_APPCENTER_OWNER = 'sandbox-org';
export const SANDBOX_APPCENTER_APP = 'erasure-sandbox';
/** A user API token: it reaches every app. */
export const SANDBOX_APPCENTER_API_TOKEN = 'sandbox-appcenter-user-token';
/** An app API token: it reaches only the seeded app. */
export const SANDBOX_APPCENTER_APP_TOKEN = 'sandbox-appcenter-app-token';
/** The customer's blob container for device exports, and the signature of its SAS URLs. */
export const SANDBOX_APPCENTER_EXPORT_CONTAINER = 'erasure-exports';
export const SANDBOX_APPCENTER_SAS_SIGNATURE = 'sandbox-sas-signature';

/** A container SAS URL for the seeded export container on the simulator at `baseUrl` (read, add, create, write, delete, list). */
export function sandboxExportContainerSasUri(baseUrl: string): string {
  const query = `sv=2022-11-02&sr=c&sp=racwdl&se=2099-12-31T00%3A00%3A00Z&sig=${SANDBOX_APPCENTER_SAS_SIGNATURE}`;
  return `${baseUrl}/blobs/${SANDBOX_APPCENTER_EXPORT_CONTAINER}?${query}`;
}

/** Person i has an email custom property on their device when this holds (user_id they always have). */
export const appCenterDeviceHasEmail = (i: number): boolean => i % 2 === 0;
/** Person i is named (user id in the definition, email in the description) by an audience of their own. */
export const appCenterPersonHasAudience = (i: number): boolean => i % 5 === 2;
/** A notification was sent to person i's user id (`user_ids_target`). */
export const appCenterPersonTargeted = (i: number): boolean => i % 4 === 1;
/** A notification's content (title, body or custom data) names person i's email. */
export const appCenterPersonInContent = (i: number): boolean => i % 6 === 3;

const GENERIC_AUDIENCES: Array<{ name: string; description: string; definition: string; enabled?: boolean }> = [
  { name: 'android-users', description: 'Every Android device', definition: "Platform eq 'Android'" },
  { name: 'ios-users', description: 'Every iOS device', definition: "Platform eq 'iOS'" },
  { name: 'pro-plan', description: 'Paying customers', definition: "CustomProperties/plan eq 'pro'" },
  { name: 'free-plan', description: 'Free tier', definition: "CustomProperties/plan eq 'free'" },
  { name: 'us-devices', description: 'Devices in the United States', definition: "CountryCode eq 'US'" },
  { name: 'de-devices', description: 'Devices in Germany', definition: "CountryCode eq 'DE'" },
  { name: 'app-v2', description: 'On version 2.x', definition: "AppVersion eq '2.0.0'" },
  { name: 'app-v1', description: 'Still on version 1.x', definition: "AppVersion eq '1.4.2'" },
  { name: 'tablet-owners', description: 'Tablets', definition: "DeviceType eq 'Tablet'" },
  { name: 'german-locale', description: 'German language', definition: "Locale eq 'de-DE'" },
  { name: 'beta-testers', description: 'Opted into beta', definition: 'CustomProperties/beta eq true' },
  {
    name: 'winback-2020',
    description: 'Lapsed users, 2020 campaign',
    definition: "CustomProperties/plan eq 'lapsed'",
    enabled: false,
  },
  {
    name: 'newsletter-optin',
    description: 'Opted into the newsletter',
    definition: 'CustomProperties/newsletter eq true',
  },
  {
    name: 'holiday-2020',
    description: 'Holiday promotion',
    definition: "CountryCode eq 'US' and CustomProperties/plan eq 'free'",
  },
  { name: 'power-users', description: 'Many sessions per day', definition: 'Sessions gt 10' },
];

const GENERIC_MESSAGES: Array<{ title: string; body: string }> = [
  { title: 'New features', body: 'Version 2 is here with a fresh look.' },
  { title: 'Weekly digest', body: 'Here is what happened this week.' },
  { title: 'Maintenance', body: 'We will be down for maintenance on Sunday.' },
  { title: 'Holiday sale', body: 'Everything is 20% off until Monday.' },
  { title: 'We miss you', body: 'Come back and see what is new.' },
  { title: 'Security update', body: 'Please update to the latest version.' },
];

/**
 * Seeds the app: a device per person (install id `seedPerson(i).installId`, custom properties
 * `user_id`, `plan`, and `email` for every other person) plus anonymous devices; audiences, most
 * generic, some naming a person, and some naming neighbours of a person's id (`user-29` beside
 * `user-2`) so matching must be on whole tokens; notifications, most broadcast, some sent to
 * people's user ids, some with a person's email in their content, a few archived.
 */
export function seedAppCenter(store: AppCenterStore, subjects: number): { owner: string; app: string; token: string } {
  const app = store.createApp(SANDBOX_APPCENTER_OWNER, SANDBOX_APPCENTER_APP);
  store.addToken(SANDBOX_APPCENTER_API_TOKEN, { kind: 'user' });
  store.addToken(SANDBOX_APPCENTER_APP_TOKEN, {
    kind: 'app',
    owner: SANDBOX_APPCENTER_OWNER,
    app: SANDBOX_APPCENTER_APP,
  });
  store.blobs.createContainer(SANDBOX_APPCENTER_EXPORT_CONTAINER, SANDBOX_APPCENTER_SAS_SIGNATURE);

  for (let i = 0; i < subjects; i++) {
    const p = seedPerson(i);
    store.putDevice(app, {
      install_id: p.installId,
      platform: i % 3 === 0 ? 'ios' : 'android',
      push_channel: `push-channel-${seededId('appcenter-push-channel', i)}`,
      app_version: i % 4 === 0 ? '1.4.2' : '2.0.0',
      custom_properties: {
        user_id: p.userId,
        plan: i % 2 ? 'pro' : 'free',
        ...(appCenterDeviceHasEmail(i) ? { email: p.email } : {}),
      },
    });
  }
  const anonymous = Math.max(3, Math.ceil(subjects / 4));
  for (let j = 0; j < anonymous; j++) {
    store.putDevice(app, {
      install_id: uuidFrom(seededId('appcenter-anonymous-device', j)),
      platform: j % 2 ? 'ios' : 'android',
      push_channel: `push-channel-${seededId('appcenter-anonymous-push-channel', j)}`,
      app_version: '2.0.0',
      custom_properties: { plan: 'free' },
    });
  }

  seedAudiences(store, app, subjects);
  seedNotifications(store, app, subjects);
  return { owner: SANDBOX_APPCENTER_OWNER, app: SANDBOX_APPCENTER_APP, token: SANDBOX_APPCENTER_API_TOKEN };
}

function seedAudiences(store: AppCenterStore, app: AppCenterApp, subjects: number): void {
  for (const generic of GENERIC_AUDIENCES) {
    store.putAudience(
      app,
      generic.name,
      { definition: generic.definition, description: generic.description, enabled: generic.enabled ?? true },
      0,
    );
  }
  // A suffix of nines as wide as `subjects` makes an id that starts with a person's id but is nobody's.
  const nines = '9'.repeat(String(subjects).length);
  for (let i = 0; i < subjects; i++) {
    if (!appCenterPersonHasAudience(i)) continue;
    const p = seedPerson(i);
    store.putAudience(
      app,
      `vip-${p.userId}`,
      { definition: `CustomProperties/user_id eq '${p.userId}'`, description: `Concierge list for ${p.email}` },
      0,
    );
    store.putAudience(
      app,
      `lookalike-${i}`,
      {
        definition: `CustomProperties/user_id eq '${p.userId}${nines}'`,
        description: 'Lookalike seed, one test account',
      },
      0,
    );
  }
}

function seedNotifications(store: AppCenterStore, app: AppCenterApp, subjects: number): void {
  const add = (
    key: string,
    index: number,
    content: NotificationContent,
    target: NotificationTarget,
    archived = false,
  ) => {
    const id = uuidFrom(seededId('appcenter-notification', key, index));
    const reached = target.type === 'broadcast_target' ? 1000 + ((index * 37) % 500) : (target.user_ids?.length ?? 1);
    const notification: AppCenterNotification = {
      notification_id: id,
      name: content.name,
      notification_target: target,
      send_time: new Date(
        Date.UTC(2020, 0, 1) + index * 86_400_000 + (key === 'generic' ? 0 : 3_600_000),
      ).toISOString(),
      pns_send_success: reached,
      pns_send_failure: index % 5,
      settledState: 'Completed',
      queuedUntil: 0,
      notification_content: content,
      failure_outcomes: index % 5 ? [{ pns_type: 'FCM', reason: 'InvalidToken', count: index % 5 }] : [],
      archived,
    };
    store.addNotification(app, notification);
  };

  const generic = Math.max(40, subjects * 2);
  for (let k = 0; k < generic; k++) {
    const message = GENERIC_MESSAGES[k % GENERIC_MESSAGES.length];
    add(
      'generic',
      k,
      {
        name: `campaign-${String(k).padStart(3, '0')}`,
        title: message.title,
        body: message.body,
        custom_data: { campaign: String(k) },
      },
      { type: 'broadcast_target' },
      k % 10 === 9,
    );
  }
  for (let i = 0; i < subjects; i++) {
    const p = seedPerson(i);
    if (appCenterPersonTargeted(i)) {
      add(
        'targeted',
        i,
        { name: `welcome-${p.userId}`, title: 'Welcome!', body: 'Thanks for signing up.' },
        { type: 'user_ids_target', user_ids: [p.userId] },
      );
    }
    if (appCenterPersonInContent(i)) {
      const variant = Math.floor(i / 6) % 3;
      const content: NotificationContent =
        variant === 0
          ? { name: `receipt-${i}`, title: `Receipt for ${p.email}`, body: 'Your order has shipped.' }
          : variant === 1
            ? { name: `reset-${i}`, title: 'Password reset', body: `A reset was requested for ${p.email}.` }
            : {
                name: `survey-${i}`,
                title: 'Quick survey',
                body: 'Tell us how we are doing.',
                custom_data: { email: p.email },
              };
      add('content', i, content, { type: 'broadcast_target' });
    }
  }
}
