/** What the service answered with an error: its status, code, message and field problems. */
export class ApiResponseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Array<{ field: string; problem: string }> = [],
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiResponseError';
  }

  /** 5xx: the service could not do it (exit code 3); a 4xx is a refusal of this call (exit code 1). */
  get serverSide(): boolean {
    return this.status >= 500;
  }
}

/** The service could not be reached, or answered something that is not our API. */
export class ApiConnectionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApiConnectionError';
  }
}

export interface ApiClientOptions {
  url: string;
  token: string;
  timeoutMs?: number;
}

/** A small JSON client for the `/v1` API (global fetch). */
export class ApiClient {
  private readonly timeoutMs: number;

  constructor(private readonly options: ApiClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  get baseUrl(): string {
    return this.options.url;
  }

  /** T names the shape of the service's own answer (src/cli/api-answers.ts); it is not checked here. */
  get<T = unknown>(pathname: string, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const suffix = qs.size ? `?${qs}` : '';
    return this.call('GET', `${pathname}${suffix}`).then((r) => r.body as T);
  }

  post<T = unknown>(pathname: string, body: unknown): Promise<T> {
    return this.call('POST', pathname, body).then((r) => r.body as T);
  }

  /** The parsed body of a 2xx answer; any other answer throws ApiResponseError. */
  private async call(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.token}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.options.url}${pathname}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if (err instanceof Error && err.name === 'TimeoutError')
        throw new ApiConnectionError(
          `${this.options.url} did not answer within ${Math.round(this.timeoutMs / 1000)} s`,
        );
      const cause = errorCause(err);
      throw new ApiConnectionError(`cannot reach ${this.options.url}${cause ? ` (${cause})` : ''}`);
    }
    const text = await res.text().catch(() => '');
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiConnectionError(
        `${this.options.url} answered HTTP ${res.status} with a body that is not JSON; is this an erasure service?`,
      );
    }
    if (!res.ok) {
      const error = errorBody(parsed);
      throw new ApiResponseError(
        res.status,
        error.code ?? `http_${res.status}`,
        error.message ?? `HTTP ${res.status}`,
        error.details,
        parsed,
      );
    }
    return { status: res.status, body: parsed };
  }
}

/** The error code of a failed fetch (ECONNREFUSED, ENOTFOUND, …), when there is one. */
function errorCause(err: unknown): string | undefined {
  if (!(err instanceof Error) || typeof err.cause !== 'object' || err.cause === null) return undefined;
  const code = (err.cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** `{ error: { code, message, details } }` of an error answer, each part only when it has its type. */
function errorBody(parsed: unknown): {
  code?: string;
  message?: string;
  details: Array<{ field: string; problem: string }>;
} {
  const error: unknown =
    typeof parsed === 'object' && parsed !== null ? (parsed as { error?: unknown }).error : undefined;
  if (typeof error !== 'object' || error === null) return { details: [] };
  const { code, message, details } = error as { code?: unknown; message?: unknown; details?: unknown };
  const problems = Array.isArray(details)
    ? details.filter(
        (d): d is { field: string; problem: string } =>
          typeof d === 'object' &&
          d !== null &&
          typeof (d as { field?: unknown }).field === 'string' &&
          typeof (d as { problem?: unknown }).problem === 'string',
      )
    : [];
  return {
    code: typeof code === 'string' || typeof code === 'number' ? String(code) : undefined,
    message: typeof message === 'string' ? message : undefined,
    details: problems,
  };
}
