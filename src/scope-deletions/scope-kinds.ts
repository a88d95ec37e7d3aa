import Joi from 'joi';

/**
 * The kinds of scope deletion (issue 19; README "Scope deletions"): whole-scope procedures of
 * the vendors, as data. `pinpoint-project` is automated (src/operations/schedule-project-deletion.ts);
 * the rest are guided: the service drafts exactly what to send or click, the operator records it
 * as sent, and the deletion follows the vendor's clock from then on.
 */
export const SCOPE_KINDS = [
  'pinpoint-project',
  'segment-source',
  'segment-space',
  'segment-workspace',
  'segment-purge',
  'amplitude-data',
  'aws-account',
] as const;
export type ScopeKind = (typeof SCOPE_KINDS)[number];
export type GuidedScopeKind = Exclude<ScopeKind, 'pinpoint-project'>;

export const DAY_MS = 86_400_000;

/** Segment Customer Success, whom Segment's docs name for deletions it has no API for. */
export const SEGMENT_SUPPORT_EMAIL = 'friends@segment.com';

/** What the operator is to do: one e-mail, or numbered steps in the vendor's UI. */
export type Instructions =
  | { channel: 'email'; to: string; subject: string; body: string; mailto: string }
  | { channel: 'ui'; where: string; steps: string[] };

/**
 * Whether, once sent, the vendor lets it be cancelled: `window` (until `days` after it was sent;
 * the cancellation is itself an e-mail, drafted), or `never` with the vendor's reason.
 */
export type CancelRule = { after: 'window'; days: number } | { after: 'never'; why: string };

export interface VendorRules {
  /** Days the vendor waits after the request before deleting (a grace period of its own), if any. */
  vendorGraceDays: number;
  /** Days, after it was sent, by which the vendor should have finished; then the deletion is `overdue`. */
  vendorDays: number;
  cancel: CancelRule;
  /** The vendor's timings in words, for the instructions and the receipt. */
  summary: string;
}

/** A guided kind's fields once joi has checked them (strings, and Amplitude's clauses). */
export type GuidedFields = Record<string, unknown>;

/** A checked field as text; '' when the kind has no such field (joi has checked its type). */
export function text(fields: GuidedFields, key: string): string {
  const value = fields[key];
  return typeof value === 'string' ? value : '';
}

export interface GuidedKind {
  kind: GuidedScopeKind;
  vendor: 'segment' | 'amplitude' | 'aws';
  /** The fields, joi-checked (unknown keys refused). */
  fields: Joi.ObjectSchema<GuidedFields>;
  /** A check across fields (joi checks each one): the field at fault and why. */
  crossCheck?(fields: GuidedFields): { field: string; problem: string } | undefined;
  /** The field naming the scope: typed a second time as `confirmScope`. */
  scopeField: string;
  rules: VendorRules;
  instructions(fields: GuidedFields, deletionId: string): Instructions;
  /** The cancellation e-mail, for kinds cancellable within a window. */
  cancellation?(fields: GuidedFields, deletionId: string, sentReference: string): Instructions;
}

const slug = Joi.string()
  .trim()
  .pattern(/^[a-z0-9][a-z0-9-]{0,99}$/)
  .messages({ 'string.pattern.base': 'must be a workspace slug (lower-case letters, digits and dashes)' });
/** A name as the vendor shows it: one line, no control or bidi characters (it is printed in e-mails, the CLI and the admin page). */
/** One line of text: no control characters (C0, DEL) and no bidi marks or overrides. */
// eslint-disable-next-line no-control-regex -- the pattern exists to refuse control characters
export const ONE_LINE = /^[^\u0000-\u001f\u007f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$/;
const name = Joi.string()
  .trim()
  .min(1)
  .max(200)
  .pattern(ONE_LINE)
  .messages({ 'string.pattern.base': 'must be one line without control or bidi characters' });
/** A whole UTC day: `YYYY-MM-DD`, or a time at 00:00:00 UTC (Segment deletes whole days only). */
const wholeDay = Joi.string()
  .pattern(/^\d{4}-\d{2}-\d{2}(T00:00(:00(\.0+)?)?Z)?$/)
  .messages({ 'string.pattern.base': 'must be a whole UTC day (YYYY-MM-DD): Segment deletes whole days only' });

function email(to: string, subject: string, body: string): Instructions {
  return {
    channel: 'email',
    to,
    subject,
    body,
    mailto: `mailto:${to}?subject=${encodeURIComponent(subject)}&body=${encodeURIComponent(body)}`,
  };
}

const signature = (id: string) => `\n\nOur reference: scope deletion ${id}.\nPlease reply to confirm when it is done.`;

const segmentSource: GuidedKind = {
  kind: 'segment-source',
  vendor: 'segment',
  fields: Joi.object({
    workspaceSlug: slug.required(),
    source: name.required(),
    start: wholeDay.required(),
    end: wholeDay.required(),
  }),
  crossCheck: (f) =>
    text(f, 'start').slice(0, 10) > text(f, 'end').slice(0, 10)
      ? { field: 'end', problem: 'must not be before start' }
      : undefined,
  scopeField: 'workspaceSlug',
  rules: {
    vendorGraceDays: 0,
    vendorDays: 30,
    cancel: { after: 'never', why: 'Segment documents no way to cancel a source deletion once requested' },
    summary: "Only Segment's S3 archive of the source is cleared; nothing is forwarded to destinations.",
  },
  instructions: (f, id) =>
    email(
      SEGMENT_SUPPORT_EMAIL,
      `Source data deletion request: workspace ${text(f, 'workspaceSlug')}, source ${text(f, 'source')}`,
      `Hello Segment Customer Success,\n\nPlease delete the data of this source:\n\nWorkspace slug: ${text(f, 'workspaceSlug')}\nSource: ${text(f, 'source')}\nTime frame (whole UTC days, inclusive): ${text(f, 'start').slice(0, 10)} to ${text(f, 'end').slice(0, 10)}${signature(id)}`,
    ),
};

const segmentSpace: GuidedKind = {
  kind: 'segment-space',
  vendor: 'segment',
  fields: Joi.object({ workspaceSlug: slug.required(), space: name.required() }),
  scopeField: 'workspaceSlug',
  rules: {
    vendorGraceDays: 5,
    vendorDays: 12,
    cancel: { after: 'window', days: 5 },
    summary: 'Segment waits 5 calendar days before deleting the space; an e-mail within them cancels it.',
  },
  instructions: (f, id) =>
    email(
      SEGMENT_SUPPORT_EMAIL,
      `Unify space deletion request: workspace ${text(f, 'workspaceSlug')}, space ${text(f, 'space')}`,
      `Hello Segment Customer Success,\n\nPlease delete this Unify space:\n\nWorkspace slug: ${text(f, 'workspaceSlug')}\nSpace name: ${text(f, 'space')}${signature(id)}`,
    ),
  cancellation: (f, id, reference) =>
    email(
      SEGMENT_SUPPORT_EMAIL,
      `Cancel Unify space deletion: workspace ${text(f, 'workspaceSlug')}, space ${text(f, 'space')}`,
      `Hello Segment Customer Success,\n\nPlease cancel our request to delete this Unify space (your reference: ${reference}):\n\nWorkspace slug: ${text(f, 'workspaceSlug')}\nSpace name: ${text(f, 'space')}\n\nOur reference: scope deletion ${id}.`,
    ),
};

const segmentWorkspace: GuidedKind = {
  kind: 'segment-workspace',
  vendor: 'segment',
  fields: Joi.object({ workspaceSlug: slug.required() }),
  scopeField: 'workspaceSlug',
  rules: {
    vendorGraceDays: 5,
    vendorDays: 35,
    cancel: { after: 'never', why: 'Segment documents no way to restore a workspace deleted in the UI' },
    summary: 'A complete data purge follows within 30 days, after a 5-day grace period.',
  },
  instructions: (f) => ({
    channel: 'ui',
    where: 'Segment app (app.segment.com), as a workspace owner',
    steps: [
      `Open the workspace ${text(f, 'workspaceSlug')}.`,
      'Go to Settings → Workspace Settings → General Settings.',
      'Click "Delete Workspace".',
      `Type the workspace slug ${text(f, 'workspaceSlug')} to confirm, and delete.`,
      'Record the time of deletion here as sent; the purge follows within 30 days after a 5-day grace period.',
    ],
  }),
};

const segmentPurge: GuidedKind = {
  kind: 'segment-purge',
  vendor: 'segment',
  fields: Joi.object<GuidedFields>({
    workspaceSlug: slug,
    workspaceId: Joi.string()
      .trim()
      .pattern(/^[A-Za-z0-9_-]{1,100}$/),
    deletedOn: Joi.string().isoDate().required(),
  }).or('workspaceSlug', 'workspaceId'),
  crossCheck: (f) =>
    text(f, 'deletedOn').slice(0, 10) >= '2022-03-31'
      ? {
          field: 'deletedOn',
          problem:
            'must be before 2022-03-31: a workspace deleted later is purged by Segment on its own (use segment-workspace)',
        }
      : undefined,
  scopeField: 'workspace',
  rules: {
    vendorGraceDays: 0,
    vendorDays: 30,
    cancel: { after: 'never', why: 'Segment documents no way to cancel a data purge once requested' },
    summary: 'For a workspace deleted before 2022-03-31.',
  },
  instructions: (f, id) =>
    email(
      SEGMENT_SUPPORT_EMAIL,
      `Complete data purge request: workspace ${text(f, 'workspaceSlug') || text(f, 'workspaceId')}`,
      `Hello Segment Customer Success,\n\nPlease carry out a complete data purge of this workspace, deleted on ${text(f, 'deletedOn').slice(0, 10)}:\n\n${text(f, 'workspaceSlug') ? `Workspace slug: ${text(f, 'workspaceSlug')}\n` : ''}${text(f, 'workspaceId') ? `Workspace id: ${text(f, 'workspaceId')}\n` : ''}${signature(id).trimStart()}`,
    ),
};

const clause = Joi.object({
  type: Joi.string().valid('event', 'event_property', 'user_property').required(),
  names: Joi.array().items(name).min(1).max(100).required(),
  events: Joi.alternatives(Joi.string().valid('all'), Joi.array().items(name).min(1).max(100)).default('all'),
});

interface Clause {
  type: string;
  names: string[];
  events: 'all' | string[];
}

const isTextList = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((v) => typeof v === 'string');

/** Amplitude's clauses, as joi checked them (`clause` above); anything else is dropped. */
function clausesOf(fields: GuidedFields): Clause[] {
  const clauses = fields.clauses;
  if (!Array.isArray(clauses)) return [];
  return clauses.flatMap((c: unknown): Clause[] => {
    if (typeof c !== 'object' || c === null) return [];
    const { type, names, events } = c as Record<string, unknown>;
    if (typeof type !== 'string' || !isTextList(names) || (events !== 'all' && !isTextList(events))) return [];
    return [{ type, names, events }];
  });
}

const amplitudeData: GuidedKind = {
  kind: 'amplitude-data',
  vendor: 'amplitude',
  fields: Joi.object({
    project: name.required(),
    start: Joi.string().isoDate().required(),
    end: Joi.string().isoDate().required(),
    clauses: Joi.array()
      .items(clause)
      .min(1)
      .max(5)
      .required()
      .messages({ 'array.max': 'at most 5 clauses: Amplitude takes up to five per deletion' }),
  }),
  crossCheck: (f) =>
    Date.parse(text(f, 'start')) >= Date.parse(text(f, 'end'))
      ? { field: 'end', problem: 'must be after start' }
      : undefined,
  scopeField: 'project',
  rules: {
    vendorGraceDays: 0,
    vendorDays: 30,
    cancel: { after: 'never', why: 'Amplitude: a self-service deletion cannot be cancelled once submitted' },
    summary:
      'Amplitude says self-service data deletion is not meant for privacy compliance; it cannot be cancelled once submitted.',
  },
  instructions: (f) => ({
    channel: 'ui',
    where: 'Amplitude, as an organization admin',
    steps: [
      'Open Organization settings → Self Service Data Deletion.',
      `Choose the project ${text(f, 'project')}.`,
      `Set the time range in UTC, by server upload time: ${new Date(text(f, 'start')).toISOString()} to ${new Date(text(f, 'end')).toISOString()}.`,
      ...clausesOf(f).map(
        (c, i) =>
          `Clause ${i + 1}: delete ${c.type === 'event' ? 'events' : c.type === 'event_property' ? 'event properties' : 'user properties'} ${c.names.join(', ')}${c.type === 'event' ? '' : ` on ${c.events === 'all' ? 'all events' : `the events ${c.events.join(', ')}`}`}.`,
      ),
      'Submit (it cannot be cancelled afterwards), and record the submission here as sent.',
    ],
  }),
};

const awsAccount: GuidedKind = {
  kind: 'aws-account',
  vendor: 'aws',
  fields: Joi.object({
    accountId: Joi.string()
      .pattern(/^\d{12}$/)
      .required()
      .messages({ 'string.pattern.base': 'must be a 12-digit AWS account id' }),
  }),
  scopeField: 'accountId',
  rules: {
    vendorGraceDays: 90,
    vendorDays: 90,
    cancel: {
      after: 'never',
      why: 'a closed AWS account is reopened only by its root user through AWS Support, not by this service',
    },
    summary:
      'Closing the account deletes every service in every region; AWS keeps the data for 90 days, then deletes it for good.',
  },
  instructions: (f) => ({
    channel: 'ui',
    where: 'AWS console, signed in as the root user of the account (never automated)',
    steps: [
      `Sign in to the AWS console as the root user of account ${text(f, 'accountId')}.`,
      'Open the account menu → Account.',
      'Scroll to "Close account" and read the conditions.',
      `Click "Close account" and confirm for ${text(f, 'accountId')}.`,
      'Record the closing time here as sent; AWS deletes the data for good 90 days later.',
    ],
  }),
};

export const GUIDED_KINDS: Record<GuidedScopeKind, GuidedKind> = {
  'segment-source': segmentSource,
  'segment-space': segmentSpace,
  'segment-workspace': segmentWorkspace,
  'segment-purge': segmentPurge,
  'amplitude-data': amplitudeData,
  'aws-account': awsAccount,
};

export function isGuidedKind(kind: string): kind is GuidedScopeKind {
  return kind in GUIDED_KINDS;
}

/** The scope a deletion names, from its fields (segment-purge: the slug, else the id). */
export function scopeOf(kind: GuidedKind, fields: GuidedFields): string {
  return kind.scopeField === 'workspace'
    ? text(fields, 'workspaceSlug') || text(fields, 'workspaceId')
    : text(fields, kind.scopeField);
}
