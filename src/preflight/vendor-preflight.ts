import type { VendorClients } from '../connectors/processor-contract.js';
import type { VendorSettingsMap } from '../vendors/vendor-settings.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { isGone } from '../vendors/appcenter-client.js';
import { PINPOINT_END_OF_SUPPORT } from '../vendors/pinpoint-settings.js';
import { answerOf, endOfSupport, lastSeen, patiently, rejected, sighted } from './preflight-probes.js';
import { checkS3 } from './s3-preflight.js';

/** `ok` passes; `warn` passes but says something an operator should know; `fail` makes the vendor unhealthy. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/**
 * One preflight check of one vendor. `check` is a stable name (`credentials`, `scope`,
 * `permissions`, `end_of_support`, `canary`) and `key` the config key the check is about, so a
 * failure reads like `vendors.pinpoint.appIds[0] does not exist in us-east-1`. Scope names (app
 * ids, buckets, source ids) are not personal data and may appear; identifiers of people never do.
 */
export interface VendorCheck {
  vendor: VendorName;
  check: string;
  key?: string;
  status: CheckStatus;
  detail: string;
}

export interface PreflightReport {
  checkedAt: string;
  /** True when no check failed (warnings allowed). */
  healthy: boolean;
  checks: VendorCheck[];
}

/** App Center's retirement (vendor-contracts §3.4): the API closed 2025-03-31, Analytics runs until 2026-06-30. */
export const APPCENTER_END_OF_SUPPORT = '2025-03-31T00:00:00Z';

export interface PreflightInput {
  vendors: Partial<VendorSettingsMap>;
  clients: VendorClients;
  /** The vendors' time (the sandbox clock in sandbox mode). */
  now: () => number;
  signal?: AbortSignal;
}

/** The label a check has in `erasure_vendor_check{vendor,check}`: its name, and its config key when it has one. */
export const checkLabel = (c: Pick<VendorCheck, 'check' | 'key'>): string => (c.key ? `${c.check}:${c.key}` : c.check);

/**
 * Checks each configured vendor the way its jobs will use it (src/preflight/): a cheap
 * authenticated read for the credentials, every configured scope exists, the permissions the jobs
 * need (S3: a write and a delete of a canary key), and whether the vendor is past its end of
 * support. Never throws: each failure is a check naming the config key.
 */
type Present<T> = NonNullable<T>;

export async function runPreflight(input: PreflightInput): Promise<PreflightReport> {
  const checks: VendorCheck[] = [];
  const probes: Array<Promise<VendorCheck[]>> = [];
  const { vendors, clients } = input;
  if (vendors.pinpoint && clients.pinpoint) probes.push(checkPinpoint(input, vendors.pinpoint, clients.pinpoint));
  if (vendors.s3 && clients.s3) probes.push(checkS3(input, vendors.s3, clients.s3));
  if (vendors.appcenter && clients.appcenter) probes.push(checkAppCenter(input, vendors.appcenter, clients.appcenter));
  if (vendors.segment && clients.segment) probes.push(checkSegment(input, vendors.segment, clients.segment));
  if (vendors.amplitude && clients.amplitude) probes.push(checkAmplitude(input, vendors.amplitude, clients.amplitude));
  for (const found of await Promise.all(probes)) checks.push(...found);
  return { checkedAt: new Date().toISOString(), healthy: checks.every((c) => c.status !== 'fail'), checks };
}

/** Settings and client of pinpoint, both present (runPreflight checks). */
async function checkPinpoint(
  input: PreflightInput,
  settings: Present<PreflightInput['vendors']['pinpoint']>,
  client: Present<PreflightInput['clients']['pinpoint']>,
): Promise<VendorCheck[]> {
  const checks: VendorCheck[] = [];
  let credentials: VendorCheck | undefined;
  for (const [i, appId] of settings.appIds.entries()) {
    const key = `vendors.pinpoint.appIds[${i}]`;
    try {
      const app = await patiently(() => client.getApp({ appId, signal: input.signal }), input.signal);
      credentials ??= {
        vendor: 'pinpoint',
        check: 'credentials',
        status: 'ok',
        detail: `GetApp answered in ${settings.region}`,
      };
      if ('gone' in app) {
        const seen = await lastSeen(input, 'pinpoint', appId);
        checks.push({
          vendor: 'pinpoint',
          check: 'scope',
          key,
          status: 'fail',
          detail: seen
            ? `${key} ${appId} no longer exists in ${settings.region} (last seen ${seen}; ${app.vendorAnswer})`
            : `${key} does not exist in ${settings.region} (${app.vendorAnswer})`,
        });
      } else {
        await sighted(input, 'pinpoint', key, appId);
        checks.push({
          vendor: 'pinpoint',
          check: 'scope',
          key,
          status: 'ok',
          detail: `${key} exists in ${settings.region}`,
        });
      }
    } catch (err) {
      const answer = answerOf(err);
      if (rejected(err)) {
        credentials = {
          vendor: 'pinpoint',
          check: 'credentials',
          key: 'vendors.pinpoint.credentials',
          status: 'fail',
          detail: `vendors.pinpoint.credentials were rejected (${answer.text})`,
        };
        break;
      }
      checks.push({
        vendor: 'pinpoint',
        check: 'scope',
        key,
        status: 'fail',
        detail: `${key} could not be read in ${settings.region} (${answer.text})`,
      });
    }
  }
  return [
    credentials ?? {
      vendor: 'pinpoint',
      check: 'credentials',
      status: 'fail',
      detail: 'no app could be read to check the credentials',
    },
    ...checks,
    endOfSupport('pinpoint', settings.endOfSupportAt ?? PINPOINT_END_OF_SUPPORT, input.now(), 'Amazon Pinpoint'),
  ];
}

/** Settings and client of appcenter, both present (runPreflight checks). */
async function checkAppCenter(
  input: PreflightInput,
  settings: Present<PreflightInput['vendors']['appcenter']>,
  client: Present<PreflightInput['clients']['appcenter']>,
): Promise<VendorCheck[]> {
  const checks: VendorCheck[] = [];
  let credentials: VendorCheck | undefined;
  for (const [i, app] of settings.apps.entries()) {
    const key = `vendors.appcenter.apps[${i}]`;
    try {
      const audiences = await patiently(() => client.listAudiences(app, input.signal), input.signal);
      credentials ??= {
        vendor: 'appcenter',
        check: 'credentials',
        status: 'ok',
        detail: 'Analytics_ListAudiences answered',
      };
      const scopeId = `${settings.owner}/${app}`;
      const seen = isGone(audiences) ? await lastSeen(input, 'appcenter', scopeId) : undefined;
      if (!isGone(audiences)) await sighted(input, 'appcenter', key, scopeId);
      checks.push(
        isGone(audiences)
          ? seen
            ? {
                vendor: 'appcenter',
                check: 'scope',
                key,
                status: 'fail',
                detail: `${key} ${scopeId} no longer exists (last seen ${seen}; ${audiences.status})`,
              }
            : {
                vendor: 'appcenter',
                check: 'scope',
                key,
                status: 'fail',
                detail: `vendors.appcenter.owner/${key} ${settings.owner}/${app} does not exist (${audiences.status})`,
              }
          : {
              vendor: 'appcenter',
              check: 'scope',
              key,
              status: 'ok',
              detail: `${key} ${settings.owner}/${app} exists`,
            },
      );
    } catch (err) {
      const answer = answerOf(err);
      if (answer.status === 401) {
        credentials = {
          vendor: 'appcenter',
          check: 'credentials',
          key: 'vendors.appcenter.apiToken',
          status: 'fail',
          detail: `vendors.appcenter.apiToken was rejected (${answer.text})`,
        };
        break;
      }
      checks.push({
        vendor: 'appcenter',
        check: 'scope',
        key,
        status: 'fail',
        detail: `vendors.appcenter.owner/${key} ${settings.owner}/${app} could not be read (${answer.text})`,
      });
    }
  }
  return [
    credentials ?? {
      vendor: 'appcenter',
      check: 'credentials',
      status: 'fail',
      detail: 'no app could be read to check the token',
    },
    ...checks,
    endOfSupport('appcenter', APPCENTER_END_OF_SUPPORT, input.now(), 'App Center'),
  ];
}

/** Settings and client of segment, both present (runPreflight checks). */
async function checkSegment(
  input: PreflightInput,
  settings: Present<PreflightInput['vendors']['segment']>,
  client: Present<PreflightInput['clients']['segment']>,
): Promise<VendorCheck[]> {
  const probeScope = client.probeScope?.bind(client);
  if (!probeScope)
    return [
      { vendor: 'segment', check: 'credentials', status: 'warn', detail: 'this Segment client cannot be probed' },
    ];
  try {
    await patiently(() => probeScope({ kind: 'workspace' }, input.signal), input.signal);
  } catch (err) {
    const answer = answerOf(err);
    return [
      rejected(err)
        ? {
            vendor: 'segment',
            check: 'credentials',
            key: 'vendors.segment.token',
            status: 'fail',
            detail: `vendors.segment.token was rejected by the workspace (${answer.text})`,
          }
        : {
            vendor: 'segment',
            check: 'credentials',
            key: 'vendors.segment.token',
            status: 'fail',
            detail: `the workspace could not be read (${answer.text})`,
          },
    ];
  }
  const checks: VendorCheck[] = [
    { vendor: 'segment', check: 'credentials', status: 'ok', detail: 'the workspace answered the token' },
  ];
  if (settings.scope === 'workspace') {
    checks.push({
      vendor: 'segment',
      check: 'scope',
      key: 'vendors.segment.scope',
      status: 'ok',
      detail: 'the workspace exists',
    });
    return checks;
  }
  for (const [i, sourceId] of settings.scope.sourceIds.entries()) {
    const key = `vendors.segment.scope.sourceIds[${i}]`;
    try {
      const found = await patiently(() => probeScope({ kind: 'source', sourceId }, input.signal), input.signal);
      checks.push(
        found === 'exists'
          ? { vendor: 'segment', check: 'scope', key, status: 'ok', detail: `${key} ${sourceId} exists` }
          : {
              vendor: 'segment',
              check: 'scope',
              key,
              status: 'fail',
              detail: `${key} ${sourceId} does not exist in the workspace`,
            },
      );
    } catch (err) {
      checks.push({
        vendor: 'segment',
        check: 'scope',
        key,
        status: 'fail',
        detail: `${key} ${sourceId} could not be read (${answerOf(err).text})`,
      });
    }
  }
  return checks;
}

/** Settings and client of amplitude, both present (runPreflight checks). */
async function checkAmplitude(
  input: PreflightInput,
  settings: Present<PreflightInput['vendors']['amplitude']>,
  client: Present<PreflightInput['clients']['amplitude']>,
): Promise<VendorCheck[]> {
  const today = new Date(client.now()).toISOString().slice(0, 10);
  try {
    await patiently(() => client.listDeletions(today, today, input.signal), input.signal);
    return [
      {
        vendor: 'amplitude',
        check: 'credentials',
        status: 'ok',
        detail: 'the deletion jobs of the project could be listed',
      },
      {
        vendor: 'amplitude',
        check: 'scope',
        key: 'vendors.amplitude.apiKey',
        status: 'ok',
        detail: `project ${settings.project} answered its key`,
      },
    ];
  } catch (err) {
    const answer = answerOf(err);
    // One API key is one project (vendor-contracts §5.1): a key Amplitude rejects names no project it knows.
    return [
      rejected(err)
        ? {
            vendor: 'amplitude',
            check: 'credentials',
            key: 'vendors.amplitude.apiKey',
            status: 'fail',
            detail: `vendors.amplitude.apiKey/secretKey were rejected: no project ${settings.project} with that key (${answer.text})`,
          }
        : {
            vendor: 'amplitude',
            check: 'credentials',
            key: 'vendors.amplitude.apiKey',
            status: 'fail',
            detail: `the project's deletion jobs could not be listed (${answer.text})`,
          },
    ];
  }
}
