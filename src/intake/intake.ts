import { randomUUID } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { NewRequest, RequestLedger } from '../ledger/request-ledger.js';
import type { Regulation, RequestRecord } from '../ledger/ledger-types.js';
import type { Logger } from '../logger.js';
import { InvalidIdentifierError, normaliseSubject, type IdentifierKind } from '../privacy/subject.js';
import { availableVendors, planTasks, UnplannableVendorError } from '../planner/plan-tasks.js';
import type { RequestEnqueuer } from '../planner/request-enqueuer.js';
import type { VendorName } from '../vendors/vendor-name.js';
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
    super(`${store === 'redis' ? 'the job queue (Redis)' : 'the ledger (Postgres)'} is unavailable; nothing was recorded, retry later`);
    this.name = 'IntakeUnavailableError';
  }
}

export interface SubmitResult {
  request: RequestRecord;
  created: boolean;
}

/** What a protocol front-end (OpenDSR) adds to a native submission. */
export interface SubmitOptions {
  /** Idempotency key used instead of the body's `requestId` (outside the native key space). */
  idempotencyKey?: string;
  origin?: string;
  /** When the person made the request (the legal clock's start), if before now. */
  submittedAt?: Date;
  /** Runs inside the creating transaction when the request is new. */
  afterInsert?: NewRequest['afterInsert'];
}

export interface IntakeDeps {
  config: Config;
  ledger: RequestLedger;
  enqueue: RequestEnqueuer;
  /** Whether Redis answers now: the intake refuses (503) rather than accept work it cannot queue. */
  queueReady: () => Promise<boolean>;
  logger: Logger;
  now?: () => Date;
  /** Refuses a callback URL the service must not call (private networks): the problem, or undefined. */
  checkCallbackUrl?: (url: string) => Promise<string | undefined>;
}

const DAY_MS = 86_400_000;

/**
 * Validates, plans, commits, then enqueues a request (DESIGN.md Invariant 4: the ledger commit
 * happens before any answer; if the enqueue then fails, the reconciler enqueues it later).
 */
export function createIntake(deps: IntakeDeps) {
  const now = deps.now ?? (() => new Date());

  function validate(body: unknown, fieldPrefix = '') {
    const { value, error } = requestBodySchema.validate(body, { abortEarly: false, convert: false });
    if (error) throw new RequestValidationError(toFieldProblems(error, fieldPrefix));
    let subject;
    try {
      subject = normaliseSubject(value.subject as Partial<Record<IdentifierKind, string | number>>);
    } catch (err) {
      if (err instanceof InvalidIdentifierError) throw new RequestValidationError([{ field: `${fieldPrefix}subject.${err.kind}`, problem: err.problem }]);
      throw err;
    }
    const available = availableVendors(deps.config);
    const explicit = Array.isArray(value.vendors);
    const vendors = (explicit ? value.vendors : available) as VendorName[];
    const unavailable = vendors.filter((v) => !available.includes(v));
    if (unavailable.length) {
      throw new RequestValidationError([
        { field: `${fieldPrefix}vendors`, problem: `${unavailable.join(', ')} ${unavailable.length > 1 ? 'are' : 'is'} not available here; available: ${available.join(', ') || 'none'}` },
      ]);
    }
    return { value, subject, vendors, explicit };
  }

  async function submit(body: unknown, actor: string, fieldPrefix = '', options: SubmitOptions = {}): Promise<SubmitResult> {
    const { value, subject, vendors, explicit } = validate(body, fieldPrefix);
    if (value.callbackUrl && deps.checkCallbackUrl) {
      const problem = await deps.checkCallbackUrl(value.callbackUrl);
      if (problem) throw new RequestValidationError([{ field: `${fieldPrefix}callbackUrl`, problem }]);
    }
    const id = randomUUID();
    let tasks;
    try {
      tasks = planTasks({ requestId: id, subject, vendors, vendorsExplicit: explicit }, deps.config);
    } catch (err) {
      if (err instanceof UnplannableVendorError) throw new RequestValidationError([{ field: `${fieldPrefix}vendors`, problem: err.message }]);
      throw err;
    }
    if (!(await deps.queueReady())) throw new IntakeUnavailableError('redis');
    const receivedAt = now();
    const submittedAt = options.submittedAt && options.submittedAt < receivedAt ? options.submittedAt : receivedAt;
    const regulation = (value.regulation ?? 'gdpr') as Regulation;
    const days = regulation === 'ccpa' ? deps.config.deadlines.ccpaDays : deps.config.deadlines.gdprDays;
    let result: SubmitResult;
    try {
      result = await deps.ledger.createRequest({
        id,
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
      });
    } catch (err) {
      deps.logger.error('ledger write failed', { errorName: (err as Error).name });
      throw new IntakeUnavailableError('ledger');
    }
    if (result.created) {
      try {
        await deps.enqueue(result.request, receivedAt);
        result.request = { ...result.request, status: result.request.notBefore ? 'scheduled' : 'in_progress' };
      } catch (err) {
        // Committed but not queued: the answer is still "accepted"; the reconciler enqueues it.
        deps.logger.warn('enqueue failed after commit; the reconciler will retry', { requestId: id, errorName: (err as Error).name });
      }
      deps.logger.info('request accepted', { requestId: id, vendors, tasks: tasks.length });
    }
    return result;
  }

  return { submit, validate };
}

export type Intake = ReturnType<typeof createIntake>;
