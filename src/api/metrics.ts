import type { RequestLedger } from '../ledger/request-ledger.js';
import type { DeadlineRiskLedger } from '../ledger/deadline-risk-ledger.js';
import type { QueueSet } from '../workers/queue-set.js';
import type { VendorCallStats, VendorCallTotals } from '../metrics/vendor-call-stats.js';
import { histogramLines, promLabels } from '../metrics/latency-histogram.js';

export interface MetricsSources {
  ledger: RequestLedger;
  queues: QueueSet;
  vendorCalls: VendorCallStats;
  deadlineRisk: DeadlineRiskLedger;
  /** Open manual work (manual tasks, guided scope deletions) past its due time (src/manual-work/). */
  overdueManualWork?: () => Promise<number>;
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
  const counts = await ledger.countRequestsByStatus().catch(() => undefined);
  if (counts) {
    parts.push('# HELP erasure_requests Erasure requests by status.', '# TYPE erasure_requests gauge');
    for (const [status, n] of Object.entries(counts.byStatus)) parts.push(`erasure_requests{status="${status}"} ${n}`);
    parts.push('# HELP erasure_requests_overdue Open requests past their legal deadline.', '# TYPE erasure_requests_overdue gauge', `erasure_requests_overdue ${counts.overdue}`);
  }
  const atRisk = await sources.deadlineRisk.countAtRisk().catch(() => undefined);
  if (atRisk !== undefined) {
    parts.push(
      '# HELP erasure_requests_at_risk Open requests not yet overdue that a vendor, at its observed p95 task duration, would finish after the deadline.',
      '# TYPE erasure_requests_at_risk gauge',
      `erasure_requests_at_risk ${atRisk}`,
    );
  }
  const manual = await sources.overdueManualWork?.().catch(() => undefined);
  if (manual !== undefined) {
    parts.push('# HELP erasure_manual_work_overdue Manual tasks and guided scope deletions past their due time.', '# TYPE erasure_manual_work_overdue gauge', `erasure_manual_work_overdue ${manual}`);
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
  for (const c of totals.calls) lines.push(`erasure_vendor_calls_total{${promLabels({ vendor: c.vendor, operation: c.operation, outcome: c.outcome })}} ${c.count}`);
  lines.push('# HELP erasure_vendor_call_duration_seconds Vendor HTTP call latency by vendor, all processes.', '# TYPE erasure_vendor_call_duration_seconds histogram');
  for (const vendor of [...totals.latency.keys()].sort()) lines.push(...histogramLines('erasure_vendor_call_duration_seconds', { vendor }, totals.latency.get(vendor)!));
  return lines;
}
