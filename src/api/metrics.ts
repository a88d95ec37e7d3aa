import type { RequestLedger } from '../ledger/request-ledger.js';
import type { QueueSet } from '../workers/queue-set.js';

/** Prometheus text: BullMQ's per-queue job counts and the ledger's requests by status. */
export async function renderMetrics(ledger: RequestLedger, queues: QueueSet): Promise<string> {
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
  return `${parts.join('\n')}\n`;
}
