import { performance } from 'node:perf_hooks';
import { seedPerson } from '../src/sandbox/seed.js';
import { startBenchService } from './bench-service.js';
import { round, type Scenario, type ScenarioContext } from './scenario.js';
import { saturationRun } from './saturation-run.js';

const TARGETS = { amplitude: 0.011, segment: 0.0002, pinpointExportsPerWindow: 1 };
const PINPOINT_WINDOW_MS = 5_000;

/**
 * People known only by e-mail, to Pinpoint: every request in one batching window must share one
 * CreateExportJob. DeleteEndpoint's 5/s quota is lifted here (this counts calls, it does not time them).
 */
async function pinpointExports(
  context: ScenarioContext,
): Promise<{ requests: number; exports: number; windows: number; completed: number }> {
  const n = context.size === 'full' ? 1000 : 20;
  const lifted = { max: 100_000, durationMs: 1000 };
  const service = await startBenchService({
    context,
    name: 'amortisation-pinpoint',
    file: {
      sandbox: {
        subjects: n,
        clockSpeed: 20_000,
        vendorOverrides: {
          pinpoint: {
            batchWindowMs: PINPOINT_WINDOW_MS,
            rateLimit: lifted,
            operationLimits: { DeleteEndpoint: lifted, GetEndpoint: lifted },
          },
        },
      },
    },
    sandbox: { pinpoint: { rates: { DeleteEndpoint: 1e9, GetEndpoint: 1e9 } } },
  });
  try {
    const started = performance.now();
    await service.submitBulk(
      Array.from({ length: n }, (_, i) => ({ subject: { email: seedPerson(i).email }, vendors: ['pinpoint'] })),
    );
    // Windows the submissions spanned: that many exports at most are allowed.
    const windows = Math.max(1, Math.ceil((performance.now() - started) / PINPOINT_WINDOW_MS));
    const byStatus = await service.waitForFinal(n, 600_000, 250);
    return {
      requests: n,
      exports: service.sandbox!.stats.calls('pinpoint', 'CreateExportJob'),
      windows,
      completed: byStatus.completed ?? 0,
    };
  } finally {
    await service.close();
  }
}

/** Segment operations that create a regulation (one per batch of up to 5,000 ids); the rest are status reads. */
const SEGMENT_CREATES = ['createWorkspaceRegulation', 'createSourceRegulation', 'createCloudSourceRegulation'];

/**
 * `amortisation`: vendor calls per request at saturation. Amplitude is held to its target with every
 * call counted (creates and polls). Segment's target, 0.0002, is exactly 1/5,000 (Segment's ids per
 * create), so it is held on creates; its status polls are reported beside it.
 */
export const amortisationScenario: Scenario = {
  name: 'amortisation',
  summary:
    'vendor calls per request at saturation (Amplitude, Segment from the 10,000-request run; Pinpoint exports per window per app)',
  async run(context) {
    const run = await saturationRun(context);
    const operations = (vendor: string) => run.stats[vendor]?.operations ?? {};
    const amplitude = (run.stats.amplitude?.total.calls ?? 0) / run.requests;
    const segmentCreates = SEGMENT_CREATES.reduce((k, op) => k + (operations('segment')[op]?.calls ?? 0), 0);
    const segmentCalls = run.stats.segment?.total.calls ?? 0;
    const segment = segmentCreates / run.requests;
    const pinpoint = await pinpointExports(context);
    const exportsPerWindow = pinpoint.exports / pinpoint.windows;
    context.log(
      `amortisation: Amplitude ${round(amplitude, 5)} calls/request, Segment ${round(segment, 5)} creates/request (${segmentCalls} calls in all); Pinpoint ${pinpoint.exports} export(s) for ${pinpoint.requests} requests in ${pinpoint.windows} window(s)`,
    );
    // The ratio is the worst of the three against its target (<= 1 meets them all).
    const ratio = Math.max(
      amplitude / TARGETS.amplitude,
      segment / TARGETS.segment,
      exportsPerWindow / TARGETS.pinpointExportsPerWindow,
    );
    return {
      measured: {
        requests: run.requests,
        amplitude_calls_per_request: round(amplitude, 5),
        amplitude_calls: Object.fromEntries(Object.entries(operations('amplitude')).map(([op, st]) => [op, st.calls])),
        segment_creates_per_request: round(segment, 5),
        segment_calls_per_request: round(segmentCalls / run.requests, 5),
        segment_calls: Object.fromEntries(Object.entries(operations('segment')).map(([op, st]) => [op, st.calls])),
        pinpoint_requests_by_email: pinpoint.requests,
        pinpoint_exports: pinpoint.exports,
        pinpoint_windows: pinpoint.windows,
        pinpoint_completed: pinpoint.completed,
      },
      baseline: {
        amplitude_calls_per_request: TARGETS.amplitude,
        segment_creates_per_request: TARGETS.segment,
        pinpoint_exports_per_window_per_app: TARGETS.pinpointExportsPerWindow,
      },
      ratio: round(ratio),
      headline: {
        measured: `Amplitude ${round(amplitude, 4)} calls/request; Segment ${round(segment, 5)} creates/request (${round(segmentCalls / run.requests, 4)} with polls); ${pinpoint.exports} Pinpoint export for ${pinpoint.requests} requests in ${pinpoint.windows} window(s)`,
        baseline: `targets: Amplitude ${TARGETS.amplitude}, Segment ${TARGETS.segment}, ${TARGETS.pinpointExportsPerWindow} export per window per app`,
      },
      target: 'each figure <= its target (ratio = worst figure / its target <= 1)',
      met: ratio <= 1 && pinpoint.completed === pinpoint.requests,
    };
  },
};
