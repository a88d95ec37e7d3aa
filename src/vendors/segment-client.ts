import got, { RequestError, type Got, type Response } from 'got';
import type { SegmentRegulationType, SegmentSettings } from './segment-settings.js';
import { createInMemoryCallBudget, type CallBudget } from './call-budget.js';
import { withCallMetrics } from './got-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import {
  checkedVendorCode,
  classifyHttpFailure,
  parseRetryAfter,
  scopeMissing,
  TransientVendorError,
  type VendorError,
} from './vendor-errors.js';

/** Where a regulation is created (docs/vendors/segment.md). */
export type RegulationTarget = { kind: 'workspace' } | { kind: 'source'; sourceId: string };

export interface CreateRegulationInput {
  target: RegulationTarget;
  regulationType: SegmentRegulationType;
  /** Exact user ids; never logged, never in an error. */
  userIds: string[];
  signal?: AbortSignal;
}

/** One destination's part in a regulation. `errString` is not kept: it is vendor text and may echo an id. */
export interface DestinationStatus {
  /** The stream (source) the destination hangs off. */
  sourceId: string;
  id: string;
  name: string;
  status: string;
}

/** A regulation as `GET /regulations/{id}` reports it, without vendor free text. */
export interface RegulationStatus {
  id: string;
  overallStatus: string;
  createdAt?: string;
  finishedAt?: string;
  destinations: DestinationStatus[];
}

/** What the Segment jobs need from settings, carried by the client (processors get clients, not settings). */
export interface SegmentJobSettings {
  regulationType: SegmentRegulationType;
  batchWindowMs: number;
  maxIdsPerRegulation: number;
  pollIntervalMs: number;
  pollJitter: number;
}

/**
 * The Segment Public API calls the erasure jobs use, over `got`: Bearer token, JSON in and out,
 * `{data}` unwrapped, no retries of its own (the queue retries, visibly). Failures become the
 * error taxonomy from the status and the error `type` only, never from Segment's message text.
 */
export interface SegmentClient {
  readonly settings: Readonly<SegmentJobSettings>;
  createRegulation(input: CreateRegulationInput): Promise<{ regulateId: string }>;
  /** undefined when Segment no longer has the regulation (it forgets them after 90 days). */
  getRegulation(regulateId: string, signal?: AbortSignal): Promise<RegulationStatus | undefined>;
  /**
   * Lists one regulation of the workspace, or of a source: a cheap authenticated read the preflight
   * uses to confirm the token and that the source exists (`not_found` for an unknown source).
   */
  probeScope?(target: RegulationTarget, signal?: AbortSignal): Promise<'exists' | 'not_found'>;
  close(): void;
}

interface ErrorEnvelope {
  errors?: Array<{ type?: unknown; data?: { msBeforeNext?: unknown } }>;
}

interface RegulationBody {
  data?: {
    regulation?: {
      id?: unknown;
      overallStatus?: unknown;
      createdAt?: string;
      finishedAt?: string;
      streamStatus?: Array<{
        id?: unknown;
        destinationStatus?: Array<{ id?: unknown; name?: unknown; status?: unknown }>;
      }>;
    };
  };
}

/** `budget`: where Segment's `requestsPerSecond` is kept (Redis in the service, so it holds across processes). */
export function createSegmentClient(
  settings: SegmentSettings,
  calls?: VendorCallObserver,
  budget: CallBudget = createInMemoryCallBudget(),
): SegmentClient {
  const ctx: SegmentContext = { settings, api: segmentApi(settings, calls), call: pacedSegmentCall(settings, budget) };
  return {
    settings: Object.freeze({
      regulationType: settings.regulationType,
      batchWindowMs: settings.batchWindowMs,
      maxIdsPerRegulation: settings.maxIdsPerRegulation,
      pollIntervalMs: settings.pollIntervalMs,
      pollJitter: settings.pollJitter,
    }),
    createRegulation: (input) => createRegulation(ctx, input),
    getRegulation: (regulateId, signal) => getRegulation(ctx, regulateId, signal),
    probeScope: (target, signal) => probeScope(ctx, target, signal),
    close: () => undefined,
  };
}

/** What the calls share, built once in createSegmentClient. */
interface SegmentContext {
  settings: SegmentSettings;
  api: Got;
  call: <T>(operation: string, send: () => Promise<Response<T>>) => Promise<Response<T>>;
}

function segmentApi(settings: SegmentSettings, calls: VendorCallObserver | undefined): Got {
  return withCallMetrics(
    got.extend({
      prefixUrl: settings.baseUrl,
      headers: { authorization: `Bearer ${settings.token}`, accept: 'application/json' },
      responseType: 'json',
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: settings.requestTimeoutMs },
    }),
    'segment',
    calls,
  );
}

/** One Segment call, paced by the call budget at `requestsPerSecond`. */
function pacedSegmentCall(settings: SegmentSettings, budget: CallBudget): SegmentContext['call'] {
  const rate = { max: settings.requestsPerSecond, durationMs: 1000 };

  return async function call<T>(operation: string, send: () => Promise<Response<T>>): Promise<Response<T>> {
    await budget.pace('segment', rate);
    let res: Response<T>;
    try {
      res = await send();
    } catch (err) {
      // Timeouts, resets, refused connections, aborts: the call may not have reached Segment.
      const code = err instanceof RequestError ? err.code : ((err as Error | undefined)?.name ?? 'Error');
      throw new TransientVendorError({ vendor: 'segment', operation, code }, 'did not complete');
    }
    return res;
  };
}

async function createRegulation(
  { settings, api, call }: SegmentContext,
  { target, regulationType, userIds, signal }: CreateRegulationInput,
): Promise<{ regulateId: string }> {
  const operation = target.kind === 'workspace' ? 'createWorkspaceRegulation' : 'createSourceRegulation';
  const path =
    target.kind === 'workspace' ? 'regulations' : `regulations/sources/${encodeURIComponent(target.sourceId)}`;
  const res = await call(operation, () =>
    api.post<({ data?: { regulateId?: unknown } } & ErrorEnvelope) | null>(path, {
      json: { regulationType, subjectType: 'USER_ID', subjectIds: userIds },
      signal,
      context: { operation },
    }),
  );
  if (res.statusCode === 404 && target.kind !== 'workspace') {
    // A configured source Segment does not know: a configuration mistake, never an outcome (README "Verification values").
    const index = settings.scope === 'workspace' ? -1 : settings.scope.sourceIds.indexOf(target.sourceId);
    throw scopeMissing(
      { vendor: 'segment', operation, status: 404 },
      `vendors.segment.scope.sourceIds[${index < 0 ? '?' : index}]`,
      `"${target.sourceId}" is not a source of this workspace`,
    );
  }
  if (res.statusCode !== 200 && res.statusCode !== 201) throw toVendorError(operation, res, settings.throttleDelayMs);
  const regulateId = res.body?.data?.regulateId;
  if (typeof regulateId !== 'string' || regulateId === '') {
    throw new TransientVendorError(
      { vendor: 'segment', operation, status: res.statusCode },
      'answered without a regulateId',
    );
  }
  return { regulateId };
}

async function getRegulation(
  { settings, api, call }: SegmentContext,
  regulateId: string,
  signal?: AbortSignal,
): Promise<RegulationStatus | undefined> {
  const operation = 'getRegulation';
  const res = await call(operation, () =>
    api.get<(RegulationBody & ErrorEnvelope) | null>(`regulations/${encodeURIComponent(regulateId)}`, {
      signal,
      context: { operation },
    }),
  );
  if (res.statusCode === 404) return undefined;
  if (res.statusCode !== 200) throw toVendorError(operation, res, settings.throttleDelayMs);
  const regulation = res.body?.data?.regulation;
  if (!regulation)
    throw new TransientVendorError(
      { vendor: 'segment', operation, status: res.statusCode },
      'answered without a regulation',
    );
  return {
    id: textOf(regulation.id, regulateId),
    overallStatus: typeof regulation.overallStatus === 'string' ? regulation.overallStatus : '',
    createdAt: regulation.createdAt,
    finishedAt: regulation.finishedAt,
    destinations: (regulation.streamStatus ?? []).flatMap((stream) =>
      (stream.destinationStatus ?? []).map((d) => ({
        sourceId: textOf(stream.id, ''),
        id: textOf(d.id, ''),
        name: textOf(d.name, ''),
        status: typeof d.status === 'string' ? d.status : '',
      })),
    ),
  };
}

async function probeScope(
  { settings, api, call }: SegmentContext,
  target: RegulationTarget,
  signal?: AbortSignal,
): Promise<'exists' | 'not_found'> {
  const operation = target.kind === 'workspace' ? 'listWorkspaceRegulations' : 'listRegulationsFromSource';
  const path =
    target.kind === 'workspace' ? 'regulations' : `regulations/sources/${encodeURIComponent(target.sourceId)}`;
  const res = await call(operation, () =>
    api.get<ErrorEnvelope>(path, { searchParams: { 'pagination.count': 1 }, signal, context: { operation } }),
  );
  if (res.statusCode === 404) return 'not_found';
  if (res.statusCode !== 200) throw toVendorError(operation, res, settings.throttleDelayMs);
  return 'exists';
}

/**
 * A Segment answer that is not a success → the taxonomy. A 429 waits `errors[0].data.msBeforeNext`
 * (Segment's own hint, docs/vendors/segment.md), else `Retry-After`, else until `X-RateLimit-Reset`, else the
 * configured delay. The error `type` is the code, checked by `checkedVendorCode` (src/vendors/vendor-errors.ts).
 */
export function toVendorError(
  operation: string,
  res: Response,
  throttleDelayMs: number,
  now = Date.now(),
): VendorError {
  const envelope = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as ErrorEnvelope;
  const first = Array.isArray(envelope.errors) ? envelope.errors[0] : undefined;
  const type = checkedVendorCode(first?.type);
  return classifyHttpFailure({
    vendor: 'segment',
    operation,
    status: res.statusCode,
    code: type,
    retryAfterMs: res.statusCode === 429 ? throttleHint(first?.data?.msBeforeNext, res.headers, now) : undefined,
    defaultThrottleDelayMs: throttleDelayMs,
  });
}

function throttleHint(msBeforeNext: unknown, headers: Response['headers'], now: number): number | undefined {
  if (typeof msBeforeNext === 'number' && Number.isFinite(msBeforeNext) && msBeforeNext >= 0)
    return Math.ceil(msBeforeNext);
  const retryAfter = parseRetryAfter(headerValue(headers['retry-after']), now);
  if (retryAfter !== undefined) return retryAfter;
  // X-RateLimit-Reset is an RFC 5322 date (docs/vendors/segment.md); parseRetryAfter reads it strictly, as an HTTP date.
  const reset = headerValue(headers['x-ratelimit-reset']);
  return reset && !/^\d/.test(reset.trim()) ? parseRetryAfter(reset, now) : undefined;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** A string or number field of Segment's answer as text; anything else (absent, an object) is `fallback`. */
function textOf(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  return typeof value === 'number' ? String(value) : fallback;
}
