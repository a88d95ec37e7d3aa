import { randomBytes } from 'node:crypto';
import type { VendorClients } from '../connectors/processor-contract.js';
import { appcenterExportDevices } from '../../jobs/appcenter-export-devices.js';
import { scanS3Prefix } from '../../jobs/scan-s3-prefix.js';
import { deleteUserEndpoints } from '../../jobs/delete-user-endpoints.js';
import { submitDeletions, type SubmittedMember } from '../../jobs/amplitude-submit-deletions.js';
import type { VendorSettingsMap } from '../vendors/vendor-settings.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { locationResource } from '../vendors/s3-settings.js';
import type { PinpointClient } from '../vendors/pinpoint-client.js';
import type { S3VendorClient } from '../vendors/s3-client.js';
import type { AmplitudeClient } from '../vendors/amplitude-client.js';
import type { AppCenterClient } from '../vendors/appcenter-client.js';
import type { VendorCheck } from './vendor-preflight.js';
import { failure, keep, realWait, runAlone, shown } from './canary-runs.js';
import { segmentCanary } from './canary-segment.js';

/**
 * Canaries: a synthetic person, planted where the vendor takes writes, erased through the same job
 * processors requests use (jobs/), then read back. A canary is not a request: it has no ledger
 * record, receipt or deadline, and runs the processors directly with its evidence in memory. A
 * canary that fails, or whose vendor answers in a format the jobs do not expect (drift), is a
 * failed check (`canary`), which the health monitor reports, logs and hands to `onCanaryFailed`.
 */
export interface CanaryInput {
  vendors: Partial<VendorSettingsMap>;
  clients: VendorClients;
  /** Which vendors run a canary (`preflight.canaries`). */
  enabled: readonly VendorName[];
  /** Moves the vendor's time on between runs of a batch (the sandbox's clock), or waits in real time. */
  waitForVendor?: (ms: number) => Promise<void>;
  /**
   * What a canary left running at the vendor for a later run to finish (a Segment regulation on a
   * real workspace takes hours to days). The caller keeps one object across runs (src/service.ts).
   */
  carry?: CanaryCarry;
  signal?: AbortSignal;
}

/** A Segment canary regulation still at work: the batch evidence `poll-regulation` resumes from (regulateId, no user id). */
export interface CanaryCarry {
  segment?: { evidence: Record<string, unknown>; startedAt: string };
}

/** Runs each enabled vendor's canary; a vendor whose API takes no writes the jobs could read back says so (warn). */
export async function runCanaries(input: CanaryInput): Promise<VendorCheck[]> {
  const wait = input.waitForVendor ?? realWait;
  const checks: VendorCheck[] = [];
  for (const vendor of input.enabled) {
    try {
      const { vendors, clients } = input;
      if (vendor === 'pinpoint' && vendors.pinpoint && clients.pinpoint?.putEndpoint)
        checks.push(...(await pinpointCanary(input, vendors.pinpoint, clients.pinpoint)));
      else if (vendor === 's3' && vendors.s3 && clients.s3)
        checks.push(...(await s3Canary(input, vendors.s3, clients.s3, wait)));
      else if (vendor === 'appcenter' && vendors.appcenter && clients.appcenter)
        checks.push(...(await appcenterCanary(input, vendors.appcenter, clients.appcenter, wait)));
      else if (vendor === 'amplitude' && vendors.amplitude && clients.amplitude)
        checks.push(...(await amplitudeCanary(input, vendors.amplitude, clients.amplitude, wait)));
      else if (vendor === 'segment' && vendors.segment && clients.segment)
        checks.push(...(await segmentCanary(input, vendors.segment, clients.segment)));
      else
        checks.push({
          vendor,
          check: 'canary',
          status: 'warn',
          detail: `no canary for ${vendor}: its API offers no write the erasure jobs could read back in time`,
        });
    } catch (err) {
      checks.push({ vendor, check: 'canary', status: 'fail', detail: `canary ${failure(err)}` });
    }
  }
  return checks;
}

/**
 * Pinpoint: plants two e-mail endpoints for a synthetic user id in the first app (UpdateEndpoint),
 * erases that user with `delete-user-endpoints` and reads back: both must be reported deleted and
 * GetUserEndpoints must find none; a neighbour endpoint planted beside them must survive.
 */
async function pinpointCanary(
  input: CanaryInput,
  settings: NonNullable<VendorSettingsMap['pinpoint']>,
  pinpoint: PinpointClient,
): Promise<VendorCheck[]> {
  if (!pinpoint.putEndpoint)
    return [
      {
        vendor: 'pinpoint',
        check: 'canary',
        status: 'warn',
        detail: `no canary for pinpoint: its API offers no write the erasure jobs could read back in time`,
      },
    ];
  const appId = settings.appIds.at(0);
  if (!appId)
    return [{ vendor: 'pinpoint', check: 'canary', status: 'warn', detail: 'no app configured for a canary' }];
  const tag = randomBytes(6).toString('hex');
  const userId = `erasure-canary-${tag}`;
  const neighbour = `${userId}-neighbour`;
  const plant = (endpointId: string, user: string) =>
    pinpoint.putEndpoint?.({
      appId,
      endpointId,
      channelType: 'EMAIL',
      address: `${endpointId}@canary.invalid`,
      userId: user,
      signal: input.signal,
    });
  await plant(`canary-${tag}-a`, userId);
  await plant(`canary-${tag}-b`, userId);
  await plant(`canary-${tag}-n`, neighbour);
  try {
    return await eraseAndReadBack(input, pinpoint, { appId, tag, userId, neighbour });
  } finally {
    await pinpoint.deleteUserEndpoints({ appId, userId: neighbour, signal: input.signal }).catch(() => undefined);
  }
}

/** The Pinpoint canary's erasure through `delete-user-endpoints`, then the read back of the user and the neighbour. */
async function eraseAndReadBack(
  input: CanaryInput,
  pinpoint: PinpointClient,
  planted: { appId: string; tag: string; userId: string; neighbour: string },
): Promise<VendorCheck[]> {
  const { appId, tag, userId, neighbour } = planted;
  const evidence: Record<string, unknown> = {};
  const result = await deleteUserEndpoints(
    {
      requestId: `canary-${tag}`,
      taskId: `canary-${tag}`,
      resource: `app/${appId}`,
      subject: { userId },
      attempt: 1,
      previous: {},
      checkpoint: (e) => keep(evidence, e),
      awaitBatch: () => Promise.reject(new Error('delete-user-endpoints joins no batch')),
      signal: input.signal,
    },
    { client: pinpoint },
  );
  const left = await pinpoint.getUserEndpoints({ appId, userId, signal: input.signal });
  if (result.outcome !== 'succeeded' || Number(result.evidence.endpointsDeleted) !== 2 || left.length > 0) {
    return [
      {
        vendor: 'pinpoint',
        check: 'canary',
        status: 'fail',
        detail: `canary ended ${result.outcome} with ${shown(result.evidence.endpointsDeleted, '0')} of 2 endpoints deleted and ${left.length} left`,
      },
    ];
  }
  const kept = await pinpoint.getUserEndpoints({ appId, userId: neighbour, signal: input.signal });
  if (kept.length !== 1)
    return [
      {
        vendor: 'pinpoint',
        check: 'canary',
        status: 'fail',
        detail: 'the canary’s neighbour endpoint did not survive',
      },
    ];
  return [
    {
      vendor: 'pinpoint',
      check: 'canary',
      status: 'ok',
      detail: 'planted 2 endpoints, erased through delete-user-endpoints and read back gone; the neighbour kept',
    },
  ];
}

/**
 * S3: plants an NDJSON object holding one synthetic endpoint row beside a neighbour row, under a
 * canary folder of the first location, purges it with `scan-s3-prefix` and reads the object back:
 * the canary's row must be gone and the neighbour's kept.
 */
async function s3Canary(
  input: CanaryInput,
  settings: NonNullable<VendorSettingsMap['s3']>,
  s3: S3VendorClient,
  wait: (ms: number) => Promise<void>,
): Promise<VendorCheck[]> {
  const location = settings.locations.at(0);
  if (!location)
    return [{ vendor: 's3', check: 'canary', status: 'warn', detail: 'no location configured for a canary' }];
  const tag = randomBytes(6).toString('hex');
  const folder = `${location.prefix}erasure-canary-${tag}/`;
  const key = `${folder}endpoints.ndjson`;
  const canaryUser = `erasure-canary-${tag}`;
  const rows = [
    { Id: `canary-${tag}`, Address: `canary-${tag}@canary.invalid`, User: { UserId: canaryUser } },
    { Id: `neighbour-${tag}`, Address: `neighbour-${tag}@canary.invalid`, User: { UserId: `${canaryUser}-neighbour` } },
  ];
  const body = Buffer.from(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await s3.putObject({
    bucket: location.bucket,
    key,
    body,
    contentLength: body.length,
    contentType: 'application/x-ndjson',
    signal: input.signal,
  });
  try {
    const member = { taskId: `canary-${tag}`, requestId: `canary-${tag}`, subject: { userId: canaryUser } };
    const result = await runAlone(
      scanS3Prefix,
      locationResource({ bucket: location.bucket, prefix: folder }),
      member,
      s3,
      wait,
      input.signal,
    );
    if (result.state !== 'done')
      return [
        {
          vendor: 's3',
          check: 'canary',
          status: 'fail',
          detail: `canary not erased: ${shown(result.result.reason, 'failed')}`,
        },
      ];
    const read = await s3.getObject(location.bucket, key, undefined, input.signal);
    const text = read ? await readAll(read.body) : '';
    if (Number(result.result.rowsRemoved ?? 0) < 1 || text.includes(canaryUser + '"'))
      return [
        {
          vendor: 's3',
          check: 'canary',
          status: 'fail',
          detail: 'canary row still readable after the purge (drift: the scanner did not match it)',
        },
      ];
    if (!text.includes(`${canaryUser}-neighbour`))
      return [
        { vendor: 's3', check: 'canary', status: 'fail', detail: 'the canary’s neighbour row was removed with it' },
      ];
    return [
      {
        vendor: 's3',
        check: 'canary',
        status: 'ok',
        detail: 'planted, erased through scan-s3-prefix and read back gone; the neighbour kept',
      },
    ];
  } finally {
    await s3.purgePrefix(location.bucket, folder, input.signal).catch(() => undefined);
  }
}

async function readAll(body: AsyncIterable<Uint8Array> | NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * App Center: its API takes no device writes (devices come from the SDK), so the canary is a
 * synthetic person run through the shared device export (`appcenter-export-devices`) of the first
 * app: it must end with the export read in a format the scanner knows, matching nobody. An export
 * whose rows lack the id fields, or whose blob is elsewhere, fails it ("unexpected export format").
 */
async function appcenterCanary(
  input: CanaryInput,
  settings: NonNullable<VendorSettingsMap['appcenter']>,
  appcenter: AppCenterClient,
  wait: (ms: number) => Promise<void>,
): Promise<VendorCheck[]> {
  const app = settings.apps.at(0);
  if (!app) return [{ vendor: 'appcenter', check: 'canary', status: 'warn', detail: 'no app configured for a canary' }];
  if (!settings.exportContainerSasUri)
    return [
      {
        vendor: 'appcenter',
        check: 'canary',
        status: 'warn',
        detail: 'no exportContainerSasUri: the device export cannot be checked',
      },
    ];
  const tag = randomBytes(6).toString('hex');
  const member = { taskId: `canary-${tag}`, requestId: `canary-${tag}`, subject: { userId: `erasure-canary-${tag}` } };
  const result = await runAlone(appcenterExportDevices, `app/${app}`, member, appcenter, wait, input.signal);
  if (result.state !== 'done')
    return [
      {
        vendor: 'appcenter',
        check: 'canary',
        status: 'fail',
        detail: `canary ${shown(result.result.reason, 'failed')}`,
      },
    ];
  if (result.result.appGone)
    return [
      {
        vendor: 'appcenter',
        check: 'canary',
        status: 'fail',
        detail: `canary: the app answered ${shown(result.result.vendorStatus, 'unknown')}`,
      },
    ];
  return [
    {
      vendor: 'appcenter',
      check: 'canary',
      status: 'ok',
      detail: 'device export read in a known format; the synthetic person matched nothing',
    },
  ];
}

/**
 * Amplitude: its API takes no event writes (events come through the SDKs), so the canary sends a
 * synthetic user id that Amplitude cannot know through the shared deletion call
 * (`amplitude-submit-deletions`) and checks the answer: the id must come back as unknown
 * (`invalid_ids`, or a 400 for it alone), in a shape the job reads. Note: Amplitude e-mails the
 * project's admins for each deletion call (vendor-contracts §5.5), canaries included.
 */
async function amplitudeCanary(
  input: CanaryInput,
  settings: NonNullable<VendorSettingsMap['amplitude']>,
  amplitude: AmplitudeClient,
  wait: (ms: number) => Promise<void>,
): Promise<VendorCheck[]> {
  const tag = randomBytes(6).toString('hex');
  const member = { taskId: `canary-${tag}`, requestId: `canary-${tag}`, subject: { userId: `erasure-canary-${tag}` } };
  const result = await runAlone(submitDeletions, `project/${settings.project}`, member, amplitude, wait, input.signal);
  const sent = result.result as unknown as SubmittedMember;
  if (result.state !== 'done' || sent.known) {
    return [
      {
        vendor: 'amplitude',
        check: 'canary',
        status: 'fail',
        detail: `a synthetic id was not reported unknown (state ${result.state}, known ${String(sent.known)}): the answer drifted from what the job reads`,
      },
    ];
  }
  return [
    {
      vendor: 'amplitude',
      check: 'canary',
      status: 'ok',
      detail: `a synthetic id went through amplitude-submit-deletions and came back unknown (${sent.vendorAnswer ? `${sent.vendorAnswer.status} for it alone` : 'invalid_ids'})`,
    },
  ];
}
