import { seedPerson, seededId } from '../seed.js';
import type { PinpointStore } from './pinpoint-store.js';

/** The seeded Pinpoint project's id: stable, so config and tests can name it. */
export const SANDBOX_PINPOINT_APP_ID = seededId('pinpoint-app', 'main');

/** The seeded segments: pro-plan users (DIMENSIONAL) and an imported newsletter list (IMPORT). */
export const SANDBOX_PINPOINT_SEGMENT_IDS = Object.freeze({
  proUsers: seededId('pinpoint-segment', 'pro-users'),
  newsletter: seededId('pinpoint-segment', 'newsletter'),
});

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
  seedSegments(store, app.Id, subjects, new Date(stamp));
  return { appId: app.Id };
}

/**
 * "pro-users" holds the endpoints of every odd-numbered person (user attribute plan = pro);
 * "newsletter" is an imported list of every fourth person's email endpoint, the kind of
 * segment an erasure has to find people in beside their user id.
 */
function seedSegments(store: PinpointStore, appId: string, subjects: number, at: Date): void {
  store.createSegment(
    appId,
    {
      SegmentType: 'DIMENSIONAL',
      Name: 'pro-users',
      Dimensions: { UserAttributes: { plan: { AttributeType: 'INCLUSIVE', Values: ['pro'] } } },
    },
    at,
    SANDBOX_PINPOINT_SEGMENT_IDS.proUsers,
  );
  const newsletter = store.createSegment(
    appId,
    {
      SegmentType: 'IMPORT',
      Name: 'newsletter',
      ImportDefinition: {
        Format: 'CSV',
        S3Url: 's3://erasure-sandbox-imports/newsletter.csv',
        RoleArn: 'arn:aws:iam::123456789012:role/pinpoint-import',
        Size: 0,
        ChannelCounts: {},
      },
    },
    at,
    SANDBOX_PINPOINT_SEGMENT_IDS.newsletter,
  );
  const { members } = newsletter;
  const importDefinition = newsletter.versions[0].ImportDefinition;
  if (!members || !importDefinition) throw new Error('an IMPORT segment has members and an import definition');
  for (let i = 0; i < subjects; i += 4) members.add(seededId('pinpoint-endpoint', i, 'EMAIL', 'user'));
  newsletter.versions[0].ImportDefinition = {
    ...importDefinition,
    Size: members.size,
    ChannelCounts: { EMAIL: members.size },
  };
}
