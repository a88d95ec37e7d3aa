import {
  PinpointClient as AwsPinpointClient,
  CreateExportJobCommand,
  DeleteAppCommand,
  DeleteEndpointCommand,
  GetAppCommand,
  GetAppsCommand,
  GetEndpointCommand,
  GetExportJobCommand,
  GetExportJobsCommand,
  GetUserEndpointsCommand,
  DeleteUserEndpointsCommand,
  UpdateEndpointCommand,
  PinpointServiceException,
  type EndpointResponse,
  type ExportJobResponse,
} from '@aws-sdk/client-pinpoint';
import { withPinpointDefaults, type PinpointSettings, type ResolvedPinpointSettings } from './pinpoint-settings.js';
import type { QueueLimit } from './vendor-settings.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import { classifyHttpFailure, scopeMissing, TransientVendorError, type VendorError } from './vendor-errors.js';
import { createObjectStoreClient, type ObjectStoreClient } from './s3-client.js';
import { addCallMetrics } from './aws-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import type { ScopeSightings } from '../ledger/scope-sightings.js';

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

export type ExportJobStatus = 'CREATED' | 'PREPARING_FOR_INITIALIZATION' | 'INITIALIZING' | 'PROCESSING' | 'PENDING_JOB' | 'COMPLETING' | 'COMPLETED' | 'FAILING' | 'FAILED';

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
  createExportJob(input: { appId: string; s3UrlPrefix: string; roleArn: string; segmentId?: string; signal?: AbortSignal }): Promise<ExportJobState | AppGone>;
  getExportJob(input: { appId: string; jobId: string; signal?: AbortSignal }): Promise<ExportJobState | AppGone>;
  /** An export job already writing to this prefix (adopted after a crash between creating it and recording it). */
  findExportJob(input: { appId: string; s3UrlPrefix: string; signal?: AbortSignal }): Promise<ExportJobState | undefined>;
  /** GetApp: the project as Pinpoint describes it, or how Pinpoint says it is gone. */
  getApp(input: { appId: string; signal?: AbortSignal }): Promise<AppSummary | AppGone>;
  /**
   * UpdateEndpoint: creates or replaces one endpoint. Only canaries use it (src/preflight/canary.ts),
   * to plant a synthetic person; erasure never writes a person's data.
   */
  putEndpoint?(input: { appId: string; endpointId: string; channelType: 'EMAIL'; address: string; userId: string; signal?: AbortSignal }): Promise<void>;
  /**
   * Looks the app up before a 404 about it (or its users) is trusted (README "Verification values"):
   * GetApp; when that answers gone before Pinpoint's end of support, or GetApps still answers
   * after it, the app id is a configuration mistake: a MisconfiguredVendorError naming
   * `vendors.pinpoint.appIds[i]` and the region. Pinpoint answering as retired past its end of
   * support is returned with its answer and the date (`scope_gone`). With `sightings`, an app that
   * answers is recorded as seen, and one seen before that now answers gone is returned with its
   * answer and `lastSeenAt` (`scope_gone`): only a scope never seen is a configuration mistake.
   */
  confirmApp(input: { appId: string; signal?: AbortSignal; sightings?: ScopeSightings }): Promise<AppSummary | PinpointAppGone>;
  /**
   * DeleteApp: the whole project, with its endpoints, segments, campaigns, journeys, channel
   * settings and analytics, for good (docs/vendors/pinpoint.md). An app already gone (404, or 403
   * past end of support) comes back as AppGone, with the vendor's answer as evidence.
   */
  deleteApp(input: { appId: string; signal?: AbortSignal }): Promise<AppSummary | AppGone>;
  close(): void;
}

/** How many GetExportJobs pages to look through for a job to adopt (newest jobs are not guaranteed first). */
const MAX_EXPORT_JOB_PAGES = 20;

/** `budget`: where the `operationLimits` are kept (Redis in the service, so they hold across processes). */
export function createPinpointClient(input: PinpointSettings, calls?: VendorCallObserver, budget: CallBudget = createInMemoryCallBudget()): PinpointClient {
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
    ? createObjectStoreClient({
        region: scan.s3?.region ?? settings.region,
        endpoint: scan.s3?.endpoint,
        credentials: scan.s3?.credentials ?? settings.credentials,
        forcePathStyle: scan.s3?.forcePathStyle,
        throttleDelayMs: settings.throttleDelayMs,
      }, 's3', calls)
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

/** What the groups of client methods share, built once in createPinpointClient. */
interface PinpointContext {
  settings: ResolvedPinpointSettings;
  sdk: AwsPinpointClient;
  pace: { DeleteEndpoint: (signal?: AbortSignal) => Promise<void>; GetEndpoint: (signal?: AbortSignal) => Promise<void> };
  endOfSupportAt: number;
  call: <T>(operation: string, send: () => Promise<T>) => Promise<T | AppGone>;
}

/** Sends one call; an answer that the app (or what was asked about) is gone comes back as AppGone, any other failure as the taxonomy's error. */
function createGuardedCall(throttleDelayMs: number, endOfSupportAt: number): PinpointContext['call'] {
  /** NotFoundException always means "not there"; ForbiddenException does once Pinpoint is past its end of support. */
  function goneAnswer(err: unknown): string | undefined {
    if (!(err instanceof PinpointServiceException)) return undefined;
    const status = err.$metadata.httpStatusCode;
    if (err.name === 'NotFoundException') return `${status ?? 404} NotFoundException`;
    if (err.name === 'ForbiddenException' && Date.now() >= endOfSupportAt) return `${status ?? 403} ForbiddenException (past end of support)`;
    return undefined;
  }

  return async function call<T>(operation: string, send: () => Promise<T>): Promise<T | AppGone> {
    try {
      return await send();
    } catch (err) {
      const gone = goneAnswer(err);
      if (gone) return { gone: true, vendorAnswer: gone };
      throw toVendorError(operation, err, throttleDelayMs);
    }
  };
}

/** Endpoints by user id and by endpoint id (GetEndpoint and DeleteEndpoint paced by their client-side limits). */
function endpointMethods({ sdk, pace, call }: PinpointContext): Pick<PinpointClient, 'getUserEndpoints' | 'deleteUserEndpoints' | 'putEndpoint' | 'getEndpoint' | 'deleteEndpoint'> {
  return {
    async getUserEndpoints({ appId, userId, signal }) {
      const out = await call('GetUserEndpoints', () => sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }));
      return isGone(out) ? [] : summarise(out.EndpointsResponse?.Item);
    },
    async deleteUserEndpoints({ appId, userId, signal }) {
      const out = await call('DeleteUserEndpoints', () => sdk.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }));
      return isGone(out) ? [] : summarise(out.EndpointsResponse?.Item);
    },
    async putEndpoint({ appId, endpointId, channelType, address, userId, signal }) {
      await call('UpdateEndpoint', () =>
        sdk.send(new UpdateEndpointCommand({ ApplicationId: appId, EndpointId: endpointId, EndpointRequest: { ChannelType: channelType, Address: address, User: { UserId: userId } } }), { abortSignal: signal }),
      );
    },
    async getEndpoint({ appId, endpointId, signal }) {
      await pace.GetEndpoint(signal);
      const out = await call('GetEndpoint', () => sdk.send(new GetEndpointCommand({ ApplicationId: appId, EndpointId: endpointId }), { abortSignal: signal }));
      if (isGone(out)) return undefined;
      const e = out.EndpointResponse;
      return { id: e?.Id ?? endpointId, channelType: e?.ChannelType, address: e?.Address, userId: e?.User?.UserId };
    },
    async deleteEndpoint({ appId, endpointId, signal }) {
      await pace.DeleteEndpoint(signal);
      const out = await call('DeleteEndpoint', () => sdk.send(new DeleteEndpointCommand({ ApplicationId: appId, EndpointId: endpointId }), { abortSignal: signal }));
      return isGone(out) ? 'not_found' : 'deleted';
    },
  };
}

/** Export jobs: create, read, and find one already writing to a prefix. */
function exportJobMethods({ sdk, call }: PinpointContext): Pick<PinpointClient, 'createExportJob' | 'getExportJob' | 'findExportJob'> {
  return {
    async createExportJob({ appId, s3UrlPrefix, roleArn, segmentId, signal }) {
      const out = await call('CreateExportJob', () =>
        sdk.send(new CreateExportJobCommand({ ApplicationId: appId, ExportJobRequest: { S3UrlPrefix: s3UrlPrefix, RoleArn: roleArn, ...(segmentId ? { SegmentId: segmentId } : {}) } }), {
          abortSignal: signal,
        }),
      );
      if (isGone(out)) return out;
      return jobState(out.ExportJobResponse);
    },
    async getExportJob({ appId, jobId, signal }) {
      const out = await call('GetExportJob', () => sdk.send(new GetExportJobCommand({ ApplicationId: appId, JobId: jobId }), { abortSignal: signal }));
      if (isGone(out)) return out;
      return jobState(out.ExportJobResponse);
    },
    async findExportJob({ appId, s3UrlPrefix, signal }) {
      let token: string | undefined;
      for (let page = 0; page < MAX_EXPORT_JOB_PAGES; page++) {
        const out = await call('GetExportJobs', () => sdk.send(new GetExportJobsCommand({ ApplicationId: appId, Token: token, PageSize: '100' }), { abortSignal: signal }));
        if (isGone(out)) return undefined;
        const match = (out.ExportJobsResponse?.Item ?? []).find((j) => j.Definition?.S3UrlPrefix === s3UrlPrefix);
        if (match) return jobState(match);
        token = out.ExportJobsResponse?.NextToken;
        if (!token) return undefined;
      }
      return undefined;
    },
  };
}

/** The app (project) itself: read, confirm before a 404 is trusted, delete. */
function appMethods({ settings, sdk, endOfSupportAt, call }: PinpointContext): Pick<PinpointClient, 'getApp' | 'confirmApp' | 'deleteApp'> {
  return {
    async getApp({ appId, signal }) {
      const out = await call('GetApp', () => sdk.send(new GetAppCommand({ ApplicationId: appId }), { abortSignal: signal }));
      if (isGone(out)) return out;
      return { id: out.ApplicationResponse?.Id ?? appId, arn: out.ApplicationResponse?.Arn, name: out.ApplicationResponse?.Name };
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
        const listing = await call('GetApps', () => sdk.send(new GetAppsCommand({ PageSize: '1' }), { abortSignal: signal }));
        if (isGone(listing)) return { ...app, vendorAnswer: `GetApp ${app.vendorAnswer}; GetApps ${listing.vendorAnswer}`, endOfSupportAt: settings.endOfSupportAt };
      }
      // An app this service saw answer before is gone by Pinpoint's own answer about it, not mistyped.
      const seen = await sightings?.lastSeen('pinpoint', appId);
      if (seen) return { ...app, vendorAnswer: `GetApp ${app.vendorAnswer}`, lastSeenAt: seen.lastSeenAt };
      throw scopeMissing({ vendor: 'pinpoint', operation: 'GetApp', code: app.vendorAnswer }, configKey, `does not exist in ${settings.region}`);
    },
    async deleteApp({ appId, signal }) {
      const out = await call('DeleteApp', () => sdk.send(new DeleteAppCommand({ ApplicationId: appId }), { abortSignal: signal }));
      if (isGone(out)) return out;
      return { id: out.ApplicationResponse?.Id ?? appId, arn: out.ApplicationResponse?.Arn, name: out.ApplicationResponse?.Name };
    },
  };
}

export function isGone(value: unknown): value is AppGone {
  return typeof value === 'object' && value !== null && (value as AppGone).gone;
}

function jobState(job: ExportJobResponse | undefined): ExportJobState {
  if (!job?.Id || !job.JobStatus) throw new TransientVendorError({ vendor: 'pinpoint', operation: 'GetExportJob', code: 'IncompleteResponse' }, 'answered without a job id or status');
  return {
    jobId: job.Id,
    status: job.JobStatus,
    s3UrlPrefix: job.Definition?.S3UrlPrefix,
    totalPieces: job.TotalPieces ?? 0,
    completedPieces: job.CompletedPieces ?? 0,
    failedPieces: job.FailedPieces ?? 0,
    totalProcessed: job.TotalProcessed ?? 0,
    totalFailures: job.TotalFailures ?? 0,
  };
}

function summarise(items: EndpointResponse[] | undefined): EndpointSummary[] {
  return (items ?? []).map((e) => ({ id: e.Id ?? '', channelType: e.ChannelType }));
}

/**
 * Spaces one operation's calls evenly at `max` per `durationMs` (a bucket of one: no burst) across
 * every process sharing `budget`. Evenly spaced calls never exceed a token bucket of the same rate,
 * so the vendor's 429 stays the exception (a 429 still costs no attempt).
 */
export function createRateGate(budget: CallBudget, operation: string, limit: QueueLimit): (signal?: AbortSignal) => Promise<void> {
  const rate = { ...limit, burst: 1 };
  return async (signal) => {
    try {
      await budget.pace(`pinpoint:${operation}`, rate, signal);
    } catch (err) {
      if (!signal?.aborted) throw err;
      throw new TransientVendorError({ vendor: 'pinpoint', operation: 'RateGate', code: 'Aborted' }, 'was aborted while waiting for its turn');
    }
  };
}

/** AWS SDK failures → the taxonomy. Pinpoint sends no Retry-After, so throttles wait the configured delay. */
export function toVendorError(operation: string, err: unknown, throttleDelayMs: number): VendorError {
  if (err instanceof PinpointServiceException) {
    return classifyHttpFailure({ vendor: 'pinpoint', operation, status: err.$metadata.httpStatusCode, code: err.name, defaultThrottleDelayMs: throttleDelayMs });
  }
  const name = (err as Error | undefined)?.name ?? 'Error';
  // Network errors, timeouts and aborts: the call may not have reached Pinpoint; try again later.
  return new TransientVendorError({ vendor: 'pinpoint', operation, code: name }, 'did not complete');
}
