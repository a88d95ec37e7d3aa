import type { Config } from '../config/config-schema.js';
import type { Database } from '../ledger/database.js';
import type { Ledger } from '../ledger/ledger.js';
import type { ScopeDeletionLedger } from '../ledger/scope-deletion-ledger.js';
import type { Logger } from '../logger.js';
import type { ReceiptSigner } from '../receipts/receipt-signer.js';
import { sweepManualWork } from './manual-work-notices.js';
import { smtpNotifier, webhookNotifier, type Notifier } from './notifiers.js';

/**
 * Runs the manual-work sweep every `manualWork.everyMs` in an API process, when a notifier is
 * configured (config `manualWork.webhookUrl` or `manualWork.smtp`). Several API processes may run
 * it: each notice is claimed in the ledger once (src/manual-work/manual-work-notices.ts). Returns
 * the stop function, or undefined when nothing is configured.
 */
export function startManualWorkReminders(deps: {
  config: Config;
  db: Database;
  ledger: Ledger;
  scopeDeletions: ScopeDeletionLedger;
  signer: ReceiptSigner;
  logger: Logger;
}): (() => void) | undefined {
  const settings = deps.config.manualWork;
  if (!settings) return undefined;
  const notifiers: Notifier[] = [];
  if (settings.webhookUrl)
    notifiers.push(
      webhookNotifier(settings.webhookUrl, {
        signer: deps.signer,
        policy: deps.config.callbacks,
        timeoutMs: deps.config.callbacks.timeoutMs,
      }),
    );
  if (settings.smtp) notifiers.push(smtpNotifier(settings.smtp));
  if (notifiers.length === 0) return undefined;
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    sweepManualWork(
      {
        db: deps.db,
        ledger: deps.ledger,
        scopeDeletions: deps.scopeDeletions,
        settings,
        notifiers,
        logger: deps.logger,
      },
      new Date(),
    )
      .catch((err: unknown) =>
        deps.logger.warn('manual work sweep failed', { errorName: err instanceof Error ? err.name : typeof err }),
      )
      .finally(() => (running = false));
  }, settings.everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
  };
}
