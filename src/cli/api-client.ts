/** What the service answered with an error: its status, code, message and field problems. */
export class ApiResponseError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Array<{ field: string; problem: string }> = [],
    readonly body: unknown = undefined,
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

  get<T = any>(pathname: string, query?: Record<string, string | number | boolean | undefined>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const suffix = qs.size ? `?${qs}` : '';
    return this.call<T>('GET', `${pathname}${suffix}`).then((r) => r.body);
  }

  post<T = any>(pathname: string, body: unknown): Promise<T> {
    return this.call<T>('POST', pathname, body).then((r) => r.body);
  }

  private async call<T>(method: string, pathname: string, body?: unknown): Promise<{ status: number; body: T }> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}`, accept: 'application/json' };
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
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      if ((err as Error).name === 'TimeoutError') throw new ApiConnectionError(`${this.options.url} did not answer within ${Math.round(this.timeoutMs / 1000)} s`);
      throw new ApiConnectionError(`cannot reach ${this.options.url}${cause ? ` (${cause})` : ''}`);
    }
    const text = await res.text().catch(() => '');
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new ApiConnectionError(`${this.options.url} answered HTTP ${res.status} with a body that is not JSON; is this an erasure service?`);
    }
    if (!res.ok) {
      const error = parsed?.error ?? {};
      throw new ApiResponseError(res.status, String(error.code ?? `http_${res.status}`), String(error.message ?? `HTTP ${res.status}`), Array.isArray(error.details) ? error.details : [], parsed);
    }
    return { status: res.status, body: parsed as T };
  }
}
