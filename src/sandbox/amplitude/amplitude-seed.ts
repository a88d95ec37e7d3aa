import { seedPerson, seededId } from '../seed.js';
import type { AmplitudeStore } from './amplitude-store.js';

/** One seeded Amplitude project and the key pair that authenticates as it. */
export interface SeededAmplitudeProject {
  appId: number;
  name: string;
  apiKey: string;
  secretKey: string;
}

/** The main project: every seeded person has data here. Keys are 32 hex characters like Amplitude's. */
export const SANDBOX_AMPLITUDE_PROJECT: Readonly<SeededAmplitudeProject> = Object.freeze({
  appId: 187_520,
  name: 'erasure-sandbox',
  apiKey: seededId('amplitude-api-key', 'main'),
  secretKey: seededId('amplitude-secret-key', 'main'),
});

/** A second project of the same organisation, for org-wide deletes: every even person has data here too. */
export const SANDBOX_AMPLITUDE_WEB_PROJECT: Readonly<SeededAmplitudeProject> = Object.freeze({
  appId: 187_521,
  name: 'erasure-sandbox-web',
  apiKey: seededId('amplitude-api-key', 'web'),
  secretKey: seededId('amplitude-secret-key', 'web'),
});

/** A project with EU data residency, served only by the EU host; it holds other people only. */
export const SANDBOX_AMPLITUDE_EU_PROJECT: Readonly<SeededAmplitudeProject> = Object.freeze({
  appId: 287_520,
  name: 'erasure-sandbox-eu',
  apiKey: seededId('amplitude-api-key', 'eu'),
  secretKey: seededId('amplitude-secret-key', 'eu'),
});

const ORG_ID = 'sandbox-org';
const EU_ORG_ID = 'sandbox-org-eu';

/** Amplitude ID of person i in the web project (ids are per project). */
export const webAmplitudeId = (index: number): number => 200_000_000 + index;
/** Amplitude ID of person i's neighbour, `other-{i}`, in the main project. */
export const neighbourAmplitudeId = (index: number): number => 300_000_000 + index;

/**
 * Person i is known in the main project as `seedPerson(i).amplitudeId` with user id `user-i`,
 * beside a neighbour `other-i` and, for every fifth person, an anonymous device-only user (no user
 * id, so only its Amplitude ID can name it). Even persons also have data in the web project.
 */
export function seedAmplitude(
  store: AmplitudeStore,
  subjects: number,
): { main: SeededAmplitudeProject; web: SeededAmplitudeProject; eu: SeededAmplitudeProject } {
  const main = SANDBOX_AMPLITUDE_PROJECT;
  const web = SANDBOX_AMPLITUDE_WEB_PROJECT;
  const eu = SANDBOX_AMPLITUDE_EU_PROJECT;
  store.createProject({ ...main, orgId: ORG_ID });
  store.createProject({ ...web, orgId: ORG_ID });
  store.createProject({ ...eu, orgId: EU_ORG_ID, region: 'eu' });
  for (let i = 0; i < subjects; i++) {
    const p = seedPerson(i);
    store.addUser(main.appId, {
      amplitudeId: p.amplitudeId,
      userId: p.userId,
      deviceId: p.installId,
      events: 10 + (i % 7),
    });
    store.addUser(main.appId, {
      amplitudeId: neighbourAmplitudeId(i),
      userId: `other-${i}`,
      deviceId: seededId('amplitude-device', 'other', i),
      events: 3,
    });
    if (i % 5 === 0)
      store.addUser(main.appId, {
        amplitudeId: 400_000_000 + i,
        deviceId: seededId('amplitude-device', 'anon', i),
        events: 1,
      });
    if (i % 2 === 0)
      store.addUser(web.appId, { amplitudeId: webAmplitudeId(i), userId: p.userId, deviceId: p.installId, events: 4 });
  }
  for (let k = 0; k < 3; k++)
    store.addUser(eu.appId, { amplitudeId: 500_000_000 + k, userId: `eu-user-${k}`, events: 2 });
  return { main, web, eu };
}
