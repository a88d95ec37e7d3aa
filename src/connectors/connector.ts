import type { TaskRecord, TaskSpec } from '../ledger/ledger-types.js';
import type { Subject } from '../privacy/subject.js';
import type { SimulatedVendors } from '../sandbox/simulated-vendors.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { VendorQueueSettings } from '../vendors/vendor-settings.js';
import type { VendorCallObserver } from '../vendors/vendor-call-observer.js';
import type { VendorClock } from '../vendors/vendor-clock.js';
import type { CallBudget } from '../vendors/call-budget.js';
import type { QueueDefinition } from '../../queues/queue-definition.js';
import type { BatchProcessor, TaskProcessor, VendorClients } from '../../jobs/task-processor.js';

/** What the planner knows when it asks a connector for tasks. */
export interface PlanInput {
  requestId: string;
  subject: Subject;
  /** True when the client named the vendors: then one that cannot act is an error, not a skip. */
  vendorsExplicit: boolean;
}

/** A vendor the request named that cannot erase this person with the identifiers given. */
export class UnplannableVendorError extends Error {
  constructor(
    readonly vendor: VendorName,
    reason: string,
  ) {
    super(`${vendor}: ${reason}`);
    this.name = 'UnplannableVendorError';
  }
}

/**
 * Everything the service needs to know about one vendor, in one place, so a new vendor is one
 * new connector plus a line in `src/connectors/registry.ts` (DESIGN.md: "new vendors must be cheap").
 */
export interface VendorConnector<S extends VendorQueueSettings = VendorQueueSettings, K extends keyof VendorClients = keyof VendorClients> {
  readonly vendor: VendorName;
  readonly queue: QueueDefinition;
  /** Job name → processor for the jobs of this connector's queue. */
  readonly processors: Readonly<Record<string, TaskProcessor>>;
  /** Job name → processor for this connector's shared batch jobs (Invariant 7), if it has any. */
  readonly batchProcessors?: Readonly<Record<string, BatchProcessor>>;
  /** Which slot of VendorClients this connector's client fills. */
  readonly clientKey: K;
  /**
   * `calls` hears every HTTP call the client makes (per-vendor call metrics, src/metrics/);
   * `clock` is the vendors' time (the sandbox's when they are simulated); `budget` keeps the
   * vendor's call limits (the service passes the Redis one, shared by every process: Invariant 12).
   */
  createClient(settings: S, calls?: VendorCallObserver, clock?: VendorClock, budget?: CallBudget): NonNullable<VendorClients[K]> & { close(): void };
  /** Settings pointing at the running simulator (sandbox mode). */
  sandboxSettings(sandbox: SimulatedVendors, queueDefaults: VendorQueueSettings): S;
  /** The tasks for one request: vendor × resource × action. Pure. */
  plan(input: PlanInput, settings: S): TaskSpec[];
  /**
   * Tries to withdraw a started task at the vendor after its request was cancelled (e.g. remove
   * the person from an Amplitude deletion job that is still staging). Without it, a started task
   * runs to its end and the cancel says so.
   */
  cancelTask?(input: { task: TaskRecord; subject: Subject; clients: VendorClients; settings: S }): Promise<{ withdrawn: boolean; evidence: Record<string, unknown> }>;
}
