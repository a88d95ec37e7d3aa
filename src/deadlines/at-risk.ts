/**
 * `at_risk` (issue 7): an open request that is not yet overdue, with a task of some vendor still
 * unfinished, where now + that vendor's observed p95 task duration passes the due date. Observed
 * durations come from the ledger's finished tasks over a recent window; a vendor with too few of
 * them uses a configured default. Pure: the ledger supplies the figures.
 */

/** Settings (`deadlines.atRisk` in the config file). */
export interface AtRiskSettings {
  /** Finished tasks younger than this many days make up the observed durations. @defaultValue 30 */
  windowDays: number;
  /** Fewer finished tasks than this for a vendor and its default is used instead. @defaultValue 20 */
  minSamples: number;
  /** The duration assumed for a vendor without enough samples, in hours. @defaultValue 24 */
  defaultHours: number;
  /** Per-vendor defaults in hours (e.g. Amplitude's deletions take days), over `defaultHours`. */
  vendorDefaultHours: Record<string, number>;
  /** How long computed estimates are reused, in ms (the p95 query reads the whole window). @defaultValue 60000 */
  cacheMs: number;
}

export const AT_RISK_DEFAULTS: AtRiskSettings = {
  windowDays: 30,
  minSamples: 20,
  defaultHours: 24,
  vendorDefaultHours: {},
  cacheMs: 60_000,
};

/** What the ledger observed for one vendor: how many tasks finished in the window and their p95 duration. */
export interface ObservedDurations {
  vendor: string;
  samples: number;
  p95Seconds: number;
}

/** The duration expected for a vendor's unfinished task, and where that figure came from. */
export interface DurationEstimate {
  vendor: string;
  seconds: number;
  samples: number;
  source: 'observed' | 'default';
}

/**
 * Continuous percentile with linear interpolation between closest ranks: what Postgres's
 * `percentile_cont(p) WITHIN GROUP (ORDER BY x)` computes (the ledger's SQL is checked against it).
 */
export function percentileCont(values: readonly number[], p: number): number | undefined {
  if (values.length === 0 || !(p >= 0 && p <= 1)) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = p * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/** One estimate per vendor named: observed when there are enough samples, else the configured default. */
export function estimateDurations(
  vendors: readonly string[],
  observed: readonly ObservedDurations[],
  settings: AtRiskSettings,
): DurationEstimate[] {
  return vendors.map((vendor) => {
    const seen = observed.find((o) => o.vendor === vendor);
    if (seen && seen.samples >= settings.minSamples && Number.isFinite(seen.p95Seconds)) {
      return { vendor, seconds: seen.p95Seconds, samples: seen.samples, source: 'observed' as const };
    }
    const hours = settings.vendorDefaultHours[vendor] ?? settings.defaultHours;
    return { vendor, seconds: hours * 3600, samples: seen?.samples ?? 0, source: 'default' as const };
  });
}

export interface VendorRisk {
  vendor: string;
  expectedFinishAt: Date;
  estimateSeconds: number;
  source: DurationEstimate['source'];
}

export interface RiskAssessment {
  atRisk: boolean;
  /** The vendors expected to finish after the due date (empty when not at risk). */
  vendors: VendorRisk[];
  /** The latest expected finish among the request's unfinished vendors (undefined when none is open). */
  expectedFinishAt?: Date;
}

/**
 * The rule. `openVendors` are the vendors with an unfinished task. A request already overdue is
 * `overdue`, not at risk; an ended one is neither.
 */
export function assessRisk(
  request: { dueAt: Date; finishedAt: Date | null },
  openVendors: readonly string[],
  estimates: readonly DurationEstimate[],
  now: Date,
): RiskAssessment {
  if (request.finishedAt || openVendors.length === 0) return { atRisk: false, vendors: [] };
  const expected = [...new Set(openVendors)].sort().map((vendor) => {
    const estimate = estimates.find((e) => e.vendor === vendor);
    const seconds = estimate?.seconds ?? 0;
    return {
      vendor,
      expectedFinishAt: new Date(now.getTime() + seconds * 1000),
      estimateSeconds: seconds,
      source: estimate?.source ?? 'default',
    };
  });
  const expectedFinishAt = new Date(Math.max(...expected.map((e) => e.expectedFinishAt.getTime())));
  if (request.dueAt.getTime() < now.getTime()) return { atRisk: false, vendors: [], expectedFinishAt };
  const late = expected.filter((e) => e.expectedFinishAt.getTime() > request.dueAt.getTime());
  return { atRisk: late.length > 0, vendors: late, expectedFinishAt };
}
