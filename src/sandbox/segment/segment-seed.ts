import { seedPerson, seededId } from '../seed.js';
import { segmentId, type SegmentDestination, type SegmentStore } from './segment-store.js';

/** The workspace's Public API token the simulator accepts (Segment tokens start with `sgp_`). */
export const SANDBOX_SEGMENT_TOKEN = 'sgp_sandboxPublicApiToken000000000000000000000000';

/** Seeded source ids: stable, so config and tests can name them. */
export const SANDBOX_SEGMENT_SOURCES = Object.freeze({
  web: segmentId(seededId('segment-source', 'web')),
  ios: segmentId(seededId('segment-source', 'ios')),
  salesforce: segmentId(seededId('segment-source', 'salesforce')),
});

/** The cloud source's collections; a cloud-source regulation must name one. */
export const SANDBOX_SEGMENT_COLLECTIONS = ['contacts', 'leads'] as const;

const destination = (sourceKey: string, name: string, supportsDeletion: boolean): SegmentDestination => ({
  id: segmentId(seededId('segment-destination', sourceKey, name)),
  name,
  supportsDeletion,
});

export interface SegmentSeed {
  token: string;
  workspaceId: string;
  /** The event sources (source-scoped regulations). */
  sourceIds: string[];
  /** The cloud source (cloud-source regulations, with a collection). */
  cloudSourceIds: string[];
}

/**
 * Two event sources and one cloud source, each wired to destinations that do and do not take
 * deletions. Person i is user `user-i` in the web source (and the iOS source when i is even) with
 * an anonymous id of their own, and a Salesforce contact object; beside them sit guests
 * (`guest-i`, not seeded people) with data in the same sources.
 */
export function seedSegment(store: SegmentStore, subjects: number): SegmentSeed {
  const { web, ios, salesforce } = SANDBOX_SEGMENT_SOURCES;
  store.addSource({
    id: web,
    name: 'Website',
    kind: 'event',
    collections: [],
    destinations: [
      destination('web', 'Amplitude', true),
      destination('web', 'Webhooks', true),
      destination('web', 'Mixpanel', false),
    ],
  });
  store.addSource({
    id: ios,
    name: 'iOS app',
    kind: 'event',
    collections: [],
    destinations: [
      destination('ios', 'Amplitude', true),
      destination('ios', 'Braze', true),
      destination('ios', 'Google Ads (Classic)', false),
    ],
  });
  store.addSource({
    id: salesforce,
    name: 'Salesforce',
    kind: 'cloud',
    collections: [...SANDBOX_SEGMENT_COLLECTIONS],
    destinations: [],
  });
  for (let i = 0; i < subjects; i++) {
    const p = seedPerson(i);
    const traits = { email: p.email, phone: p.phone };
    store.addSubjectEvents('USER_ID', p.userId, web, 10 + (i % 7), traits);
    if (i % 2 === 0) store.addSubjectEvents('USER_ID', p.userId, ios, 5 + (i % 3), traits);
    store.addSubjectEvents('ANONYMOUS_ID', anonymousIdOf(i), web, 3);
    store.addSubjectEvents('OBJECT_ID', salesforceContactId(i), salesforce, 1, { email: p.email });
    store.addSubjectEvents('USER_ID', `guest-${i}`, web, 4 + (i % 5), { email: `guest${i}@example.org` });
  }
  return {
    token: SANDBOX_SEGMENT_TOKEN,
    workspaceId: store.workspaceId,
    sourceIds: [web, ios],
    cloudSourceIds: [salesforce],
  };
}

/** Person i's anonymous id in the web source (a UUID, as analytics.js makes them). */
export function anonymousIdOf(index: number): string {
  const hex = seededId('segment-anonymous', index);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Person i's Salesforce contact id (18 characters, as Salesforce ids are). */
export function salesforceContactId(index: number): string {
  return `003${seededId('segment-salesforce-contact', index).slice(0, 15)}`;
}
