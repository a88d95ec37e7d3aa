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

/** Credentials the simulators accept; `GET /sandbox` hands them to clients. */
export const SANDBOX_CREDENTIALS = {
  aws: { accessKeyId: 'SANDBOXACCESSKEY', secretAccessKey: 'sandbox-secret-key', region: 'us-east-1' },
} as const;

export interface SandboxOptions {
  /** Seeded people (SANDBOX_SUBJECTS). @defaultValue 1000 */
  subjects?: number;
  /** Sandbox milliseconds per real millisecond for the vendors' async jobs. @defaultValue 1 */
  clockSpeed?: number;
  /** Faults in force from the start, per vendor. */
  faults?: Partial<Record<VendorName, FaultPatch>>;
  pinpoint?: Omit<PinpointSimulatorOptions, 'store' | 'stats' | 'faults'>;
  // ── per-vendor simulator options are declared below this line ──
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
  // ── vendor simulator handles (store, ids) are declared below this line ──
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
  const pinpointServer = await listen(createPinpointSimulator({ ...options.pinpoint, store: pinpointStore, stats, faults }));
  servers.push(pinpointServer);

  const vendors: Record<string, SandboxVendorInfo> = {
    pinpoint: { baseUrl: pinpointServer.url, credentials: { ...SANDBOX_CREDENTIALS.aws }, appIds: [appId] },
  };
  // ── vendor simulators: each one adds its block below this line (start, push to servers, add to vendors) ──

  const sandbox: Sandbox = {
    clock,
    stats,
    faults,
    subjects,
    vendors,
    pinpoint: { store: pinpointStore, appId },
    // ── vendor simulator handles are set below this line ──
    controlRouter: () => createControlRouter(sandbox),
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
  return sandbox;
}

function createControlRouter(sandbox: Sandbox): Router {
  const router = express.Router();
  router.use(express.json({ limit: '16kb' }));
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
    const vendor = String(req.params.vendor);
    if (!isVendorName(vendor)) return res.status(404).json({ error: `unknown vendor; one of ${VENDOR_NAMES.join(', ')}` });
    const problems = validateFaultPatch(req.body);
    if (problems.length) return res.status(400).json({ error: 'invalid fault settings', details: problems });
    res.json(sandbox.faults.set(vendor, req.body as FaultPatch));
  });
  router.post('/sandbox/clock/advance', (req, res) => {
    const ms = Number((req.body as { ms?: unknown })?.ms);
    if (!Number.isFinite(ms) || ms < 0) return res.status(400).json({ error: 'body must be {"ms": <non-negative number>}' });
    sandbox.clock.advance(ms);
    res.json(sandbox.clock.describe());
  });
  return router;
}

function validateFaultPatch(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['body must be an object'];
  const problems: string[] = [];
  const known = new Set(['errorRate', 'latencyMs', 'throttleForMs', 'outage']);
  for (const [key, value] of Object.entries(body)) {
    if (!known.has(key)) problems.push(`${key}: unknown setting`);
    else if (key === 'outage' ? typeof value !== 'boolean' : typeof value !== 'number' || !(value >= 0)) problems.push(`${key}: invalid value`);
  }
  const rate = (body as { errorRate?: number }).errorRate;
  if (typeof rate === 'number' && rate > 1) problems.push('errorRate: must be between 0 and 1');
  return problems;
}
