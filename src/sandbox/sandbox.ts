import express from 'express';
import type { Router } from 'express';
import { SandboxClock } from './sandbox-clock.js';
import { SandboxStats } from './sandbox-stats.js';
import { FaultKnobs, type FaultPatch } from './fault-knobs.js';
import { listen, type ListeningServer } from './vendor-http.js';
import { isVendorName, VENDOR_NAMES, type VendorName } from '../vendors/vendor-name.js';
import { PinpointStore } from './pinpoint/pinpoint-store.js';
import { createPinpointSimulator, type PinpointSimulatorOptions } from './pinpoint/pinpoint-simulator.js';
import { seedPinpoint } from './pinpoint/pinpoint-seed.js';
import { startS3, type S3SandboxOptions } from './s3/s3-sandbox.js';
import type { S3Store } from './s3/s3-store.js';
import type { S3SandboxBuckets } from './s3/s3-seed.js';
import { startSegment, type SegmentSandboxOptions } from './segment/segment-sandbox.js';
import type { SegmentStore } from './segment/segment-store.js';
import { startAppCenter, type AppCenterSandboxOptions } from './appcenter/appcenter-sandbox.js';
import type { AppCenterStore } from './appcenter/appcenter-store.js';
import { startAmplitude, type AmplitudeSandboxOptions } from './amplitude/amplitude-sandbox.js';
import type { AmplitudeStore } from './amplitude/amplitude-store.js';
import { verifyJsonDepth } from '../api/json-body-policy.js';

/** Credentials the simulators accept; `GET /sandbox` hands them to clients. */
export const SANDBOX_CREDENTIALS = {
  aws: { accessKeyId: 'SANDBOXACCESSKEY', secretAccessKey: 'sandbox-secret-key', region: 'us-east-1' },
} as const;

/**
 * The simulator settings of `sandbox.retiredVendors` (issue 17): Pinpoint past its end of support
 * (every call 403 ForbiddenException) and App Center retired (every `/v0.1` call 404).
 */
export const RETIRED_VENDOR_ANSWERS = {
  pinpoint: { endOfSupportStatus: 403 },
  appcenter: { retired: true },
} as const satisfies Pick<SandboxOptions, 'pinpoint' | 'appcenter'>;

export interface SandboxOptions {
  /** Seeded people (SANDBOX_SUBJECTS). @defaultValue 1000 */
  subjects?: number;
  /** Sandbox milliseconds per real millisecond for the vendors' async jobs. @defaultValue 1 */
  clockSpeed?: number;
  /** Faults in force from the start, per vendor. */
  faults?: Partial<Record<VendorName, FaultPatch>>;
  pinpoint?: Omit<PinpointSimulatorOptions, 'store' | 'stats' | 'faults' | 'clock' | 'objectStore'>;
  s3?: S3SandboxOptions;
  segment?: SegmentSandboxOptions;
  appcenter?: AppCenterSandboxOptions;
  amplitude?: AmplitudeSandboxOptions;
  /** Address every simulator listens on (`erasure sandbox` on HOST=0.0.0.0 serves other machines). @defaultValue '127.0.0.1' */
  host?: string;
}

/** What `GET /sandbox` describes for one vendor. */
export interface SandboxVendorInfo {
  baseUrl: string;
  credentials: Record<string, string>;
  [detail: string]: unknown;
}

/** The running simulators, their shared clock, stats and fault knobs. */
export interface Sandbox {
  clock: SandboxClock;
  stats: SandboxStats;
  faults: FaultKnobs;
  subjects: number;
  vendors: Record<string, SandboxVendorInfo>;
  pinpoint: { store: PinpointStore; appId: string };
  s3: { store: S3Store; buckets: S3SandboxBuckets };
  segment: { store: SegmentStore; token: string; sourceIds: string[]; cloudSourceIds: string[]; workspaceId: string };
  appcenter: { store: AppCenterStore; owner: string; app: string; token: string };
  amplitude: { store: AmplitudeStore; apiKey: string; secretKey: string };
  /** `/sandbox` control routes, to mount on the service or serve alone. */
  controlRouter(): Router;
  close(): Promise<void>;
}

/** Starts every vendor simulator on its own loopback port, seeded with `subjects` people. */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const subjects = options.subjects ?? 1000;
  const clock = new SandboxClock(options.clockSpeed ?? 1);
  const stats = new SandboxStats();
  const faults = new FaultKnobs();
  for (const [vendor, patch] of Object.entries(options.faults ?? {})) faults.set(vendor as VendorName, patch);
  const servers: ListeningServer[] = [];

  const pinpointStore = new PinpointStore();
  const { appId } = seedPinpoint(pinpointStore, subjects);
  const pinpointServer = await listen(
    createPinpointSimulator({
      accessKeyId: SANDBOX_CREDENTIALS.aws.accessKeyId,
      ...options.pinpoint,
      store: pinpointStore,
      stats,
      faults,
      clock,
      objectStore: () => s3.store,
    }),
    0,
    options.host,
  );
  servers.push(pinpointServer);

  const vendors: Record<string, SandboxVendorInfo> = {
    pinpoint: { baseUrl: pinpointServer.url, credentials: { ...SANDBOX_CREDENTIALS.aws }, appIds: [appId] },
  };
  const s3 = await startS3({
    options: options.s3,
    clock,
    stats,
    faults,
    subjects,
    host: options.host,
    accessKeyId: SANDBOX_CREDENTIALS.aws.accessKeyId,
  });
  servers.push(s3.server);
  vendors.s3 = {
    baseUrl: s3.server.url,
    credentials: { ...SANDBOX_CREDENTIALS.aws },
    forcePathStyle: true,
    buckets: s3.buckets,
  };
  const segment = await startSegment({ options: options.segment, clock, stats, faults, subjects, host: options.host });
  servers.push(segment.server);
  vendors.segment = {
    baseUrl: segment.server.url,
    credentials: { token: segment.token },
    sourceIds: segment.sourceIds,
    cloudSourceIds: segment.cloudSourceIds,
    workspaceId: segment.workspaceId,
  };
  const appcenter = await startAppCenter({
    options: options.appcenter,
    clock,
    stats,
    faults,
    subjects,
    host: options.host,
  });
  servers.push(appcenter.server);
  vendors.appcenter = {
    baseUrl: appcenter.server.url,
    credentials: { apiToken: appcenter.token },
    owner: appcenter.owner,
    app: appcenter.app,
    exportContainerSasUri: appcenter.exportContainerSasUri,
  };
  const amplitude = await startAmplitude({
    options: options.amplitude,
    clock,
    stats,
    faults,
    subjects,
    host: options.host,
  });
  servers.push(amplitude.server, amplitude.euServer);
  vendors.amplitude = {
    baseUrl: amplitude.server.url,
    credentials: { apiKey: amplitude.projects.main.apiKey, secretKey: amplitude.projects.main.secretKey },
    euBaseUrl: amplitude.euServer.url,
    projects: Object.values(amplitude.projects),
  };

  const sandbox: Sandbox = {
    clock,
    stats,
    faults,
    subjects,
    vendors,
    pinpoint: { store: pinpointStore, appId },
    s3: { store: s3.store, buckets: s3.buckets },
    segment: {
      store: segment.store,
      token: segment.token,
      sourceIds: segment.sourceIds,
      cloudSourceIds: segment.cloudSourceIds,
      workspaceId: segment.workspaceId,
    },
    appcenter: { store: appcenter.store, owner: appcenter.owner, app: appcenter.app, token: appcenter.token },
    amplitude: {
      store: amplitude.store,
      apiKey: amplitude.projects.main.apiKey,
      secretKey: amplitude.projects.main.secretKey,
    },
    controlRouter: () => createControlRouter(sandbox),
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
  return sandbox;
}

function createControlRouter(sandbox: Sandbox): Router {
  const router = express.Router();
  // Only the /sandbox routes: mounted at the root, a bare router.use would parse (and cap at 16 kB) every body, /v1 bulk intake included.
  router.use('/sandbox', express.json({ limit: '16kb', verify: verifyJsonDepth }));
  router.get('/sandbox', (_req, res) => {
    res.json({
      vendors: sandbox.vendors,
      seed: {
        subjects: sandbox.subjects,
        person: { email: 'user{i}@example.com', phone: '+1555{i padded to 7 digits}', userId: 'user-{i}' },
      },
      clock: sandbox.clock.describe(),
    });
  });
  router.get('/sandbox/stats', (_req, res) => res.json(sandbox.stats.snapshot()));
  router.post('/sandbox/stats/reset', (_req, res) => {
    sandbox.stats.reset();
    res.status(204).end();
  });
  router.get('/sandbox/faults', (_req, res) => {
    res.json(Object.fromEntries(VENDOR_NAMES.map((v) => [v, sandbox.faults.get(v)])));
  });
  router.put('/sandbox/faults/:vendor', (req, res) => {
    const vendor = req.params.vendor;
    if (!isVendorName(vendor))
      return res.status(404).json({ error: `unknown vendor; one of ${VENDOR_NAMES.join(', ')}` });
    const problems = validateFaultPatch(req.body);
    if (problems.length) return res.status(400).json({ error: 'invalid fault settings', details: problems });
    res.json(sandbox.faults.set(vendor, req.body as FaultPatch));
  });
  router.post('/sandbox/clock/advance', (req, res) => {
    const body: unknown = req.body;
    const ms = Number(typeof body === 'object' && body !== null && 'ms' in body ? body.ms : undefined);
    if (!Number.isFinite(ms) || ms < 0)
      return res.status(400).json({ error: 'body must be {"ms": <non-negative number>}' });
    sandbox.clock.advance(ms);
    res.json(sandbox.clock.describe());
  });
  return router;
}

function validateFaultPatch(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['body must be an object'];
  const problems: string[] = [];
  const known = new Set(['errorRate', 'badRequestRate', 'latencyMs', 'throttleForMs', 'outage', 'credentialsRevoked']);
  for (const [key, value] of Object.entries(body)) {
    if (!known.has(key)) problems.push(`${key}: unknown setting`);
    else if (
      key === 'outage' || key === 'credentialsRevoked'
        ? typeof value !== 'boolean'
        : typeof value !== 'number' || !(value >= 0)
    )
      problems.push(`${key}: invalid value`);
  }
  for (const key of ['errorRate', 'badRequestRate'] as const) {
    const rate = (body as Record<string, unknown>)[key];
    if (typeof rate === 'number' && rate > 1) problems.push(`${key}: must be between 0 and 1`);
  }
  return problems;
}
