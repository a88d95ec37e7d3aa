import { performance } from 'node:perf_hooks';
import { PINPOINT_OTHER_RATE } from '../src/sandbox/pinpoint/pinpoint-simulator.js';
import { AMPLITUDE_DEFAULTS, AMPLITUDE_MAX_IDS } from '../src/vendors/amplitude-settings.js';
import { SEGMENT_DEFAULTS, SEGMENT_MAX_SUBJECT_IDS } from '../src/vendors/segment-settings.js';
import { BACKUP_CLEAR_DAYS } from '../src/sandbox/amplitude/amplitude-store.js';
import { DEFAULT_SEGMENT_TIMINGS } from '../src/sandbox/segment/segment-store.js';
import { SEGMENT_CREATE_REQUESTS_PER_MINUTE } from '../src/sandbox/segment/segment-simulator.js';
import { FINAL_REQUEST_STATUSES } from '../src/ledger/ledger-types.js';
import { startBenchService, userIdRequests } from './bench-service.js';
import { round, type ScenarioContext } from './scenario.js';

/** Vendors whose limits bind at this volume; App Center and S3 are left out (see README, Benchmarks). */
export const SATURATION_VENDORS = ['pinpoint', 'amplitude', 'segment'] as const;
/** The sandbox's demo speed (config default): vendors' days-long jobs take seconds; ten times that for a smoke run. */
const CLOCK_SPEED = { full: 20_000, smoke: 200_000 } as const;
const DAY_MS = 86_400_000;
/** The sandbox Amplitude's schedule defaults (src/sandbox/amplitude/amplitude-store.ts). */
const AMPLITUDE_LEAD_DAYS = 10;
const AMPLITUDE_SCRUB_DAYS = 1;

export interface SaturationResult {
  requests: number;
  seconds: number;
  byStatus: Record<string, number>;
  /** Accepted requests not in a final state when the run ended. */
  lost: number;
  stats: Record<
    string,
    {
      total: { calls: number; throttled: number; errors: number };
      operations: Record<string, { calls: number; throttled: number; errors: number }>;
    }
  >;
  /** Seconds from the start until each vendor's last task ended (where the time went). */
  lastTaskEndedAt: Record<string, number>;
  /** The least time the vendors' limits and processing allow, per vendor; the run can be no faster than the largest. */
  minimumSeconds: Record<(typeof SATURATION_VENDORS)[number], number>;
}

/**
 * The least wall time each vendor's limits allow for `n` requests by user id, from the sandbox's
 * default limits, the configured batch windows and the vendors' own processing times (sandbox clock),
 * assuming perfect batching:
 * - Pinpoint: GetUserEndpoints, DeleteUserEndpoints and the verifying GetUserEndpoints per person, at 300/s.
 * - Amplitude: one create per 100 ids at 1 call/s; the last batch then runs `leadDays` ahead and is done
 *   `scrubDays` + the 5-day backup clear later (vendor-contracts §5), in sandbox days. The run day is a
 *   calendar date (the lead ends at a midnight), so done comes 15 to 16 days after the last create: the
 *   minimum takes the 15, a true lower bound whatever the time of day.
 * - Segment: one create per 5,000 ids (600/min budget), then the regulation's 6 h to FINISHED.
 */
export function minimumSeconds(
  n: number,
  clockSpeed: number,
  windowsMs: { amplitude: number; segment: number },
): SaturationResult['minimumSeconds'] {
  const sandboxSeconds = (ms: number) => ms / clockSpeed / 1000;
  // A batch that never fills waits out its window before its create call.
  const partialWait = (max: number, windowMs: number) => (n % max === 0 ? 0 : windowMs / 1000);
  return {
    pinpoint: (3 * n) / PINPOINT_OTHER_RATE,
    amplitude:
      Math.ceil(n / AMPLITUDE_MAX_IDS) / AMPLITUDE_DEFAULTS.requestsPerSecond +
      partialWait(AMPLITUDE_MAX_IDS, windowsMs.amplitude) +
      sandboxSeconds((AMPLITUDE_LEAD_DAYS - 1 + AMPLITUDE_SCRUB_DAYS + BACKUP_CLEAR_DAYS) * DAY_MS),
    segment:
      Math.ceil(n / SEGMENT_MAX_SUBJECT_IDS) / (SEGMENT_CREATE_REQUESTS_PER_MINUTE / 60) +
      partialWait(SEGMENT_MAX_SUBJECT_IDS, windowsMs.segment) +
      sandboxSeconds(DEFAULT_SEGMENT_TIMINGS.finishAfterMs),
  };
}

const runs = new WeakMap<ScenarioContext, Promise<SaturationResult>>();

/** `n` requests by user id to Pinpoint, Amplitude and Segment under the sandbox's default limits; shared by vendor_limits and amortisation. */
export function saturationRun(context: ScenarioContext): Promise<SaturationResult> {
  let run = runs.get(context);
  if (!run) runs.set(context, (run = doRun(context)));
  return run;
}

async function doRun(context: ScenarioContext): Promise<SaturationResult> {
  const n = context.size === 'full' ? 10_000 : 100;
  context.log(
    `saturation run: ${n} requests by user id to ${SATURATION_VENDORS.join(', ')} under the sandbox's default limits`,
  );
  // Saturation means full batches: the full run uses Segment's production window (300 s, it fills at 5,000 ids
  // long before); the smoke run keeps the sandbox's 5 s, as its 100 requests never fill a batch.
  const vendorOverrides = context.size === 'full' ? { segment: { batchWindowMs: SEGMENT_DEFAULTS.batchWindowMs } } : {};
  const service = await startBenchService({
    context,
    name: 'saturation',
    file: { sandbox: { subjects: n, clockSpeed: CLOCK_SPEED[context.size], vendorOverrides } },
  });
  try {
    // Intake is measured by its own scenario: queue everything first, then time the work.
    await service.pauseAll();
    const accepted = await service.submitBulk(userIdRequests(n, [...SATURATION_VENDORS]));
    if (accepted !== n) throw new Error(`saturation run: ${accepted} of ${n} accepted`);
    service.sandbox!.stats.reset();
    const started = performance.now();
    const startedAt = Date.now();
    await service.resumeAll();
    const vendors = service.config.vendors;
    const minimum = minimumSeconds(n, CLOCK_SPEED[context.size], {
      amplitude: vendors.amplitude!.batchWindowMs,
      segment: vendors.segment!.batchWindowMs,
    });
    const budgetMs = Math.max(60_000, Math.max(...Object.values(minimum)) * 1000 * 5);
    let byStatus: Record<string, number>;
    try {
      byStatus = await service.waitForFinal(n, budgetMs, 250);
    } catch {
      byStatus = (await service.ledger.queries.countRequestsByStatus()).byStatus;
    }
    const seconds = (performance.now() - started) / 1000;
    const final = FINAL_REQUEST_STATUSES.reduce((k, s) => k + (byStatus[s] ?? 0), 0);
    const { rows } = await service.db.query<{ vendor: string; last: Date }>(
      `SELECT vendor, max(finished_at) AS last FROM tasks GROUP BY vendor`,
    );
    const lastTaskEndedAt = Object.fromEntries(
      rows.map((r) => [r.vendor, round((new Date(r.last).getTime() - startedAt) / 1000, 1)]),
    );
    return {
      requests: n,
      seconds,
      byStatus,
      lost: n - final,
      stats: service.sandbox!.stats.snapshot(),
      lastTaskEndedAt,
      minimumSeconds: minimum,
    };
  } finally {
    await service.close();
  }
}
