import type { Database, Queryable } from './database.js';
import type { RequestStatus, StatusChange } from './ledger-types.js';
import { toRequest, type RequestRow } from './ledger-rows.js';

/**
 * What a ledger write made, beside its answer: the status changes of requests it wrote. Writes
 * fire nothing themselves; the unit of work that committed them publishes these (`publishStatusChanges`).
 */
export interface Written<T> {
  result: T;
  changes: StatusChange[];
}

/**
 * Where status changes go. `record` runs once at the end of the transaction that made them, so
 * what it writes commits or rolls back with them (the callback outbox rows,
 * src/callbacks/callback-outbox.ts); its failure fails the write. `publish` runs after the commit
 * (queueing those callbacks); its failure never fails the write.
 */
export interface StatusChangeOutlet {
  record?: (tx: Queryable, changes: readonly StatusChange[]) => Promise<void>;
  publish?: (change: StatusChange) => Promise<void> | void;
}

/** The change a request row's write made, if its status moved. */
export function statusChangeOf(row: RequestRow | undefined, from: RequestStatus | undefined): StatusChange[] {
  if (!row || !from || row.status === from) return [];
  return [{ request: toRequest(row), from, to: row.status }];
}

/** Publishes committed changes, in order; a listener's failure is not the write's. */
export async function publishStatusChanges(
  changes: readonly StatusChange[],
  outlet: StatusChangeOutlet,
): Promise<void> {
  const { publish } = outlet;
  if (!publish) return;
  for (const change of changes) {
    await Promise.resolve()
      .then(() => publish(change))
      .catch(() => undefined);
  }
}

/** Runs ledger writes in one transaction and publishes their status changes once it has committed. */
export interface UnitOfWork {
  run<T>(write: (tx: Queryable) => Promise<Written<T>>): Promise<T>;
  /** Publishes the changes of a write made outside a transaction (one statement, committed on return). */
  published<T>(written: Written<T>): Promise<T>;
}

export function createUnitOfWork(db: Database, outlet: StatusChangeOutlet): UnitOfWork {
  return {
    async run(write) {
      const { result, changes } = await db.transaction(async (tx) => {
        const written = await write(tx);
        if (outlet.record && written.changes.length > 0) await outlet.record(tx, written.changes);
        return written;
      });
      await publishStatusChanges(changes, outlet);
      return result;
    },
    async published(written) {
      await publishStatusChanges(written.changes, outlet);
      return written.result;
    },
  };
}
