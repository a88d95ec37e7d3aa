import type { Logger } from '../logger.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { promLabels } from '../metrics/latency-histogram.js';
import { checkLabel, type PreflightReport, type VendorCheck } from './vendor-preflight.js';

/** The gauge's value per status: 1 passed, 0.5 passed with a warning, 0 failed. */
const GAUGE: Record<VendorCheck['status'], number> = { ok: 1, warn: 0.5, fail: 0 };

export interface VendorHealthMonitorOptions {
  /** Runs the preflight checks (src/preflight/vendor-preflight.ts). */
  preflight: () => Promise<PreflightReport>;
  /** Runs the canaries (src/preflight/canary.ts), when any vendor has one. */
  canaries?: () => Promise<VendorCheck[]>;
  logger: Logger;
  /** Run the preflight once at start (`preflight.atBoot`). */
  atBoot: boolean;
  /** Preflight every this many ms (`preflight.intervalMs`); 0 = at boot and on demand only. */
  intervalMs: number;
  /** Canaries every this many ms (`preflight.canaryEveryMs`); 0 = on demand only. */
  canaryEveryMs: number;
  /**
   * Told when a canary fails or drifts: the hook a per-vendor circuit breaker connects to (the
   * integrator wires it; this module opens nothing itself).
   */
  onCanaryFailed?: (vendor: VendorName, reason: string) => void | Promise<void>;
}

/**
 * Keeps the latest preflight and canary results for `GET /v1/vendors/health`, `erasure doctor` and
 * `erasure_vendor_check{vendor,check}`: runs the preflight at boot (logged, never fatal) and every
 * `intervalMs`, the canaries every `canaryEveryMs`. Failed checks are logged at warn, with the
 * config key they name and never an identifier of a person.
 */
export class VendorHealthMonitor {
  private report: PreflightReport | undefined;
  private canaryChecks: VendorCheck[] = [];
  private running: Promise<PreflightReport> | undefined;
  private canaryRun: Promise<VendorCheck[]> | undefined;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: VendorHealthMonitorOptions) {}

  /** Starts the boot run (not awaited: a vendor that is down must not stop the service) and the timers. */
  start(): void {
    if (this.options.atBoot) void this.check().catch(() => undefined);
    if (this.options.intervalMs > 0)
      this.timers.push(setInterval(() => void this.check().catch(() => undefined), this.options.intervalMs).unref());
    if (this.options.canaries && this.options.canaryEveryMs > 0) {
      this.timers.push(
        setInterval(() => void this.runCanaries().catch(() => undefined), this.options.canaryEveryMs).unref(),
      );
    }
  }

  stop(): void {
    for (const timer of this.timers.splice(0)) clearInterval(timer);
  }

  /** Runs the preflight now (one run at a time: callers during a run share it). */
  check(): Promise<PreflightReport> {
    this.running ??= this.options
      .preflight()
      .then((report) => {
        this.report = report;
        this.log('preflight', report.checks);
        // With the latest canary checks (current() is defined now that a report is in).
        return this.current() ?? report;
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /** Runs every canary now; their checks join the report. */
  runCanaries(): Promise<VendorCheck[]> {
    if (!this.options.canaries) return Promise.resolve([]);
    this.canaryRun ??= this.options
      .canaries()
      .then(async (checks) => {
        this.canaryChecks = checks;
        this.log('canary', checks);
        // Awaited, so the report a caller gets back is one the breaker has already acted on.
        for (const c of checks) if (c.status === 'fail') await this.options.onCanaryFailed?.(c.vendor, c.detail);
        return checks;
      })
      .finally(() => {
        this.canaryRun = undefined;
      });
    return this.canaryRun;
  }

  /** The latest report with the latest canary checks, or undefined before the first run ends. */
  current(): PreflightReport | undefined {
    if (!this.report) return undefined;
    const checks = [...this.report.checks, ...this.canaryChecks];
    return { checkedAt: this.report.checkedAt, healthy: checks.every((c) => c.status !== 'fail'), checks };
  }

  /** `erasure_vendor_check{vendor,check}`: 1 passed, 0.5 warning, 0 failed; nothing before the first run. */
  metricLines(): string[] {
    const report = this.current();
    if (!report) return ['# vendor checks: no preflight has finished yet'];
    const lines = [
      '# HELP erasure_vendor_check Vendor preflight and canary checks: 1 passed, 0.5 passed with a warning, 0 failed.',
      '# TYPE erasure_vendor_check gauge',
    ];
    for (const c of report.checks)
      lines.push(`erasure_vendor_check{${promLabels({ vendor: c.vendor, check: checkLabel(c) })}} ${GAUGE[c.status]}`);
    return lines;
  }

  private log(kind: 'preflight' | 'canary', checks: VendorCheck[]): void {
    const failed = checks.filter((c) => c.status === 'fail');
    const warned = checks.filter((c) => c.status === 'warn');
    for (const c of failed)
      this.options.logger.warn(`vendor ${kind} check failed`, {
        vendor: c.vendor,
        check: checkLabel(c),
        detail: c.detail,
      });
    for (const c of warned)
      this.options.logger.info(`vendor ${kind} check warns`, {
        vendor: c.vendor,
        check: checkLabel(c),
        detail: c.detail,
      });
    this.options.logger.info(`vendor ${kind} done`, {
      checks: checks.length,
      failed: failed.length,
      warnings: warned.length,
    });
  }
}
