/**
 * What every benchmark scenario reports (DESIGN.md, Performance): its own figures, the baseline
 * measured in the same run, the ratio between them and whether the target holds.
 */
export type Figure = number | string | boolean | null;
export type Figures = Record<string, Figure | Record<string, Figure>>;

/** `smoke` runs every code path at tiny sizes (for `npm test`); `full` is the measurement. */
export type BenchSize = 'smoke' | 'full';

export interface ScenarioResult {
  /** Our figures. */
  measured: Figures;
  /** The baseline's figures, measured in the same run on the same machine. */
  baseline: Figures;
  ratio: number;
  /** One line each for the table: our headline figure and the baseline's. */
  headline: { measured: string; baseline: string };
  /** The target as text, e.g. "ratio >= 0.8, peak RSS <= 150 MB". */
  target: string;
  /** Every part of the target holds. */
  met: boolean;
  seconds: number;
}

export interface ScenarioContext {
  size: BenchSize;
  /** Where generated data is cached between runs (gitignored). */
  cacheDir: string;
  /** A Redis the scenario may use; each scenario takes its own key prefix and flushes nothing else. */
  redisUrl: string;
  /** A new, empty Postgres database for one service, or undefined to use PGlite (no Postgres installed). */
  freshDatabase(): Promise<string | undefined>;
  /**
   * Profile the scenarios that support it (pipeline: ours and `direct`) with V8's CPU profiler, writing
   * `<cacheDir>/<scenario>.cpuprofile` and `<cacheDir>/<scenario>-direct.cpuprofile`. The profiler slows the run. @defaultValue false
   */
  profile?: boolean;
  log(message: string): void;
}

export interface Scenario {
  name: 'scan' | 'pipeline' | 'vendor_limits' | 'amortisation' | 'intake' | 'latency' | 'scale_out';
  /** One line: what is measured against what. */
  summary: string;
  run(context: ScenarioContext): Promise<Omit<ScenarioResult, 'seconds'>>;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The nearest-rank percentile `p` (0 < p <= 100) of `values`; NaN when there are none. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1];
}

/** Rounds for display and JSON: figures are measurements, not exact values. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
