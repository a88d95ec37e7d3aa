import { randomUUID } from 'node:crypto';
import Joi from 'joi';
import type { ScopeDeletionLedger, ScopeDeletionRecord } from '../ledger/scope-deletion-ledger.js';
import {
  DAY_MS,
  GUIDED_KINDS,
  ONE_LINE,
  SCOPE_KINDS,
  isGuidedKind,
  scopeOf,
  type GuidedFields,
  type GuidedKind,
} from './scope-kinds.js';
import type { FieldProblem } from '../intake/request-schema.js';

/** A scope deletion refused as asked: the fields at fault, in words that echo no input. */
export class ScopeDeletionInvalid extends Error {
  constructor(readonly problems: FieldProblem[]) {
    super(`the scope deletion is not valid: ${problems.map((p) => `${p.field} ${p.problem}`).join('; ')}`);
    this.name = 'ScopeDeletionInvalid';
  }
}

/** An action the vendor's rules or the deletion's state refuse: nothing changed; `why` says why. */
export class ScopeDeletionRefused extends Error {
  constructor(
    readonly code: string,
    readonly why: string,
    readonly deletion: ScopeDeletionRecord,
  ) {
    super(why);
    this.name = 'ScopeDeletionRefused';
  }
}

/** A scope deletion as asked for: `fields` are checked by kind afterwards (scope-kinds.ts). */
export interface ScopeRequestBody {
  kind: (typeof SCOPE_KINDS)[number];
  fields: Record<string, unknown>;
  confirmScope: string;
  reason: string;
  gracePeriodDays?: number;
}

export const scopeRequestSchema = Joi.object<ScopeRequestBody>({
  kind: Joi.string()
    .valid(...SCOPE_KINDS)
    .required(),
  fields: Joi.object().required(),
  confirmScope: Joi.string().max(200).required(),
  reason: Joi.string().trim().min(3).max(500).required(),
  gracePeriodDays: Joi.number().min(0).max(365),
}).required();

/** A ticket or reference an operator types: one line, no control or bidi characters (it is printed back). */
export const referenceSchema = Joi.string()
  .trim()
  .min(3)
  .max(200)
  .pattern(ONE_LINE)
  .messages({ 'string.pattern.base': 'must be one line without control or bidi characters' });
export const sentSchema = Joi.object<{ reference: string; sentAt?: Date }>({
  reference: referenceSchema.required(),
  sentAt: Joi.date().iso(),
}).required();
export const confirmSchema = Joi.object<{ reference: string; note?: string }>({
  reference: referenceSchema.required(),
  note: Joi.string().trim().max(2000),
}).required();

/** Joi's problems as fields and words (its own message, without the label that may hold nothing but the key). */
export function problemsOf(error: Joi.ValidationError, prefix = ''): FieldProblem[] {
  // Joi's pattern message repeats the value: replaced, so that no input is echoed.
  return error.details.map((d) => ({
    field: `${prefix}${d.path.join('.')}` || '(body)',
    problem:
      d.type === 'string.pattern.base' && /with value/.test(d.message)
        ? 'has an invalid format'
        : d.message.replace(/^"[^"]*" /, ''),
  }));
}

/** Checks a guided kind's fields and the scope typed twice; returns the normalised fields. */
export function checkGuided(
  kind: GuidedKind,
  fields: unknown,
  confirmScope: string,
): { fields: GuidedFields; scope: string } {
  const checked = kind.fields.validate(fields, { abortEarly: false });
  if (checked.error) throw new ScopeDeletionInvalid(problemsOf(checked.error, 'fields.'));
  const value = checked.value;
  const cross = kind.crossCheck?.(value);
  if (cross) throw new ScopeDeletionInvalid([{ field: `fields.${cross.field}`, problem: cross.problem }]);
  const scope = scopeOf(kind, value);
  if (confirmScope !== scope) {
    throw new ScopeDeletionInvalid([
      {
        field: 'confirmScope',
        problem: `must repeat the scope (${kind.scopeField === 'workspace' ? 'the workspace slug or id' : kind.scopeField}) exactly: it is typed twice so that a slip cannot delete another one`,
      },
    ]);
  }
  return { fields: value, scope };
}

/** Records a guided deletion with its drafted instructions. The reason is already scrubbed. */
export async function requestGuidedDeletion(
  ledger: ScopeDeletionLedger,
  input: { kind: string; fields: unknown; confirmScope: string; reason: string; actor: string },
): Promise<ScopeDeletionRecord> {
  if (!isGuidedKind(input.kind)) throw new ScopeDeletionInvalid([{ field: 'kind', problem: 'is not a guided kind' }]);
  const kind = GUIDED_KINDS[input.kind];
  const { fields, scope } = checkGuided(kind, input.fields, input.confirmScope);
  const id = randomUUID();
  return ledger.create({
    id,
    kind: kind.kind,
    vendor: kind.vendor,
    scope,
    fields,
    reason: input.reason,
    actor: input.actor,
    instructions: kind.instructions(fields, id),
  });
}

/**
 * The operator did it at the vendor (at `sentAt`, default now on the ledger's clock): the vendor's
 * clock starts. Sets the cancel deadline (kinds cancellable for a window) and when it is overdue.
 */
export async function markGuidedSent(
  ledger: ScopeDeletionLedger,
  id: string,
  actor: string,
  input: { reference: string; sentAt?: Date },
): Promise<ScopeDeletionRecord> {
  const deletion = await mustGet(ledger, id);
  const kind = GUIDED_KINDS[deletion.kind as keyof typeof GUIDED_KINDS];
  const now = ledger.now();
  const at = input.sentAt ?? now;
  if (at.getTime() > now.getTime())
    throw new ScopeDeletionInvalid([{ field: 'sentAt', problem: 'must not be in the future' }]);
  const cancelDeadline =
    kind.rules.cancel.after === 'window' ? new Date(at.getTime() + kind.rules.cancel.days * DAY_MS) : null;
  const result = await ledger.markSent(id, actor, {
    at,
    reference: input.reference,
    cancelDeadline,
    expectedBy: new Date(at.getTime() + kind.rules.vendorDays * DAY_MS),
  });
  return appliedOrRefused(result, (status) => `it is ${status}: only a drafted deletion can be recorded as sent`);
}

/** The vendor's confirmation, recorded as evidence: a sent deletion ends `confirmed`, a cancel requested ends `cancelled`. */
export async function confirmGuided(
  ledger: ScopeDeletionLedger,
  id: string,
  actor: string,
  evidence: { reference: string; note?: string },
): Promise<ScopeDeletionRecord> {
  const deletion = await mustGet(ledger, id);
  const record = { ...evidence, recordedAt: ledger.now().toISOString(), recordedBy: actor };
  const result =
    deletion.status === 'cancel_requested'
      ? await ledger.confirmCancel(id, actor, record)
      : await ledger.confirm(id, actor, record);
  return appliedOrRefused(
    result,
    (status) => `it is ${status}: only a sent deletion (or a cancel requested) can be confirmed`,
  );
}

/**
 * A cancel, by the vendor's rules: a drafted deletion is dropped; a sent one within the vendor's
 * window gets its cancellation e-mail drafted (`cancel_requested`); after the window, or for a
 * vendor that cannot cancel, it is refused with the reason and nothing changes (the attempt is audited).
 */
export async function cancelGuided(
  ledger: ScopeDeletionLedger,
  id: string,
  actor: string,
  reason: string,
): Promise<ScopeDeletionRecord> {
  const deletion = await mustGet(ledger, id);
  const kind = GUIDED_KINDS[deletion.kind as keyof typeof GUIDED_KINDS];
  if (deletion.status === 'drafted') return settle(await ledger.cancelDraft(id, actor, reason), 'cancel');
  if (deletion.status !== 'sent')
    throw new ScopeDeletionRefused(
      `already_${deletion.status}`,
      `it is ${deletion.status}: there is nothing to cancel`,
      deletion,
    );
  const rule = kind.rules.cancel;
  const now = ledger.now();
  let why: string | undefined;
  const sentAt = deletion.sentAt?.toISOString() ?? 'an unrecorded time';
  if (rule.after === 'never') why = `${rule.why}; it was sent at ${sentAt}`;
  else if (deletion.cancelDeadline && now.getTime() >= deletion.cancelDeadline.getTime()) {
    why = `the cancel deadline passed at ${deletion.cancelDeadline.toISOString()} (${rule.days} calendar days after it was sent at ${sentAt}): the vendor no longer takes a cancellation`;
  }
  if (why || !kind.cancellation) {
    why ??= 'the vendor takes no cancellation e-mail for this kind';
    await ledger.auditRefusal(id, actor, 'scope_deletion.cancel_refused', { reason, why });
    throw new ScopeDeletionRefused('not_cancellable', why, deletion);
  }
  return settle(
    await ledger.requestCancel(id, actor, reason, kind.cancellation(deletion.fields, id, deletion.sentReference ?? '')),
    'cancel',
  );
}

function settle(result: GuardedWrite, what: string): ScopeDeletionRecord {
  return appliedOrRefused(result, (status) => `it became ${status} meanwhile: nothing to ${what}`);
}

type GuardedWrite = { applied: boolean; record: ScopeDeletionRecord | undefined };

/** The record a guarded write left; refused (with `why` for its status) when the write lost to another. */
function appliedOrRefused(result: GuardedWrite, why: (status: string) => string): ScopeDeletionRecord {
  const record = result.record;
  if (!record) throw new ScopeDeletionNotFound();
  if (!result.applied) throw new ScopeDeletionRefused(`already_${record.status}`, why(record.status), record);
  return record;
}

async function mustGet(ledger: ScopeDeletionLedger, id: string): Promise<ScopeDeletionRecord> {
  const deletion = await ledger.get(id);
  if (!deletion) throw new ScopeDeletionNotFound();
  return deletion;
}

export class ScopeDeletionNotFound extends Error {
  constructor() {
    super('no scope deletion with that id');
    this.name = 'ScopeDeletionNotFound';
  }
}

/** A guided deletion as the API shows it, with `overdue` on the ledger's clock and what the operator can do next. */
export function scopeDeletionView(d: ScopeDeletionRecord, now: Date) {
  const kind = isGuidedKind(d.kind) ? GUIDED_KINDS[d.kind] : undefined;
  const overdue =
    (d.status === 'sent' || d.status === 'cancel_requested') &&
    d.expectedBy !== null &&
    now.getTime() > d.expectedBy.getTime();
  return {
    id: d.id,
    kind: d.kind,
    vendor: d.vendor,
    mode: 'guided' as const,
    scope: d.scope,
    fields: d.fields,
    reason: d.reason,
    requestedBy: d.requestedBy,
    requestedAt: d.createdAt.toISOString(),
    status: overdue ? ('overdue' as const) : d.status,
    storedStatus: d.status,
    instructions: d.instructions,
    vendorRules: kind?.rules,
    sentAt: d.sentAt?.toISOString() ?? null,
    sentBy: d.sentBy,
    sentReference: d.sentReference,
    cancelDeadline: d.cancelDeadline?.toISOString() ?? null,
    expectedBy: d.expectedBy?.toISOString() ?? null,
    cancellable:
      d.status === 'drafted' ||
      (d.status === 'sent' && d.cancelDeadline !== null && now.getTime() < d.cancelDeadline.getTime()),
    evidence: d.evidence,
  };
}
