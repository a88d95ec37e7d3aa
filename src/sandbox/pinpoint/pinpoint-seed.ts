import { seedPerson, seededId } from '../seed.js';
import type { PinpointStore } from './pinpoint-store.js';

/** The seeded Pinpoint project's id: stable, so config and tests can name it. */
export const SANDBOX_PINPOINT_APP_ID = seededId('pinpoint-app', 'main');

/**
 * Person i gets an EMAIL and an SMS endpoint under user id `user-i`, every third person a GCM
 * push endpoint too, and every tenth an extra email endpoint with no user id (an anonymous
 * sign-up): those can only be found by address, through an export.
 */
export function seedPinpoint(store: PinpointStore, subjects: number): { appId: string } {
  const app = store.createApp('erasure-sandbox', { env: 'sandbox' }, SANDBOX_PINPOINT_APP_ID);
  const stamp = new Date(Date.UTC(2025, 0, 1)).toISOString();
  for (let i = 0; i < subjects; i++) {
    const p = seedPerson(i);
    const user = { UserId: p.userId, UserAttributes: { plan: [i % 2 ? 'pro' : 'free'] } };
    const put = (channel: string, address: string, withUser: boolean) => {
      const id = seededId('pinpoint-endpoint', i, channel, withUser ? 'user' : 'anon');
      app.endpoints.set(id, {
        Id: id,
        ApplicationId: app.Id,
        Address: address,
        ChannelType: channel,
        EndpointStatus: 'ACTIVE',
        OptOut: 'NONE',
        CohortId: String(i % 100),
        CreationDate: stamp,
        EffectiveDate: stamp,
        Attributes: { source: ['seed'] },
        Demographic: { Platform: channel === 'GCM' ? 'android' : 'web', Locale: 'en_US' },
        Location: { Country: 'US' },
        User: withUser ? user : {},
      });
    };
    put('EMAIL', p.email, true);
    put('SMS', p.phone, true);
    if (i % 3 === 0) put('GCM', `fcm-token-${seededId('push', i)}`, true);
    if (i % 10 === 0) put('EMAIL', p.email, false);
  }
  return { appId: app.Id };
}
