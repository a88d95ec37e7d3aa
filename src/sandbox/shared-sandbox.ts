import type { SandboxVendorInfo } from './sandbox.js';
import type { SimulatedVendors } from './simulated-vendors.js';

/** What `GET /sandbox` answers (src/sandbox/sandbox.ts, createControlRouter). */
interface SandboxDescription {
  vendors: Record<string, SandboxVendorInfo>;
  clock: { now: string; speed: number; offsetMs: number };
}

/** Refused or unreachable shared sandbox; the message names the setting to fix. */
export class SharedSandboxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SharedSandboxError';
  }
}

/**
 * The simulators' clock as seen from another process: the sandbox's time at the last reading,
 * carried forward at its speed on the local clock, and read again every `refreshMs` so that a
 * test's `POST /sandbox/clock/advance` reaches every process. Never goes backwards.
 */
export class SharedSandboxClock {
  private anchorSandboxMs = 0;
  private anchorLocalMs = 0;
  private last = 0;
  private speed = 1;

  /** Takes a reading: the sandbox's time, sent between `sentAt` and `receivedAt` (local epoch ms). */
  sync(clock: SandboxDescription['clock'], sentAt: number, receivedAt: number): void {
    const sandboxMs = Date.parse(clock.now);
    if (!Number.isFinite(sandboxMs) || !(clock.speed > 0))
      throw new SharedSandboxError('the shared sandbox described no valid clock');
    this.speed = clock.speed;
    this.anchorSandboxMs = sandboxMs;
    this.anchorLocalMs = (sentAt + receivedAt) / 2;
  }

  now(): number {
    this.last = Math.max(this.last, this.anchorSandboxMs + (Date.now() - this.anchorLocalMs) * this.speed);
    return this.last;
  }

  describe(): { now: string; speed: number } {
    return { now: new Date(this.now()).toISOString(), speed: this.speed };
  }
}

/** A running `erasure sandbox` this process uses instead of starting its own simulators. */
export interface SharedSandbox extends SimulatedVendors {
  /** The sandbox's control URL (ERASURE_SANDBOX_URL). */
  url: string;
  clock: SharedSandboxClock;
  close(): void;
}

export interface ConnectOptions {
  /** ERASURE_SANDBOX_URL / sandbox.url. */
  url: string;
  /** The admin token the sandbox was started with, sent as a Bearer token. */
  token: string;
  /** How often the clock is read again. @defaultValue 1000 */
  refreshMs?: number;
  /** How long to keep trying while the sandbox is not up yet (a deployment starting all at once). @defaultValue 30000 */
  waitMs?: number;
  /** Told when refreshes start failing (the clock then carries on from its last reading). */
  onRefreshError?: (err: Error) => void;
}

/**
 * Reads `GET /sandbox` of a shared sandbox: the vendors' settings (endpoints, credentials, app ids,
 * buckets…) and its clock. Simulator addresses given as loopback are rewritten to the host the
 * sandbox was reached at, so processes on other machines (containers) reach them too.
 */
export async function connectSharedSandbox(options: ConnectOptions): Promise<SharedSandbox> {
  const base = new URL(options.url);
  const describeUrl = new URL('/sandbox', base).toString();
  const clock = new SharedSandboxClock();

  const read = async (): Promise<SandboxDescription> => {
    const sentAt = Date.now();
    const res = await fetch(describeUrl, {
      headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    if (res.status === 401 || res.status === 403)
      throw new SharedSandboxError(
        `the shared sandbox at ERASURE_SANDBOX_URL refused the admin token (HTTP ${res.status}): give every process the ERASURE_ADMIN_TOKEN the sandbox runs with`,
      );
    if (!res.ok)
      throw new SharedSandboxError(
        `the shared sandbox at ERASURE_SANDBOX_URL answered HTTP ${res.status} to GET /sandbox`,
      );
    const body = (await res.json()) as SandboxDescription;
    clock.sync(body.clock, sentAt, Date.now());
    return body;
  };

  const deadline = Date.now() + (options.waitMs ?? 30_000);
  let description: SandboxDescription | undefined;
  while (!description) {
    try {
      description = await read();
    } catch (err) {
      // Refusals are final; an unreachable sandbox may still be starting.
      if (err instanceof SharedSandboxError || Date.now() >= deadline) {
        throw err instanceof SharedSandboxError
          ? err
          : new SharedSandboxError(`the shared sandbox at ERASURE_SANDBOX_URL is unreachable (${(err as Error).name})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  const vendors = reachableFrom(base, description.vendors);
  // An index lookup: the described sandbox may lack Pinpoint.
  const pinpointInfo = vendors.pinpoint as SandboxVendorInfo | undefined;
  const pinpointAppId = (pinpointInfo?.appIds as string[] | undefined)?.[0];
  const appcenter = vendors.appcenter as (SandboxVendorInfo & { owner?: string; app?: string }) | undefined;
  if (!pinpointAppId || !appcenter?.owner || !appcenter.app)
    throw new SharedSandboxError(
      'the shared sandbox at ERASURE_SANDBOX_URL described no Pinpoint app or App Center app',
    );

  // Told once per outage, not at every refresh while the sandbox is down.
  let failing = false;
  const timer = setInterval(() => {
    read().then(
      () => (failing = false),
      (err: unknown) => {
        if (!failing) options.onRefreshError?.(err instanceof Error ? err : new Error(String(err)));
        failing = true;
      },
    );
  }, options.refreshMs ?? 1000);
  timer.unref();
  return {
    url: base.toString().replace(/\/$/, ''),
    vendors,
    pinpoint: { appId: pinpointAppId },
    appcenter: { owner: appcenter.owner, app: appcenter.app },
    clock,
    close: () => {
      clearInterval(timer);
    },
  };
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** What a server bound to every interface prints: an address to listen on, not to connect to. */
const UNSPECIFIED = new Set(['0.0.0.0', '[::]']);

/**
 * Every URL in the description whose host is unspecified, or loopback while the sandbox itself was
 * reached elsewhere, moved to the host of `base` (its port kept).
 */
function reachableFrom<T>(base: URL, value: T): T {
  const moves = (hostname: string) =>
    UNSPECIFIED.has(hostname) || (LOOPBACK.has(hostname) && !LOOPBACK.has(base.hostname));
  const visit = (v: unknown): unknown => {
    if (typeof v === 'string' && /^https?:\/\//.test(v)) {
      const url = new URL(v);
      if (!moves(url.hostname)) return v;
      url.hostname = base.hostname;
      return url.toString().replace(/\/$/, v.endsWith('/') ? '/' : '');
    }
    if (Array.isArray(v)) return v.map(visit);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, visit(x)]));
    return v;
  };
  return visit(value) as T;
}
