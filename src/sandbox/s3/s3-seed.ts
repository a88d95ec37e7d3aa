import { gzipSync } from 'node:zlib';
import { seedPerson, seededId } from '../seed.js';
import { SANDBOX_PINPOINT_APP_ID } from '../pinpoint/pinpoint-seed.js';
import type { S3Store } from './s3-store.js';

/** The seeded buckets, by role; stable names so config and tests can refer to them. */
export const S3_SANDBOX_BUCKETS = Object.freeze({
  /** Versioned: Pinpoint segment import files (CSV and NDJSON) and archived gzipped copies. */
  imports: 'sandbox-pinpoint-imports',
  /** Unversioned: endpoint exports someone made before versioning was a habit (gzipped NDJSON). */
  legacyExports: 'sandbox-legacy-exports',
  /** Versioned and empty: where our own Pinpoint export jobs write. */
  exports: 'sandbox-pinpoint-exports',
} as const);

export type S3SandboxBuckets = typeof S3_SANDBOX_BUCKETS;

/** Key prefixes inside the seeded buckets. */
export const S3_SEED_PREFIXES = Object.freeze({
  csvImports: 'segments/csv/',
  ndjsonImports: 'segments/ndjson/',
  archivedImports: 'archive/2024/',
  legacyExports: 'pinpoint-export/2023-11-30/',
} as const);

/** People per seeded file: every file holds many people's rows side by side. */
export const S3_SEED_PEOPLE_PER_FILE = 100;

const CSV_HEADER = 'ChannelType,Address,Id,User.UserId,User.UserAttributes.plan,Location.Country,Demographic.Platform';
const UPLOADED = new Date(Date.UTC(2024, 5, 1));
const EARLIER = new Date(Date.UTC(2024, 4, 1));
const EXPORTED = new Date(Date.UTC(2023, 10, 30));
const RETIRED = new Date(Date.UTC(2024, 6, 1));

/**
 * Seeds the buckets for `subjects` people, in files of 100 people (batch b holds people
 * 100b … 100b+99). Per batch, in the versioned imports bucket:
 * - `segments/csv/batch-NNNN.csv`: an EMAIL row per person and an SMS row for odd people. In even
 *   batches the file was re-uploaded without people whose index ends in 5, so their rows survive
 *   only in the older, noncurrent version;
 * - `segments/ndjson/batch-NNNN.json`: SMS rows, plus GCM rows for every third person;
 * - `archive/2024/batch-NNNN.json.gz`: a gzipped NDJSON copy of the EMAIL rows;
 * - even batches: `segments/ndjson/retired-batch-NNNN.json`, deleted since (a delete marker hides
 *   it from listings, its data is still a noncurrent version).
 * In the unversioned legacy bucket: one gzipped Pinpoint export file (EndpointResponse lines) per batch.
 * Endpoint ids are the ones the Pinpoint seed gives the same people.
 */
export function seedS3(store: S3Store, subjects: number): { buckets: S3SandboxBuckets } {
  const { imports, legacyExports, exports } = S3_SANDBOX_BUCKETS;
  store.createBucket(imports, { versioned: true });
  store.createBucket(legacyExports);
  store.createBucket(exports, { versioned: true });

  for (let batch = 0; batch * S3_SEED_PEOPLE_PER_FILE < subjects; batch++) {
    const first = batch * S3_SEED_PEOPLE_PER_FILE;
    const people = range(first, Math.min(first + S3_SEED_PEOPLE_PER_FILE, subjects));
    const name = `batch-${String(batch).padStart(4, '0')}`;
    const even = batch % 2 === 0;

    const csvKey = `${S3_SEED_PREFIXES.csvImports}${name}.csv`;
    if (even) store.putObject(imports, csvKey, csvFile(people), 'text/csv', { lastModified: EARLIER });
    const kept = even ? people.filter((i) => i % 10 !== 5) : people;
    store.putObject(imports, csvKey, csvFile(kept), 'text/csv', { lastModified: UPLOADED });

    const ndjson = people.flatMap((i) => [importLine(i, 'SMS'), ...(i % 3 === 0 ? [importLine(i, 'GCM')] : [])]);
    store.putObject(imports, `${S3_SEED_PREFIXES.ndjsonImports}${name}.json`, lines(ndjson), 'application/x-ndjson', {
      lastModified: UPLOADED,
    });

    const archived = gzipSync(lines(people.map((i) => importLine(i, 'EMAIL'))));
    store.putObject(imports, `${S3_SEED_PREFIXES.archivedImports}${name}.json.gz`, archived, 'application/gzip', {
      lastModified: EARLIER,
    });

    if (even) {
      const retiredKey = `${S3_SEED_PREFIXES.ndjsonImports}retired-${name}.json`;
      store.putObject(imports, retiredKey, lines(people.map((i) => importLine(i, 'EMAIL'))), 'application/x-ndjson', {
        lastModified: EARLIER,
      });
      store.deleteObject(imports, retiredKey, undefined, { lastModified: RETIRED });
    }

    const exported = gzipSync(lines(people.flatMap((i) => [exportLine(i, 'EMAIL'), exportLine(i, 'SMS')])));
    store.putObject(
      legacyExports,
      `${S3_SEED_PREFIXES.legacyExports}${seededId('s3-legacy-export', batch)}.gz`,
      exported,
      'application/octet-stream',
      {
        lastModified: EXPORTED,
      },
    );
  }
  return { buckets: S3_SANDBOX_BUCKETS };
}

type Channel = 'EMAIL' | 'SMS' | 'GCM';

function addressOf(i: number, channel: Channel): string {
  const p = seedPerson(i);
  if (channel === 'EMAIL') return p.email;
  if (channel === 'SMS') return p.phone;
  return `fcm-token-${seededId('push', i)}`;
}

/** The id the Pinpoint seed gives person i's endpoint on this channel. */
function endpointId(i: number, channel: Channel): string {
  return seededId('pinpoint-endpoint', i, channel, 'user');
}

const plan = (i: number) => (i % 2 ? 'pro' : 'free');

function csvFile(people: number[]): Buffer {
  const rows = people.flatMap((i) => (i % 2 ? ['EMAIL', 'SMS'] : ['EMAIL']).map((c) => csvRow(i, c as Channel)));
  return Buffer.from(`${[CSV_HEADER, ...rows].join('\n')}\n`, 'utf8');
}

function csvRow(i: number, channel: Channel): string {
  return [
    channel,
    addressOf(i, channel),
    endpointId(i, channel),
    seedPerson(i).userId,
    plan(i),
    'US',
    channel === 'GCM' ? 'android' : 'web',
  ].join(',');
}

/** A segment import line: the nested JSON form of the CSV columns (vendor-contracts §1.7). */
function importLine(i: number, channel: Channel): object {
  return {
    ChannelType: channel,
    Address: addressOf(i, channel),
    Id: endpointId(i, channel),
    Location: { Country: 'US' },
    Demographic: { Platform: channel === 'GCM' ? 'android' : 'web' },
    User: { UserId: seedPerson(i).userId, UserAttributes: { plan: [plan(i)] } },
  };
}

/** A Pinpoint export line: EndpointResponse fields (vendor-contracts §1.6). */
function exportLine(i: number, channel: Channel): object {
  const stamp = EXPORTED.toISOString();
  return {
    ChannelType: channel,
    Address: addressOf(i, channel),
    EndpointStatus: 'ACTIVE',
    OptOut: 'NONE',
    EffectiveDate: stamp,
    Attributes: { source: ['seed'] },
    User: { UserId: seedPerson(i).userId, UserAttributes: { plan: [plan(i)] } },
    ApplicationId: SANDBOX_PINPOINT_APP_ID,
    Id: endpointId(i, channel),
    CohortId: String(i % 100),
    CreationDate: stamp,
  };
}

function lines(objects: object[]): Buffer {
  return Buffer.from(objects.map((o) => `${JSON.stringify(o)}\n`).join(''), 'utf8');
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, k) => from + k);
}
