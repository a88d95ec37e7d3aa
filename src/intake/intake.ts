import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { CreateRequestResult, NewRequest } from '../ledger/request-creation.js';
import type { Ledger } from '../ledger/ledger.js';
import type { Regulation, RequestRecord } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import { InvalidIdentifierError, normaliseSubject, UnknownIdentifierError } from '../privacy/subject.js';
import { nullAsAbsentSchema } from './null-as-absent.js';
import { availableVendors, planTasks, UnplannableVendorError } from '../planner/plan-tasks.js';
import type { BulkEnqueuer, RequestEnqueuer } from '../planner/request-enqueuer.js';
import { requestBodySchema, toFieldProblems, type FieldProblem } from './request-schema.js';

/** The body failed validation; `problems` say which fields and why, without their values. */
export class RequestValidationError extends Error {
  constructor(readonly problems: FieldProblem[]) {
    super(`invalid request: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
    this.name = 'RequestValidationError';
  }
}

/** A store the intake needs is down: nothing was committed; the client should retry (503). */
export class IntakeUnavailableError extends Error {
  constructor(readonly store: 'redis' | 'ledger') {
    super(
      `${store === 'redis' ? 'the job queue (Redis)' : 'the ledger (Postgres)'} is unavailable; nothing was recorded, retry later`,
    );
    this.name = 'IntakeUnavailableError';
  }
}

/**
 * The client's idempotency key already belongs to one of its requests made with another subject,
 * vendors or regulation (README "Clients, roles and idempotency"): nothing was created or changed (422). Names the
 * key's field, never a value.
 */
export class IdempotencyKeyReusedError extends Error {
  constructor(readonly field: string) {
    super(
      `${field} was already used by this client for a request with another subject, vendors or regulation; nothing was created. Use a new ${field} for a new request`,
    );
    this.name = 'IdempotencyKeyReusedError';
  }

  get problems(): FieldProblem[] {
    return [
      { field: this.field, problem: 'was already used for a request with another subject, vendors or regulation' },
    ];
  }
}

export interface SubmitResult {
  request: RequestRecord;
  created: boolean;
}

/** What a protocol front-end (OpenDSR) adds to a native submission. */
export interface SubmitOptions {
  /** The client the request belongs to: the submitting token's name (README "Clients, roles and idempotency"). */
  client?: string;
  /** Idempotency key used instead of the body's `requestId` (outside the native key space). */
  idempotencyKey?: string;
  /** The field a reused key is reported under. @defaultValue `requestId` (with the field prefix) */
  idempotencyKeyField?: string;
  origin?: string;
  /** When the person made the request (the legal clock's start), if before now. */
  submittedAt?: Date;
  /** Runs inside the creating transaction when the request is new. */
  afterInsert?: NewRequest['afterInsert'];
}

export interface IntakeDeps {
  config: Config;
  ledger: Ledger;
  enqueue: RequestEnqueuer;
  enqueueMany: BulkEnqueuer;
  /** Whether Redis answers now: the intake refuses (503) rather than accept work it cannot queue. */
  queueReady: () => Promise<boolean>;
  logger: Logger;
  now?: () => Date;
  /** Refuses a callback URL the service must not call (private networks): the problem, or undefined. */
  checkCallbackUrl?: (url: string) => Promise<string | undefined>;
}

const DAY_MS = 86_400_000;

const nullableRequestBodySchema = nullAsAbsentSchema(requestBodySchema);

/**
 * Validates, plans, commits, then enqueues a request (README "Architecture": the ledger commit
 * happens before any answer; if the enqueue then fails, the reconciler enqueues it later).
 */
/** Checks one body and resolves its subject and vendors; throws RequestValidationError. */
function validateBody(deps: IntakeDeps, body: unknown, fieldPrefix = '') {
  // An own "__proto__" key (JSON.parse makes one) is a field Joi neither reports nor keeps:
  // refused by name, never silently dropped (issue 25, item 8).
  const subjectGiven = (body as { subject?: unknown } | null)?.subject;
  for (const [where, object] of [
    ['', body],
    ['subject.', subjectGiven],
  ] as const) {
    if (object !== null && typeof object === 'object' && Object.hasOwn(object, '__proto__')) {
      throw new RequestValidationError([{ field: `${fieldPrefix}${where}__proto__`, problem: 'is not a known field' }]);
    }
  }
  // `null` is absent for every optional field (src/intake/null-as-absent.ts).
  const checked = nullableRequestBodySchema.validate(body, { abortEarly: false, convert: false });
  if (checked.error) throw new RequestValidationError(toFieldProblems(checked.error, fieldPrefix));
  const value = checked.value;
  let subject;
  try {
    subject = normaliseSubject(value.subject);
  } catch (err) {
    if (err instanceof InvalidIdentifierError)
      throw new RequestValidationError([{ field: `${fieldPrefix}subject.${err.kind}`, problem: err.problem }]);
    if (err instanceof UnknownIdentifierError)
      throw new RequestValidationError([
        { field: `${fieldPrefix}subject.${err.field}`, problem: 'is not a known field' },
      ]);
    throw err;
  }
  const available = availableVendors(deps.config);
  const explicit = value.vendors !== undefined;
  const vendors = value.vendors ?? available;
  const unavailable = vendors.filter((v) => !available.includes(v));
  if (unavailable.length) {
    throw new RequestValidationError([
      {
        field: `${fieldPrefix}vendors`,
        problem: `${unavailable.join(', ')} ${unavailable.length > 1 ? 'are' : 'is'} not available here; available: ${available.join(', ') || 'none'}`,
      },
    ]);
  }
  return { value, subject, vendors, explicit };
}

/** Validates and plans one submission into the ledger row it will become; throws RequestValidationError. */
async function prepareRequest(
  deps: IntakeDeps,
  now: () => Date,
  body: unknown,
  actor: string,
  fieldPrefix: string,
  options: SubmitOptions,
): Promise<NewRequest> {
  const { value, subject, vendors, explicit } = validateBody(deps, body, fieldPrefix);
  if (value.callbackUrl && deps.checkCallbackUrl) {
    const problem = await deps.checkCallbackUrl(value.callbackUrl);
    if (problem) throw new RequestValidationError([{ field: `${fieldPrefix}callbackUrl`, problem }]);
  }
  const id = randomUUID();
  let tasks;
  try {
    tasks = planTasks({ requestId: id, subject, vendors, vendorsExplicit: explicit }, deps.config);
  } catch (err) {
    if (err instanceof UnplannableVendorError)
      throw new RequestValidationError([{ field: `${fieldPrefix}vendors`, problem: err.message }]);
    throw err;
  }
  const receivedAt = now();
  const submittedAt = options.submittedAt && options.submittedAt < receivedAt ? options.submittedAt : receivedAt;
  const regulation: Regulation = value.regulation ?? 'gdpr';
  const days = regulation === 'ccpa' ? deps.config.deadlines.ccpaDays : deps.config.deadlines.gdprDays;
  return {
    id,
    client: options.client,
    idempotencyKey: options.idempotencyKey ?? value.requestId,
    origin: options.origin,
    afterInsert: options.afterInsert,
    regulation,
    vendors,
    subject,
    callbackUrl: value.callbackUrl,
    submittedAt,
    dueAt: new Date(submittedAt.getTime() + days * DAY_MS),
    notBefore: value.gracePeriodSeconds ? new Date(receivedAt.getTime() + value.gracePeriodSeconds * 1000) : undefined,
    tasks,
    actor,
  };
}

export function createIntake(deps: IntakeDeps) {
  const now = deps.now ?? (() => new Date());

  const validate = (body: unknown, fieldPrefix = '') => validateBody(deps, body, fieldPrefix);
  const prepare = (body: unknown, actor: string, fieldPrefix: string, options: SubmitOptions) =>
    prepareRequest(deps, now, body, actor, fieldPrefix, options);

  const accepted = (result: SubmitResult, input: NewRequest) => acceptedResult(deps, result, input);

  async function submit(
    body: unknown,
    actor: string,
    fieldPrefix = '',
    options: SubmitOptions = {},
  ): Promise<SubmitResult> {
    const input = await prepare(body, actor, fieldPrefix, options);
    if (!(await deps.queueReady())) throw new IntakeUnavailableError('redis');
    let result: CreateRequestResult;
    try {
      result = await deps.ledger.requests.createRequest(input);
    } catch (err) {
      deps.logger.error('ledger write failed', { errorName: (err as Error).name });
      throw new IntakeUnavailableError('ledger');
    }
    if (result.reusedKey) throw new IdempotencyKeyReusedError(options.idempotencyKeyField ?? `${fieldPrefix}requestId`);
    if (!result.created) return { request: result.request, created: false };
    let queued: boolean;
    try {
      queued = await deps.enqueue(result.request, now());
    } catch (err) {
      // Committed but not queued: the answer is still "accepted"; the reconciler enqueues it.
      deps.logger.warn('enqueue failed after commit; the reconciler will retry', {
        requestId: input.id,
        errorName: (err as Error).name,
      });
      return result;
    }
    // Not queued (its queues are full): accepted, and `received` until the due-work scheduler admits it.
    return queued ? accepted(result, input) : result;
  }

  const submitMany = (bodies: unknown[], actor: string, fieldPrefix: (index: number) => string, client?: string) =>
    submitBulk({ deps, now, prepare, accepted }, bodies, actor, fieldPrefix, client);

  return { submit, submitMany, validate };
}

/** A request recorded and queued: logged, and answered with the status it now has. */
function acceptedResult(deps: IntakeDeps, result: SubmitResult, input: NewRequest): SubmitResult {
  deps.logger.info('request accepted', {
    requestId: result.request.id,
    vendors: input.vendors,
    tasks: input.tasks.length,
  });
  return { ...result, request: { ...result.request, status: result.request.notBefore ? 'scheduled' : 'in_progress' } };
}

/** What a bulk submission uses of its intake. */
interface BulkIntakeSteps {
  deps: IntakeDeps;
  now: () => Date;
  prepare: (body: unknown, actor: string, fieldPrefix: string, options: SubmitOptions) => Promise<NewRequest>;
  accepted: (result: SubmitResult, input: NewRequest) => SubmitResult;
}

/**
 * Native submissions in bulk: each body is validated on its own (a bad one is answered with its
 * problems), the valid ones commit in one ledger transaction and are queued with one addBulk.
 * All or nothing for the valid ones: IntakeUnavailableError means none of them was recorded.
 */
async function submitBulk(
  intake: BulkIntakeSteps,
  bodies: unknown[],
  actor: string,
  fieldPrefix: (index: number) => string,
  client?: string,
): Promise<Array<SubmitResult | RequestValidationError | IdempotencyKeyReusedError>> {
  const { deps, now, prepare, accepted } = intake;
  const answers: Array<RequestValidationError | NewRequest> = [];
  const prefixes = new Map<NewRequest, string>();
  for (const [index, body] of bodies.entries()) {
    try {
      const input = await prepare(body, actor, fieldPrefix(index), { client });
      prefixes.set(input, fieldPrefix(index));
      answers.push(input);
    } catch (err) {
      if (!(err instanceof RequestValidationError)) throw err;
      answers.push(err);
    }
  }
  const inputs = answers.filter((a): a is NewRequest => !(a instanceof RequestValidationError));
  if (inputs.length === 0) return answers as RequestValidationError[];
  if (!(await deps.queueReady())) throw new IntakeUnavailableError('redis');
  let results: CreateRequestResult[];
  try {
    results = await deps.ledger.requests.createRequests(inputs);
  } catch (err) {
    deps.logger.error('ledger write failed', { errorName: (err as Error).name });
    throw new IntakeUnavailableError('ledger');
  }
  const created = results.filter((r) => r.created);
  // The requests queued now: the first ones, in order; those after wait in the ledger for room
  // in their queues (`received`) until the due-work scheduler admits them.
  let queued = new Set<CreateRequestResult>();
  try {
    const admitted = await deps.enqueueMany(
      created.map((r) => r.request),
      now(),
    );
    queued = new Set(created.slice(0, admitted));
  } catch (err) {
    deps.logger.warn('enqueue failed after commit; the reconciler will retry', {
      requests: created.length,
      errorName: (err as Error).name,
    });
  }
  const byInput = new Map(inputs.map((input, i) => [input, results[i]]));
  return answers.map((a) => {
    if (a instanceof RequestValidationError) return a;
    const result = byInput.get(a);
    if (!result) throw new Error('a prepared request has no ledger result');
    if (result.reusedKey) return new IdempotencyKeyReusedError(`${prefixes.get(a)}requestId`);
    return result.created && queued.has(result)
      ? accepted(result, a)
      : { request: result.request, created: result.created };
  });
}

export type Intake = ReturnType<typeof createIntake>;
