import type { TaskRecord, TaskSpec } from '../ledger/ledger-types.js';
import type { Subject } from '../privacy/subject.js';
import type { SimulatedVendors } from '../sandbox/simulated-vendors.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { VendorQueueSettings } from '../vendors/vendor-settings.js';
import type { VendorCallObserver } from '../vendors/vendor-call-observer.js';
import type { VendorClock } from '../vendors/vendor-clock.js';
import type { CallBudget } from '../vendors/call-budget.js';
import type { QueueDefinition, VendorQueueDefinition } from '../../queues/queue-definition.js';
import type { BatchProcessor, TaskProcessor, VendorClients } from '../../jobs/task-processor.js';
import type { ScopeProcessor } from '../../jobs/delete-project.js';

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
 * What a job of a connector's queue is, which decides the runner the worker hands it to
 * (src/workers/start-workers.ts):
 * - `task`: one request's work at one vendor resource (src/workers/task-runner.ts);
 * - `batch`: one vendor call shared by the tasks of many requests (Invariant 7, src/workers/batch-runner.ts);
 * - `scope`: a whole vendor scope, not a person (a Pinpoint project deletion, src/workers/project-deletion-runner.ts).
 */
export type ConnectorJob =
  | { readonly kind: 'task'; readonly processor: TaskProcessor }
  | { readonly kind: 'batch'; readonly processor: BatchProcessor }
  | { readonly kind: 'scope'; readonly processor: ScopeProcessor };

export type JobKind = ConnectorJob['kind'];

/** Job name → what the job is and which processor runs it. */
export type ConnectorJobs = Readonly<Record<string, ConnectorJob>>;

/** The processor type of a job kind. */
export type ProcessorOf<K extends JobKind> = Extract<ConnectorJob, { kind: K }>['processor'];

/** The processors of one kind among `jobs`, by job name. */
export function processorsOfKind<K extends JobKind>(jobs: ConnectorJobs, kind: K): Record<string, ProcessorOf<K>> {
  return Object.fromEntries(Object.entries(jobs).flatMap(([name, job]) => (job.kind === kind ? [[name, job.processor as ProcessorOf<K>]] : [])));
}

/** A vendor queue carrying exactly the jobs its connector declares: the job names are not listed twice. */
export function connectorQueue(queue: VendorQueueDefinition, jobs: ConnectorJobs): QueueDefinition {
  return { ...queue, jobNames: Object.keys(jobs) };
}

/**
 * Everything the service needs to know about one vendor, in one place, so a new vendor is one
 * new connector plus a line in `src/connectors/registry.ts` (DESIGN.md: "new vendors must be cheap").
 */
export interface VendorConnector<S extends VendorQueueSettings = VendorQueueSettings, K extends keyof VendorClients = keyof VendorClients> {
  readonly vendor: VendorName;
  /** Its queue; `jobNames` are the keys of `jobs` (`connectorQueue`). */
  readonly queue: QueueDefinition;
  /** Every job of this connector's queue, by name: its kind and its processor. */
  readonly jobs: ConnectorJobs;
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
