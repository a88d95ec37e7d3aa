import type { TaskRecord, TaskSpec } from '../ledger/ledger-types.js';
import type { Subject } from '../privacy/subject.js';
import type { VendorName } from '../vendors/vendor-name.js';
import type { VendorQueueSettings } from '../vendors/vendor-settings.js';
import type { VendorCallObserver } from '../vendors/vendor-call-observer.js';
import type { VendorClock } from '../vendors/vendor-clock.js';
import type { CallBudget } from '../vendors/call-budget.js';
import type { QueueDefinition, VendorQueueDefinition } from '../../queues/queue-definition.js';
import type Joi from 'joi';
import type {
  BatchInput,
  BatchResult,
  ProcessorDeps,
  TaskInput,
  TaskResult,
  VendorClients,
} from './processor-contract.js';
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
 *
 * A task or batch processor gets only its own vendor's client (`C`). Processors are declared as
 * methods so a connector of any client type fits the registry's list of connectors.
 */
export type ConnectorJob<C = unknown> = TaskJob<C> | BatchJob<C> | ScopeJob;

export interface TaskJob<C> {
  readonly kind: 'task';
  processor(input: TaskInput, deps: ProcessorDeps<C>): Promise<TaskResult>;
}

export interface BatchJob<C> {
  readonly kind: 'batch';
  processor(input: BatchInput, deps: ProcessorDeps<C>): Promise<BatchResult>;
}

/** A job about a whole scope; it may span vendors (a project deletion deletes Pinpoint's app and S3 prefixes). */
export interface ScopeJob {
  readonly kind: 'scope';
  readonly processor: ScopeProcessor;
}

export type JobKind = ConnectorJob['kind'];

/** Job name → what the job is and which processor runs it. */
export type ConnectorJobs<C = unknown> = Readonly<Partial<Record<string, ConnectorJob<C>>>>;

/** The processor type of a job kind. */
export type ProcessorOf<K extends JobKind> = Extract<ConnectorJob, { kind: K }>['processor'];

/** The processors of one kind among `jobs`, by job name. */
export function processorsOfKind<K extends JobKind>(
  jobs: ConnectorJobs,
  kind: K,
): Readonly<Record<string, ProcessorOf<K>>> {
  const found: Array<[string, ProcessorOf<K>]> = [];
  for (const [name, job] of Object.entries(jobs)) {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- processors are plain functions, declared as methods only so a connector of any client type fits the registry; none uses `this`
    if (job?.kind === kind) found.push([name, job.processor as ProcessorOf<K>]);
  }
  return Object.fromEntries(found as Array<[string, unknown]>) as Record<string, ProcessorOf<K>>;
}

/** A vendor queue carrying exactly the jobs its connector declares: the job names are not listed twice. */
export function connectorQueue(queue: VendorQueueDefinition, jobs: ConnectorJobs): QueueDefinition {
  return { ...queue, jobNames: Object.keys(jobs) };
}

/**
 * Everything the service needs to know about one vendor, in one place: its settings (schema and
 * queue defaults), its client, its queue and jobs, and how it plans a request. A new vendor is one
 * connector, registered with one call (README "Adding a vendor"); its simulator, if it has one,
 * lives under src/sandbox/<vendor>/ and never here.
 */
export interface VendorConnector<S extends VendorQueueSettings = VendorQueueSettings, C = unknown> {
  readonly vendor: VendorName;
  /** Its queue; `jobNames` are the keys of `jobs` (`connectorQueue`). */
  readonly queue: QueueDefinition;
  /** Every job of this connector's queue, by name: its kind and its processor. */
  readonly jobs: ConnectorJobs<C>;
  /**
   * The keys of `vendors.<vendor>` in the config file, besides the queue keys every vendor has
   * (`rateLimit`, `concurrency`, `throttleDelayMs`): config validates the vendor's settings with them.
   */
  readonly settingsKeys: Joi.PartialSchemaMap;
  /** Queue settings used where config gives none (Invariant 5). */
  readonly queueDefaults: VendorQueueSettings;
  /**
   * `calls` hears every HTTP call the client makes (per-vendor call metrics, src/metrics/);
   * `clock` is the vendors' time (the sandbox's when they are simulated); `budget` keeps the
   * vendor's call limits (the service passes the Redis one, shared by every process: Invariant 12).
   */
  createClient(
    settings: S,
    calls?: VendorCallObserver,
    clock?: VendorClock,
    budget?: CallBudget,
  ): C & { close(): void };
  /** The tasks for one request: vendor × resource × action. Pure. */
  plan(input: PlanInput, settings: S): TaskSpec[];
  /**
   * Tries to withdraw a started task at the vendor after its request was cancelled (e.g. remove
   * the person from an Amplitude deletion job that is still staging). Without it, a started task
   * runs to its end and the cancel says so.
   */
  cancelTask?(input: {
    task: TaskRecord;
    subject: Subject;
    clients: VendorClients;
    settings: S;
  }): Promise<{ withdrawn: boolean; evidence: Record<string, unknown> }>;
}
