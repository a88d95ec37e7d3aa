import got, { RequestError, type Got, type Response } from 'got';
import { XMLParser } from 'fast-xml-parser';
import type { AppCenterSettings } from './appcenter-settings.js';
import type { CallBudget } from './call-budget.js';
import { withCallMetrics } from './got-call-metrics.js';
import type { VendorCallObserver } from './vendor-call-observer.js';
import {
  checkedVendorCode,
  classifyHttpFailure,
  parseRetryAfter,
  RateLimitedError,
  TransientVendorError,
  PermanentVendorError,
  type VendorError,
} from './vendor-errors.js';

/** What the client's calls share: settings, the http client, the paced App Center call and the export container's blob call. */
export type AppCenterContext = ReturnType<typeof createContext>;

export function createContext(settings: AppCenterSettings, calls: VendorCallObserver | undefined, budget: CallBudget) {
  const base = new URL(settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`);
  const http = withCallMetrics(
    got.extend({
      throwHttpErrors: false,
      retry: { limit: 0 },
      timeout: { request: settings.timeoutMs },
      followRedirect: false,
    }),
    'appcenter',
    calls,
  );

  const appPath = (app: string, path: string) =>
    new URL(`v0.1/apps/${encodeURIComponent(settings.owner)}/${encodeURIComponent(app)}${path}`, base).toString();
  return {
    settings,
    base,
    http,
    appPath,
    follow: nextLinkFollower(base),
    call: pacedAppCenterCall(settings, http, budget),
    ...exportContainer(settings, http),
  };
}

/** `nextLink` as App Center sends it (a path or an absolute URL), only ever on App Center's own host: the token goes with it. */
function nextLinkFollower(base: URL) {
  return function follow(nextLink: string, operation: string, seen: Set<string>): string {
    // A vendor answering the same nextLink twice would keep us paging for ever: stop and say so.
    if (seen.has(nextLink))
      throw new PermanentVendorError(
        { vendor: 'appcenter', operation, code: 'PageLoop' },
        'returned the same nextLink twice (a page loop)',
      );
    seen.add(nextLink);
    const url = new URL(nextLink, base.origin);
    if (url.origin !== base.origin)
      throw new PermanentVendorError(
        { vendor: 'appcenter', operation, code: 'ForeignNextLink' },
        'was answered with a nextLink to another host',
      );
    return url.toString();
  };
}

/** One App Center call, paced by the call budget; 404/410 are results, any other failure the taxonomy. */
function pacedAppCenterCall(settings: AppCenterSettings, http: Got, budget: CallBudget) {
  return async function call(
    operation: string,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    options: { json?: unknown; ok: number[]; signal?: AbortSignal },
  ): Promise<{ status: number; body: unknown }> {
    await budget.pace('appcenter', settings.rateLimit);
    let res: Response<string>;
    try {
      res = await http(url, {
        method,
        headers: { 'x-api-token': settings.apiToken, accept: 'application/json' },
        // App Center answers 411 to a POST or PUT without a body: send `{}` when there is nothing to say.
        ...(options.json !== undefined
          ? { json: options.json }
          : method === 'POST' || method === 'PUT'
            ? { json: {} }
            : {}),
        responseType: 'text',
        signal: options.signal,
        context: { operation },
      });
    } catch (err) {
      throw networkError(operation, err);
    }
    const status = res.statusCode;
    const body = parseJson(res.body);
    if (options.ok.includes(status) || status === 404 || status === 410) return { status, body };
    throw toVendorError(operation, status, errorCode(body), res.headers['retry-after'], settings.throttleDelayMs);
  };
}

// ---- the export container (Azure Blob Storage through a container SAS; not App Center, so not paced) ----
function exportContainer(settings: AppCenterSettings, http: Got) {
  const sas = settings.exportContainerSasUri ? new URL(settings.exportContainerSasUri) : undefined;
  const requireSas = (operation: string): URL => {
    if (!sas)
      throw new PermanentVendorError(
        { vendor: 'appcenter', operation, code: 'NoExportContainer' },
        'needs exportContainerSasUri',
      );
    return sas;
  };
  const blobUrl = (operation: string, name: string): string => {
    const container = requireSas(operation);
    const path = name.split('/').map(encodeURIComponent).join('/');
    return `${container.origin}${container.pathname.replace(/\/$/, '')}/${path}${container.search}`;
  };
  const xml = new XMLParser({ isArray: (name) => name === 'Blob' });

  async function blobCall(
    operation: string,
    method: 'GET' | 'DELETE',
    url: string,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: string }> {
    let res: Response<string>;
    try {
      res = await http(url, { method, responseType: 'text', signal, context: { operation } });
    } catch (err) {
      throw networkError(operation, err);
    }
    if (res.statusCode < 300 || res.statusCode === 404) return { status: res.statusCode, body: res.body };
    throw blobError(
      operation,
      res.statusCode,
      res.headers['x-ms-error-code'],
      res.headers['retry-after'],
      settings.throttleDelayMs,
    );
  }
  return { requireSas, blobUrl, blobCall, xml };
}

export function parseJson(text: string | undefined): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** App Center's error code (`{"error":{"code":"TooManyRequests"}}`), checked by the one vendor-code pattern; never its message. */
function errorCode(body: unknown): string | undefined {
  return checkedVendorCode((body as { error?: { code?: unknown } } | undefined)?.error?.code);
}

function header(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** An App Center answer that is neither a success nor a 404/410, as the taxonomy. */
export function toVendorError(
  operation: string,
  status: number,
  code: string | undefined,
  retryAfter: string | string[] | undefined,
  throttleDelayMs: number,
): VendorError {
  return classifyHttpFailure({
    vendor: 'appcenter',
    operation,
    status,
    code,
    retryAfterMs: parseRetryAfter(header(retryAfter)),
    defaultThrottleDelayMs: throttleDelayMs,
  });
}

/** Azure Blob answers: 503 ServerBusy / OperationTimedOut is Azure's throttling, the rest as usual. */
export function blobError(
  operation: string,
  status: number,
  code: string | string[] | undefined,
  retryAfter: string | string[] | undefined,
  throttleDelayMs: number,
): VendorError {
  const errorCode = header(code);
  const safeCode = checkedVendorCode(errorCode);
  if (safeCode === 'ServerBusy')
    return new RateLimitedError(
      { vendor: 'appcenter', operation, status, code: safeCode },
      parseRetryAfter(header(retryAfter)) ?? throttleDelayMs,
    );
  return toVendorError(operation, status, safeCode, retryAfter, throttleDelayMs);
}

/** Timeouts, resets, refused connections and aborts: the call may not have arrived; try again later. */
export function networkError(operation: string, err: unknown): VendorError {
  if (err instanceof TransientVendorError || err instanceof PermanentVendorError || err instanceof RateLimitedError)
    return err;
  const code = err instanceof RequestError ? err.code : ((err as Error | undefined)?.name ?? 'Error');
  return new TransientVendorError({ vendor: 'appcenter', operation, code }, 'did not complete');
}
