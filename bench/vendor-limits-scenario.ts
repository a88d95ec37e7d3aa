import { round, type Scenario } from './scenario.js';
import { SATURATION_VENDORS, saturationRun } from './saturation-run.js';

const RATIO_TARGET = 1.1;
const THROTTLED_SHARE_TARGET = 0.01;

/** `vendor_limits`: wall time for 10,000 requests under the sandbox's default limits vs the minimum those limits allow. */
export const vendorLimitsScenario: Scenario = {
  name: 'vendor_limits',
  summary: `10,000 requests by user id to ${SATURATION_VENDORS.join(', ')} under sandbox default limits: wall time vs the minimum the limits allow`,
  async run(context) {
    const run = await saturationRun(context);
    const calls = Object.values(run.stats).reduce((k, v) => k + v.total.calls, 0);
    const throttled = Object.values(run.stats).reduce((k, v) => k + v.total.throttled, 0);
    const minimum = Math.max(...Object.values(run.minimumSeconds));
    const ratio = run.seconds / minimum;
    // Each vendor's own figure: when its last task ended against the least time its limits allow.
    // The total's ratio is the target; these show which vendor holds the run back.
    const ratioByVendor = Object.fromEntries(
      Object.entries(run.minimumSeconds).map(([v, min]) => [
        v,
        run.lastTaskEndedAt[v] === undefined ? null : round(run.lastTaskEndedAt[v] / min),
      ]),
    );
    const throttledShare = calls ? throttled / calls : 0;
    context.log(
      `vendor_limits: ${round(run.seconds, 1)} s vs minimum ${round(minimum, 1)} s, ${throttled} of ${calls} calls throttled, ${run.lost} lost`,
    );
    return {
      measured: {
        requests: run.requests,
        seconds: round(run.seconds, 1),
        vendor_calls: calls,
        throttled_429: throttled,
        throttled_share: round(throttledShare, 4),
        lost: run.lost,
        statuses: run.byStatus,
        last_task_ended_s: run.lastTaskEndedAt,
        calls_by_vendor: Object.fromEntries(Object.entries(run.stats).map(([v, s]) => [v, s.total.calls])),
        ratio_by_vendor: ratioByVendor,
      },
      baseline: {
        minimum_seconds: round(minimum, 1),
        minimum_by_vendor: Object.fromEntries(Object.entries(run.minimumSeconds).map(([v, s]) => [v, round(s, 1)])),
      },
      ratio: round(ratio),
      headline: {
        measured: `${run.requests} requests in ${round(run.seconds, 0)} s (ratio by vendor: ${Object.entries(
          ratioByVendor,
        )
          .map(([v, r]) => `${v} ${r ?? 'n/a'}`)
          .join(', ')}); ${throttled} 429s of ${calls} calls; ${run.lost} lost`,
        baseline: `minimum ${round(minimum, 0)} s (${Object.entries(run.minimumSeconds)
          .map(([v, s]) => `${v} ${round(s, 0)}`)
          .join(', ')})`,
      },
      target: `ratio <= ${RATIO_TARGET} (total; each vendor's ratio reported beside it), 429s <= ${THROTTLED_SHARE_TARGET * 100} % of calls, 0 lost`,
      met: ratio <= RATIO_TARGET && throttledShare <= THROTTLED_SHARE_TARGET && run.lost === 0,
    };
  },
};
