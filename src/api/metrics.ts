import type { VendorBreaker } from '../infrastructure/vendor-breaker.js';
import type { Ledger } from '../ledger/ledger.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import type { QueueSet } from '../infrastructure/queue-set.js';
import type { VendorCallStats, VendorCallTotals } from '../metrics/vendor-call-stats.js';
import { histogramLines, promLabels } from '../metrics/latency-histogram.js';

export interface MetricsSources {
  ledger: Ledger;
  queues: QueueSet;
  vendorCalls: VendorCallStats;
  deadlineRisk: DeadlineRiskLedger;
  /**
   * The values the `client` label may take: names of configured tokens that can submit. Any other client (rows from
   * before clients, a token since removed) is counted as `other`, so the label stays bounded.
   */
  clients?: readonly string[];
  breaker?: VendorBreaker;
  /** Open manual work (manual tasks, guided scope deletions) past its due time (src/manual-work/). */
  overdueManualWork?: () => Promise<number>;
}

/** A client name as a bounded label value. */
export function clientLabel(client: string, known: readonly string[]): string {
  return known.includes(client) ? client : 'other';
}

/** Per-client counts as label values: every known client (0 when none), plus `other` when it has any. */
function perClient(counts: Iterable<[string, number]>, known: readonly string[]): Map<string, number> {
  const out = new Map<string, number>(known.map((c) => [c, 0]));
  for (const [client, n] of counts) {
    const label = clientLabel(client, known);
    out.set(label, (out.get(label) ?? 0) + n);
  }
  return out;
}

/**
 * Prometheus text: BullMQ's per-queue job counts, the ledger's requests by status, overdue and at
 * risk, and vendor calls summed over every process (Redis). A source that is down is left out with
 * a comment rather than failing the scrape.
 */
export async function renderMetrics(sources: MetricsSources): Promise<string> {
  const { ledger, queues } = sources;
  const parts: string[] = [];
  for (const queue of queues.all()) {
    try {
      parts.push(await queue.exportPrometheusMetrics({ service: 'erasure' }));
    } catch {
      parts.push(`# queue ${queue.name}: Redis unavailable`);
    }
  }
  const known = sources.clients ?? [];
  const counts = await ledger.queries.countRequestsByStatus().catch(() => undefined);
  if (counts) {
    parts.push('# HELP erasure_requests Erasure requests by status and client.', '# TYPE erasure_requests gauge');
    const byLabel = new Map<string, number>();
    for (const { client, status, n } of counts.byClient) {
      const key = promLabels({ status, client: clientLabel(client, known) });
      byLabel.set(key, (byLabel.get(key) ?? 0) + n);
    }
    for (const [labels, n] of byLabel) parts.push(`erasure_requests{${labels}} ${n}`);
    parts.push(
      '# HELP erasure_requests_overdue Open requests past their legal deadline, by client.',
      '# TYPE erasure_requests_overdue gauge',
    );
    for (const [client, n] of perClient(counts.overdueByClient, known))
      parts.push(`erasure_requests_overdue{${promLabels({ client })}} ${n}`);
  }
  const atRisk = await sources.deadlineRisk.countAtRiskByClient().catch(() => undefined);
  if (atRisk !== undefined) {
    parts.push(
      '# HELP erasure_requests_at_risk Open requests not yet overdue that a vendor, at its observed p95 task duration, would finish after the deadline, by client.',
      '# TYPE erasure_requests_at_risk gauge',
    );
    for (const [client, n] of perClient(atRisk, known))
      parts.push(`erasure_requests_at_risk{${promLabels({ client })}} ${n}`);
  }
  const breakers = sources.breaker ? await sources.breaker.states().catch(() => undefined) : undefined;
  if (breakers) {
    parts.push(
      "# HELP erasure_vendor_breaker_open 1 while a vendor's circuit breaker holds its queue paused (open), 0.5 while half-open, 0 when closed.",
      '# TYPE erasure_vendor_breaker_open gauge',
    );
    for (const b of breakers)
      parts.push(
        `erasure_vendor_breaker_open{${promLabels({ vendor: b.vendor, fault: b.fault ?? 'none' })}} ${b.state === 'open' ? 1 : b.state === 'half_open' ? 0.5 : 0}`,
      );
  }
  const manual = await sources.overdueManualWork?.().catch(() => undefined);
  if (manual !== undefined) {
    parts.push(
      '# HELP erasure_manual_work_overdue Manual tasks and guided scope deletions past their due time.',
      '# TYPE erasure_manual_work_overdue gauge',
      `erasure_manual_work_overdue ${manual}`,
    );
  }
  const calls = await sources.vendorCalls.totals().catch(() => undefined);
  parts.push(...(calls ? vendorCallLines(calls) : ['# vendor calls: Redis unavailable']));
  return `${parts.join('\n')}\n`;
}

/** The vendor call counters and latency histograms as Prometheus text lines. */
export function vendorCallLines(totals: VendorCallTotals): string[] {
  const lines = [
    '# HELP erasure_vendor_calls_total Vendor HTTP calls by vendor, operation and outcome (ok, 4xx, 429, 5xx, network_error), all processes.',
    '# TYPE erasure_vendor_calls_total counter',
  ];
  for (const c of totals.calls)
    lines.push(
      `erasure_vendor_calls_total{${promLabels({ vendor: c.vendor, operation: c.operation, outcome: c.outcome })}} ${c.count}`,
    );
  lines.push(
    '# HELP erasure_vendor_call_duration_seconds Vendor HTTP call latency by vendor, all processes.',
    '# TYPE erasure_vendor_call_duration_seconds histogram',
  );
  for (const [vendor, latency] of [...totals.latency.entries()].sort(([a], [b]) => a.localeCompare(b)))
    lines.push(...histogramLines('erasure_vendor_call_duration_seconds', { vendor }, latency));
  return lines;
}
