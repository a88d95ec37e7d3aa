import type { Queryable } from './database.js';
import { TERMINAL_TASK_STATES, type RequestRecord } from './ledger-types.js';
import { VENDOR_NAMES } from '../vendors/vendor-name.js';
import {
  assessRisk,
  estimateDurations,
  type AtRiskSettings,
  type DurationEstimate,
  type ObservedDurations,
  type RiskAssessment,
} from '../deadlines/at-risk.js';

const OPEN_TASK = `state NOT IN (${TERMINAL_TASK_STATES.map((s) => `'${s}'`).join(', ')})`;

/**
 * SQL condition "this request is at risk" (src/deadlines/at-risk.ts) over the `requests` table,
 * for the list filter and the metric. Pushes its parameters onto `params`.
 */
export function atRiskCondition(params: unknown[], estimates: readonly DurationEstimate[], now: Date): string {
  const at = params.push(now);
  const vendors = params.push(estimates.map((e) => e.vendor));
  const seconds = params.push(estimates.map((e) => e.seconds));
  return `(requests.finished_at IS NULL AND requests.due_at >= $${at} AND EXISTS (
      SELECT 1 FROM tasks t JOIN unnest($${vendors}::text[], $${seconds}::float8[]) AS e(vendor, seconds) ON e.vendor = t.vendor
      WHERE t.request_id = requests.id AND t.${OPEN_TASK} AND $${at}::timestamptz + e.seconds * interval '1 second' > requests.due_at))`;
}

/**
 * The ledger's side of `at_risk`: observed per-vendor task durations (p95 over a recent window,
 * computed by Postgres / PGlite with percentile_cont) and the risk of given requests.
 */
export class DeadlineRiskLedger {
  private cached?: { until: number; estimates: DurationEstimate[] };

  constructor(
    private readonly db: Queryable,
    private readonly settings: AtRiskSettings,
  ) {}

  /**
   * Per vendor: tasks that ran and ended erased (`succeeded`, `not_found`) within the window, and
   * the p95 of their first-run-to-end time. Failed and skipped tasks say nothing about how long
   * an erasure takes.
   */
  async observedDurations(now = new Date()): Promise<ObservedDurations[]> {
    const { rows } = await this.db.query<{ vendor: string; samples: number; p95: number | string | null }>(
      `SELECT vendor, count(*)::int AS samples,
              percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at)) AS p95
         FROM tasks
        WHERE started_at IS NOT NULL AND finished_at > $1 AND state IN ('succeeded', 'not_found')
        GROUP BY vendor`,
      [new Date(now.getTime() - this.settings.windowDays * 86_400_000)],
    );
    return rows.map((r) => ({ vendor: r.vendor, samples: r.samples, p95Seconds: Math.max(0, Number(r.p95 ?? 0)) }));
  }

  /** Every vendor's expected task duration, reused for `cacheMs` (the p95 query reads the whole window). */
  async estimates(now = new Date()): Promise<DurationEstimate[]> {
    if (this.cached && this.cached.until > Date.now()) return this.cached.estimates;
    const estimates = estimateDurations(VENDOR_NAMES, await this.observedDurations(now), this.settings);
    if (this.settings.cacheMs > 0) this.cached = { until: Date.now() + this.settings.cacheMs, estimates };
    return estimates;
  }

  /** The risk of each request given (one query for all of them). */
  async assess(requests: readonly RequestRecord[], now = new Date()): Promise<Map<string, RiskAssessment>> {
    const open = requests.filter((r) => !r.finishedAt);
    const result = new Map<string, RiskAssessment>(requests.map((r) => [r.id, { atRisk: false, vendors: [] }]));
    if (open.length === 0) return result;
    const { rows } = await this.db.query<{ request_id: string; vendor: string }>(
      `SELECT DISTINCT request_id, vendor FROM tasks WHERE request_id = ANY($1::uuid[]) AND ${OPEN_TASK}`,
      [open.map((r) => r.id)],
    );
    const estimates = await this.estimates(now);
    for (const request of open) {
      const vendors = rows.filter((row) => row.request_id === request.id).map((row) => row.vendor);
      result.set(request.id, assessRisk(request, vendors, estimates, now));
    }
    return result;
  }

  async countAtRisk(now = new Date()): Promise<number> {
    const params: unknown[] = [];
    const condition = atRiskCondition(params, await this.estimates(now), now);
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM requests WHERE ${condition}`,
      params,
    );
    return rows.at(0)?.n ?? 0;
  }

  /** Requests at risk per client (the metric's `client` label). */
  async countAtRiskByClient(now = new Date()): Promise<Map<string, number>> {
    const params: unknown[] = [];
    const condition = atRiskCondition(params, await this.estimates(now), now);
    const { rows } = await this.db.query<{ client: string; n: number }>(
      `SELECT client, count(*)::int AS n FROM requests WHERE ${condition} GROUP BY client`,
      params,
    );
    return new Map(rows.map((r) => [r.client, r.n]));
  }
}
