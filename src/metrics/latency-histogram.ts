/**
 * Upper bounds (seconds) of the vendor call latency buckets: from a sandbox round trip to a slow
 * export page. Fixed, so every process adds into the same buckets.
 */
export const LATENCY_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** Index of the bucket a duration falls in; `LATENCY_BUCKETS_SECONDS.length` is the +Inf bucket. */
export function bucketIndex(seconds: number): number {
  const i = LATENCY_BUCKETS_SECONDS.findIndex((le) => seconds <= le);
  return i === -1 ? LATENCY_BUCKETS_SECONDS.length : i;
}

/** One series' raw histogram: per-bucket (not cumulative) counts, the sum and the count. */
export interface HistogramData {
  /** Length `LATENCY_BUCKETS_SECONDS.length + 1`; the last is +Inf. */
  buckets: number[];
  sumSeconds: number;
  count: number;
}

export function emptyHistogram(): HistogramData {
  return { buckets: new Array<number>(LATENCY_BUCKETS_SECONDS.length + 1).fill(0), sumSeconds: 0, count: 0 };
}

/** Prometheus label values: backslash, double quote and newline escaped (exposition format 0.0.4). */
export function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labels(pairs: Record<string, string>): string {
  return Object.entries(pairs)
    .map(([k, v]) => `${k}="${labelValue(v)}"`)
    .join(',');
}

/**
 * Prometheus text lines for one histogram series: cumulative `_bucket` lines (the format wants
 * `le` counts to include every smaller bucket, ending with `+Inf` equal to `_count`), then `_sum`
 * and `_count`.
 */
export function histogramLines(name: string, seriesLabels: Record<string, string>, data: HistogramData): string[] {
  const lines: string[] = [];
  let cumulative = 0;
  LATENCY_BUCKETS_SECONDS.forEach((le, i) => {
    cumulative += data.buckets[i] ?? 0;
    lines.push(`${name}_bucket{${labels({ ...seriesLabels, le: String(le) })}} ${cumulative}`);
  });
  cumulative += data.buckets[LATENCY_BUCKETS_SECONDS.length] ?? 0;
  lines.push(`${name}_bucket{${labels({ ...seriesLabels, le: '+Inf' })}} ${cumulative}`);
  lines.push(`${name}_sum{${labels(seriesLabels)}} ${Number(data.sumSeconds.toFixed(6))}`);
  lines.push(`${name}_count{${labels(seriesLabels)}} ${data.count}`);
  return lines;
}

export { labels as promLabels };
