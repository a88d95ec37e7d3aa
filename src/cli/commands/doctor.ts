import { EXIT, type Command } from '../command.js';
import type { PreflightReport } from '../../preflight/vendor-preflight.js';

const MARK = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'doctor: check every vendor (credentials, scopes, permissions, end of support) now',
  help: `usage: erasure doctor [--canaries] [--json]

Runs the vendor preflight now (GET /v1/vendors/health?fresh=1) and prints one line per check:
status, vendor, check, and what was found, naming the config key of a failed check (e.g.
"vendors.pinpoint.appIds[0] does not exist in us-east-1"). --canaries runs the configured canaries
too. Exit 0 when no check failed (warnings allowed), 1 otherwise. Needs an operator token.`,
  options: { canaries: { type: 'boolean' } },
  async run(ctx) {
    const report = await ctx
      .client()
      .get<PreflightReport>('/v1/vendors/health', { fresh: 1, ...(ctx.values.canaries ? { canaries: 1 } : {}) });
    if (ctx.json) ctx.io.json(report);
    else {
      for (const c of report.checks)
        ctx.io.out(
          `${MARK[c.status]}  ${c.vendor.padEnd(9)} ${(c.key ? `${c.check} ${c.key}` : c.check).padEnd(40)} ${c.detail}`,
        );
      const failed = report.checks.filter((c) => c.status === 'fail').length;
      ctx.io.out(
        report.healthy
          ? `healthy: ${report.checks.length} checks passed`
          : `unhealthy: ${failed} of ${report.checks.length} checks failed`,
      );
    }
    return report.healthy ? EXIT.ok : EXIT.failed;
  },
};
