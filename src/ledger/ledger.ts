import type { Database } from './database.js';
import type { IdentityCipher } from '../privacy/identity-cipher.js';
import { IdentityVault } from './identity-vault.js';
import { RequestAudit } from './request-audit.js';
import { RequestsLedger } from './requests-ledger.js';
import { TasksLedger } from './tasks-ledger.js';
import { LedgerQueries } from './ledger-queries.js';
import { BatchLedger } from './batch-ledger.js';
import { createUnitOfWork, type StatusChangeOutlet, type UnitOfWork } from './status-changes.js';

/**
 * The system of record (Postgres or PGlite), by concept: each part owns its tables. Writes that
 * change a request's status hand their changes to the unit of work, which records them in the
 * committing transaction (`outlet.record`) and publishes them after the commit (`outlet.publish`).
 */
export interface Ledger {
  readonly requests: RequestsLedger;
  readonly tasks: TasksLedger;
  readonly vault: IdentityVault;
  readonly audit: RequestAudit;
  readonly batches: BatchLedger;
  readonly queries: LedgerQueries;
  /** One transaction of ledger writes whose status changes are published once it has committed. */
  readonly work: UnitOfWork;
  /** Whether the store answers (readiness, outage checks). */
  ping(): Promise<void>;
}

/** Builds the ledger; the composition root calls this once. */
export function createLedger(db: Database, cipher: IdentityCipher, outlet: StatusChangeOutlet = {}): Ledger {
  const work = createUnitOfWork(db, outlet);
  const vault = new IdentityVault(db, cipher);
  const audit = new RequestAudit(db, vault);
  const batches = new BatchLedger(db);
  return {
    requests: new RequestsLedger(db, vault, audit, work),
    tasks: new TasksLedger(db, vault, audit, batches, work),
    vault,
    audit,
    batches,
    queries: new LedgerQueries(db),
    work,
    async ping() {
      await db.query('SELECT 1');
    },
  };
}
