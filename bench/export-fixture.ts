import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import { once } from 'node:events';
import { exportLine } from '../src/sandbox/pinpoint/pinpoint-export-work.js';
import { seedPerson, seededId } from '../src/sandbox/seed.js';
import type { PinpointEndpoint } from '../src/sandbox/pinpoint/pinpoint-store.js';
import type { ScanSubject } from '../src/vendors/pinpoint-export-scanner.js';

/**
 * A generated Pinpoint endpoint export (gzipped NDJSON, EndpointResponse per line, as the sandbox
 * writes it) with the sandbox's seeding pattern: person i has an EMAIL and an SMS endpoint under
 * user id `user-i`, every third person a GCM endpoint, every tenth an anonymous EMAIL endpoint.
 * Deterministic, so the file is cached and every run scans the same bytes.
 */
export interface ExportFixture {
  file: string;
  endpoints: number;
  people: number;
}

const APP_ID = seededId('bench-app', 'main');
const STAMP = new Date(Date.UTC(2025, 0, 1)).toISOString();

function endpointsOf(i: number): PinpointEndpoint[] {
  const p = seedPerson(i);
  const user = {
    UserId: p.userId,
    UserAttributes: { plan: [i % 2 ? 'pro' : 'free'], signup: [`2024-${String((i % 12) + 1).padStart(2, '0')}`] },
  };
  const make = (channel: string, address: string, withUser: boolean): PinpointEndpoint => ({
    Id: seededId('bench-endpoint', i, channel, withUser ? 'user' : 'anon'),
    ApplicationId: APP_ID,
    Address: address,
    ChannelType: channel,
    EndpointStatus: 'ACTIVE',
    OptOut: i % 17 === 0 ? 'ALL' : 'NONE',
    CohortId: String(i % 100),
    CreationDate: STAMP,
    EffectiveDate: STAMP,
    RequestId: seededId('bench-request', i, channel),
    Attributes: { source: ['signup-form'], interests: i % 3 ? ['news', 'offers'] : ['news'] },
    Metrics: { sessions: i % 50, purchases: i % 7 },
    Demographic: {
      Platform: channel === 'GCM' ? 'android' : 'web',
      Locale: i % 5 ? 'en_US' : 'de_DE',
      Timezone: 'Europe/Berlin',
      AppVersion: '4.2.1',
    },
    Location: {
      Country: i % 5 ? 'US' : 'DE',
      City: i % 5 ? 'Springfield' : 'Berlin',
      PostalCode: String(10000 + (i % 89999)),
      Latitude: 52.52,
      Longitude: 13.405,
    },
    User: withUser ? user : {},
  });
  const out = [make('EMAIL', p.email, true), make('SMS', p.phone, true)];
  if (i % 3 === 0) out.push(make('GCM', `fcm-token-${seededId('push', i)}`, true));
  if (i % 10 === 0) out.push(make('EMAIL', p.email, false));
  return out;
}

/** Writes (or reuses) an export of exactly `endpoints` endpoints. */
export async function exportFixture(cacheDir: string, endpoints: number): Promise<ExportFixture> {
  mkdirSync(cacheDir, { recursive: true });
  const file = path.join(cacheDir, `pinpoint-export-v1-${endpoints}.ndjson.gz`);
  const meta = `${file}.people`;
  let people = 0;
  if (existsSync(file) && existsSync(meta)) return { file, endpoints, people: Number(readFileSync(meta, 'utf8')) };
  const partial = `${file}.partial`;
  const gzip = createGzip({ level: 6 });
  const out = createWriteStream(partial);
  gzip.pipe(out);
  let written = 0;
  let text = '';
  while (written < endpoints) {
    for (const e of endpointsOf(people)) {
      if (written === endpoints) break;
      text += `${exportLine(e)}\n`;
      written += 1;
    }
    people += 1;
    if (text.length > 1 << 20) {
      if (!gzip.write(text)) await once(gzip, 'drain');
      text = '';
    }
  }
  gzip.end(text);
  await once(out, 'finish');
  renameSync(partial, file);
  writeFileSync(meta, String(people));
  return { file, endpoints, people };
}

/**
 * `count` people spread over the export, as scan subjects (normalised identifiers) and as the
 * `grep -F` patterns that find the same endpoints: the JSON key and quoted value, so `user4`
 * does not match `user42`. One in ten is somebody the export does not hold.
 */
export function fixtureSubjects(
  fixture: ExportFixture,
  count: number,
): { subjects: ScanSubject[]; grepPatterns: string[] } {
  const subjects: ScanSubject[] = [];
  const grepPatterns: string[] = [];
  const step = Math.max(1, Math.floor(fixture.people / count));
  for (let k = 0; k < count; k++) {
    const absent = k % 10 === 9;
    const p = seedPerson(absent ? fixture.people + k : (k * step + 7) % fixture.people);
    // A third by e-mail, a third by phone, a third by user id: the three ways an export is searched.
    const subject: ScanSubject =
      k % 3 === 0 ? { email: p.email } : k % 3 === 1 ? { phone: p.phone } : { userId: p.userId };
    subjects.push(subject);
    if (subject.userId) grepPatterns.push(`"UserId":${JSON.stringify(subject.userId)}`);
    else grepPatterns.push(`"Address":${JSON.stringify(subject.email ?? subject.phone)}`);
  }
  return { subjects, grepPatterns };
}
