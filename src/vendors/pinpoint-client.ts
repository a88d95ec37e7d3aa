import {
  PinpointClient as AwsPinpointClient,
  DeleteAppCommand,
  DeleteEndpointCommand,
  GetAppCommand,
  GetAppsCommand,
  GetEndpointCommand,
  GetUserEndpointsCommand,
  DeleteUserEndpointsCommand,
  UpdateEndpointCommand,
  type EndpointResponse,
} from '@aws-sdk/client-pinpoint';
import { withPinpointDefaults, type PinpointSettings, type ResolvedPinpointSettings } from './pinpoint-settings.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import { scopeMissing } from './vendor-errors.js';
import { createObjectStoreClient, type ObjectStoreClient } from './s3-client.js';
import { addCallMetrics } from './aws-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import type { ScopeSightings } from '../ledger/scope-sightings.js';
import { createGuardedCall, createRateGate, isGone, type PinpointContext } from './pinpoint-calls.js';
import { exportJobMethods } from './pinpoint-export-jobs.js';

export { createRateGate, isGone, toVendorError } from './pinpoint-calls.js';

/** What we keep of an endpoint: its vendor id and channel, never its address. */
export interface EndpointSummary {
  id: string;
  channelType?: string;
}

/**
 * An endpoint read back just before it is deleted, to check it still belongs to the person.
 * Address and user id live in memory for that comparison only: never log, store or return them.
 */
export interface EndpointReadBack extends EndpointSummary {
  address?: string;
  userId?: string;
}

export interface UserEndpointsInput {
  appId: string;
  userId: string;
  signal?: AbortSignal;
}

export interface EndpointInput {
  appId: string;
  endpointId: string;
  signal?: AbortSignal;
}

/** The app (project) is gone: deleted, or Pinpoint is past its end of support. Evidence, not an error. */
export interface AppGone {
  gone: true;
  /** The vendor's answer, status and error code only (never its message text). */
  vendorAnswer: string;
}

/** Pinpoint itself answers as past its end of support: the project is gone with the service. */
export interface PinpointRetired extends AppGone {
  endOfSupportAt: string;
}

/**
 * How confirmApp reports a gone app: Pinpoint retired (`endOfSupportAt`), or a configured app seen
 * before (src/ledger/scope-sightings.ts) that now answers 404 (`lastSeenAt`). Both are `scope_gone`.
 */
export interface PinpointAppGone extends AppGone {
  endOfSupportAt?: string;
  lastSeenAt?: string;
}

/** A project (app) as evidence: its vendor id, ARN and name (a project's, never a person's). */
export interface AppSummary {
  id: string;
  arn?: string;
  name?: string;
}

export type ExportJobStatus =
  | 'CREATED'
  | 'PREPARING_FOR_INITIALIZATION'
  | 'INITIALIZING'
  | 'PROCESSING'
  | 'PENDING_JOB'
  | 'COMPLETING'
  | 'COMPLETED'
  | 'FAILING'
  | 'FAILED';

/** An export job's state, in figures only (Pinpoint's failure strings can quote endpoint data). */
export interface ExportJobState {
  jobId: string;
  status: ExportJobStatus;
  s3UrlPrefix?: string;
  totalPieces: number;
  completedPieces: number;
  failedPieces: number;
  totalProcessed: number;
  totalFailures: number;
}

/**
 * The Pinpoint operations the erasure jobs use, over the real `@aws-sdk/client-pinpoint`.
 * A 404 (unknown user, or an app that no longer exists) is a result, not an error.
 */
export interface PinpointClient {
  /** Settings with defaults filled in (the processors read the address-scan settings here). */
  readonly settings: ResolvedPinpointSettings;
  /** S3 access to the export bucket, when an address scan is configured. */
  readonly exports?: ObjectStoreClient;
  getUserEndpoints(input: UserEndpointsInput): Promise<EndpointSummary[]>;
  deleteUserEndpoints(input: UserEndpointsInput): Promise<EndpointSummary[]>;
  /** GetEndpoint, paced by the client-side GetEndpoint limit; undefined when there is no such endpoint. */
  getEndpoint(input: EndpointInput): Promise<EndpointReadBack | undefined>;
  /** DeleteEndpoint, paced by the client-side DeleteEndpoint limit; `not_found` when it was already gone. */
  deleteEndpoint(input: EndpointInput): Promise<'deleted' | 'not_found'>;
  createExportJob(input: {
    appId: string;
    s3UrlPrefix: string;
    roleArn: string;
    segmentId?: string;
    signal?: AbortSignal;
  }): Promise<ExportJobState | AppGone>;
  getExportJob(input: { appId: string; jobId: string; signal?: AbortSignal }): Promise<ExportJobState | AppGone>;
  /** An export job already writing to this prefix (adopted after a crash between creating it and recording it). */
  findExportJob(input: {
    appId: string;
    s3UrlPrefix: string;
    signal?: AbortSignal;
  }): Promise<ExportJobState | undefined>;
  /** GetApp: the project as Pinpoint describes it, or how Pinpoint says it is gone. */
  getApp(input: { appId: string; signal?: AbortSignal }): Promise<AppSummary | AppGone>;
  /**
   * UpdateEndpoint: creates or replaces one endpoint. Only canaries use it (src/preflight/canary.ts),
   * to plant a synthetic person; erasure never writes a person's data.
   */
  putEndpoint?(input: {
    appId: string;
    endpointId: string;
    channelType: 'EMAIL';
    address: string;
    userId: string;
    signal?: AbortSignal;
  }): Promise<void>;
  /**
   * Looks the app up before a 404 about it (or its users) is trusted (README "Verification values"):
   * GetApp; when that answers gone before Pinpoint's end of support, or GetApps still answers
   * after it, the app id is a configuration mistake: a MisconfiguredVendorError naming
   * `vendors.pinpoint.appIds[i]` and the region. Pinpoint answering as retired past its end of
   * support is returned with its answer and the date (`scope_gone`). With `sightings`, an app that
   * answers is recorded as seen, and one seen before that now answers gone is returned with its
   * answer and `lastSeenAt` (`scope_gone`): only a scope never seen is a configuration mistake.
   */
  confirmApp(input: {
    appId: string;
    signal?: AbortSignal;
    sightings?: ScopeSightings;
  }): Promise<AppSummary | PinpointAppGone>;
  /**
   * DeleteApp: the whole project, with its endpoints, segments, campaigns, journeys, channel
   * settings and analytics, for good (docs/vendors/pinpoint.md). An app already gone (404, or 403
   * past end of support) comes back as AppGone, with the vendor's answer as evidence.
   */
  deleteApp(input: { appId: string; signal?: AbortSignal }): Promise<AppSummary | AppGone>;
  close(): void;
}

/** `budget`: where the `operationLimits` are kept (Redis in the service, so they hold across processes). */
export function createPinpointClient(
  input: PinpointSettings,
  calls?: VendorCallObserver,
  budget: CallBudget = createInMemoryCallBudget(),
): PinpointClient {
  const settings = withPinpointDefaults(input);
  const sdk = new AwsPinpointClient({
    region: settings.region,
    endpoint: settings.endpoint,
    credentials: settings.credentials,
    // Retries belong to the queue, where they are visible, backed off and cost no attempt on 429.
    maxAttempts: 1,
  });
  addCallMetrics(sdk, 'pinpoint', calls);
  const endOfSupportAt = Date.parse(settings.endOfSupportAt);
  const pace = {
    DeleteEndpoint: createRateGate(budget, 'DeleteEndpoint', settings.operationLimits.DeleteEndpoint),
    GetEndpoint: createRateGate(budget, 'GetEndpoint', settings.operationLimits.GetEndpoint),
  };
  const scan = settings.addressScan;
  const exports = scan
    ? createObjectStoreClient(
        {
          region: scan.s3?.region ?? settings.region,
          endpoint: scan.s3?.endpoint,
          credentials: scan.s3?.credentials ?? settings.credentials,
          forcePathStyle: scan.s3?.forcePathStyle,
          throttleDelayMs: settings.throttleDelayMs,
        },
        's3',
        calls,
      )
    : undefined;

  const call = createGuardedCall(settings.throttleDelayMs, endOfSupportAt);
  const ctx: PinpointContext = { settings, sdk, pace, endOfSupportAt, call };
  return {
    settings,
    exports,
    ...endpointMethods(ctx),
    ...exportJobMethods(ctx),
    ...appMethods(ctx),
    close: () => {
      sdk.destroy();
      exports?.close();
    },
  };
}

/** Endpoints by user id and by endpoint id (GetEndpoint and DeleteEndpoint paced by their client-side limits). */
function endpointMethods({
  sdk,
  pace,
  call,
}: PinpointContext): Pick<
  PinpointClient,
  'getUserEndpoints' | 'deleteUserEndpoints' | 'putEndpoint' | 'getEndpoint' | 'deleteEndpoint'
> {
  return {
    async getUserEndpoints({ appId, userId, signal }) {
      const out = await call('GetUserEndpoints', () =>
        sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }),
      );
      return isGone(out) ? [] : summarise(out.EndpointsResponse?.Item);
    },
    async deleteUserEndpoints({ appId, userId, signal }) {
      const out = await call('DeleteUserEndpoints', () =>
        sdk.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }),
      );
      return isGone(out) ? [] : summarise(out.EndpointsResponse?.Item);
    },
    async putEndpoint({ appId, endpointId, channelType, address, userId, signal }) {
      await call('UpdateEndpoint', () =>
        sdk.send(
          new UpdateEndpointCommand({
            ApplicationId: appId,
            EndpointId: endpointId,
            EndpointRequest: { ChannelType: channelType, Address: address, User: { UserId: userId } },
          }),
          { abortSignal: signal },
        ),
      );
    },
    async getEndpoint({ appId, endpointId, signal }) {
      await pace.GetEndpoint(signal);
      const out = await call('GetEndpoint', () =>
        sdk.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: endpointId }), { abortSignal: signal }),
      );
      if (isGone(out)) return undefined;
      const e = out.EndpointResponse;
      return { id: e?.Id ?? endpointId, channelType: e?.ChannelType, address: e?.Address, userId: e?.User?.UserId };
    },
    async deleteEndpoint({ appId, endpointId, signal }) {
      await pace.DeleteEndpoint(signal);
      const out = await call('DeleteEndpoint', () =>
        sdk.send(new DeleteEndpointCommand({ ApplicationId: appId, EndpointId: endpointId }), { abortSignal: signal }),
      );
      return isGone(out) ? 'not_found' : 'deleted';
    },
  };
}

/** The app (project) itself: read, confirm before a 404 is trusted, delete. */
function appMethods({
  settings,
  sdk,
  endOfSupportAt,
  call,
}: PinpointContext): Pick<PinpointClient, 'getApp' | 'confirmApp' | 'deleteApp'> {
  return {
    async getApp({ appId, signal }) {
      const out = await call('GetApp', () =>
        sdk.send(new GetAppCommand({ ApplicationId: appId }), { abortSignal: signal }),
      );
      if (isGone(out)) return out;
      return {
        id: out.ApplicationResponse?.Id ?? appId,
        arn: out.ApplicationResponse?.Arn,
        name: out.ApplicationResponse?.Name,
      };
    },
    async confirmApp({ appId, signal, sightings }) {
      const index = settings.appIds.indexOf(appId);
      const configKey = `vendors.pinpoint.appIds[${index < 0 ? '?' : index}]`;
      const app = await this.getApp({ appId, signal });
      if (!isGone(app)) {
        await sightings?.seen({ vendor: 'pinpoint', configKey, scopeId: appId });
        return app;
      }
      const pastEndOfSupport = Date.now() >= endOfSupportAt;
      if (pastEndOfSupport) {
        // Only the service's own answer makes a 404 "retired": if it still lists apps, this one was never there.
        const listing = await call('GetApps', () =>
          sdk.send(new GetAppsCommand({ PageSize: '1' }), { abortSignal: signal }),
        );
        if (isGone(listing))
          return {
            ...app,
            vendorAnswer: `GetApp ${app.vendorAnswer}; GetApps ${listing.vendorAnswer}`,
            endOfSupportAt: settings.endOfSupportAt,
          };
      }
      // An app this service saw answer before is gone by Pinpoint's own answer about it, not mistyped.
      const seen = await sightings?.lastSeen('pinpoint', appId);
      if (seen) return { ...app, vendorAnswer: `GetApp ${app.vendorAnswer}`, lastSeenAt: seen.lastSeenAt };
      throw scopeMissing(
        { vendor: 'pinpoint', operation: 'GetApp', code: app.vendorAnswer },
        configKey,
        `does not exist in ${settings.region}`,
      );
    },
    async deleteApp({ appId, signal }) {
      const out = await call('DeleteApp', () =>
        sdk.send(new DeleteAppCommand({ ApplicationId: appId }), { abortSignal: signal }),
      );
      if (isGone(out)) return out;
      return {
        id: out.ApplicationResponse?.Id ?? appId,
        arn: out.ApplicationResponse?.Arn,
        name: out.ApplicationResponse?.Name,
      };
    },
  };
}

function summarise(items: EndpointResponse[] | undefined): EndpointSummary[] {
  return (items ?? []).map((e) => ({ id: e.Id ?? '', channelType: e.ChannelType }));
}
