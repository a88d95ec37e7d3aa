import type { Config } from '../config/config-schema.js';
import type { RequestLedger } from '../ledger/request-ledger.js';
import type { Logger } from '../logger.js';
import { connectorFor } from '../connectors/registry.js';
import type { VendorClients } from '../connectors/processor-contract.js';

export interface CancelReport {
  /** Tasks that had not started: nothing was done at the vendor. */
  cancelled: string[];
  /** Started tasks withdrawn at the vendor. */
  withdrawn: string[];
  /** Started tasks that could not be withdrawn, with why: they run to their end. */
  notWithdrawn: Array<{ taskId: string; vendor: string; reason: string }>;
}

/**
 * Cancels a request: stops what has not run, tries to withdraw what has started (where the
 * vendor allows it), and reports exactly what already happened. Undefined when it had ended.
 */
export async function cancelRequest(
  deps: { ledger: RequestLedger; config: Config; clients: VendorClients; logger: Logger },
  input: { requestId: string; actor: string; reason: string },
): Promise<CancelReport | undefined> {
  const result = await deps.ledger.cancelRequest(input.requestId, input.actor, input.reason);
  if (!result) return undefined;
  const report: CancelReport = { cancelled: result.cancelled.map((t) => t.id), withdrawn: [], notWithdrawn: [] };
  for (const task of result.sent) {
    report.notWithdrawn.push({ taskId: task.id, vendor: task.vendor, reason: 'the manual step was sent to the vendor before the cancel and cannot be cancelled; it stays open until the vendor confirms' });
  }
  if (result.started.length > 0) {
    const subject = await deps.ledger.loadSubject(input.requestId);
    for (const task of result.started) {
      const connector = connectorFor(task.vendor);
      const settings = deps.config.vendors[task.vendor];
      if (!connector?.cancelTask || !settings) {
        report.notWithdrawn.push({ taskId: task.id, vendor: task.vendor, reason: `${task.vendor} work that has started cannot be withdrawn; it will run to its end` });
        continue;
      }
      try {
        const outcome = await connector.cancelTask({ task, subject, clients: deps.clients, settings });
        if (outcome.withdrawn) {
          const withdrawn = await deps.ledger.cancelStartedTask(task.id, { ...outcome.evidence, withdrawnAfterCancel: true });
          if (withdrawn.applied) report.withdrawn.push(task.id);
          else {
            // Its job ended it first (src/ledger/task-transitions.ts): what it recorded stands.
            deps.logger.info('a started task ended before its withdrawal was recorded', { requestId: input.requestId, taskId: task.id, state: withdrawn.state ?? 'missing' });
            report.notWithdrawn.push({ taskId: task.id, vendor: task.vendor, reason: `it had already ended (${withdrawn.state ?? 'missing'}) when the withdrawal was recorded` });
          }
        } else {
          await deps.ledger.checkpointTask(task.id, outcome.evidence);
          report.notWithdrawn.push({ taskId: task.id, vendor: task.vendor, reason: String(outcome.evidence.reason ?? 'the vendor no longer allows withdrawing it') });
        }
      } catch (err) {
        deps.logger.warn('could not withdraw a task after cancel', { requestId: input.requestId, taskId: task.id, errorName: (err as Error).name });
        report.notWithdrawn.push({ taskId: task.id, vendor: task.vendor, reason: (err as Error).name.endsWith('VendorError') ? (err as Error).message : 'the withdrawal call failed' });
      }
    }
  }
  await deps.ledger.settleRequest(input.requestId);
  await deps.ledger.audit(input.requestId, input.actor, 'request.cancel_report', { ...report });
  return report;
}
