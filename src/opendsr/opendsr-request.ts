import Joi from 'joi';
import { VENDOR_NAMES } from '../vendors/vendor-name.js';
import type { FieldProblem } from '../intake/request-schema.js';
import { nullAsAbsent } from '../intake/null-as-absent.js';

/** Identity types the spec defines (§5). */
export const OPENDSR_IDENTITY_TYPES = [
  'controller_customer_id',
  'android_advertising_id',
  'android_id',
  'email',
  'fire_advertising_id',
  'ios_advertising_id',
  'ios_vendor_id',
  'microsoft_advertising_id',
  'microsoft_publisher_id',
  'roku_publisher_id',
  'roku_advertising_id',
] as const;
export const OPENDSR_IDENTITY_FORMATS = ['raw', 'sha1', 'md5', 'sha256'] as const;

/**
 * The identities we can act on, and the native identifier each becomes. Raw only: our lookup
 * hashes are keyed (HMAC), so a plain sha256/md5/sha1 of an identifier cannot be matched, and no
 * vendor we erase from accepts hashed ids. No advertising or device ids: no vendor path uses them.
 */
export const SUPPORTED_IDENTITIES = [
  { identity_type: 'email', identity_format: 'raw', native: 'email' },
  { identity_type: 'controller_customer_id', identity_format: 'raw', native: 'userId' },
] as const;

/** An OpenDSR request is refused as a whole; each problem names a field and a reason, never a value. */
export class OpenDsrRequestError extends Error {
  constructor(
    readonly status: number,
    readonly problems: Array<{ reason: string; message: string }>,
  ) {
    super(problems.map((p) => p.message).join('; '));
    this.name = 'OpenDsrRequestError';
  }
}

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Our extension, as its schema below checks it. */
interface OurExtension {
  grace_period_seconds?: number;
  vendors?: string[];
  identities?: { phone?: string; install_id?: string; amplitude_id?: string };
}

/** Our extension (under `extensions[<processor domain>]`): what the spec cannot express. */
const ourExtensionSchema = Joi.object<OurExtension>({
  /** Wait this long before any deletion starts; the request stays `pending` and cancellable. */
  grace_period_seconds: Joi.number()
    .integer()
    .min(0)
    .max(90 * 86_400),
  /** Only these vendors (default: every available one). */
  vendors: Joi.array()
    .items(Joi.string().valid(...VENDOR_NAMES))
    .min(1)
    .unique(),
  /** Identifiers the spec has no identity type for. */
  identities: Joi.object({
    phone: Joi.string().max(32),
    install_id: Joi.string().max(64),
    amplitude_id: Joi.string().max(20).pattern(/^\d+$/),
  }).min(1),
});

/** The request body, as its schema below checks it. */
interface OpenDsrRequestBody {
  regulation?: 'gdpr' | 'ccpa';
  subject_request_id: string;
  subject_request_type: 'erasure' | 'access' | 'portability';
  submitted_time: string;
  subject_identities?: Array<{ identity_type: string; identity_value: string; identity_format: string }>;
  api_version?: string;
  status_callback_urls?: string[];
  extensions?: Record<string, unknown>;
}

/** The request body (spec §7.1). Unknown top-level fields are tolerated (e.g. mParticle's `group_id`). */
function requestSchema(flavor: 'v1' | 'v2') {
  return Joi.object<OpenDsrRequestBody>({
    regulation: flavor === 'v2' ? Joi.string().valid('gdpr', 'ccpa').required() : Joi.string().valid('gdpr', 'ccpa'),
    subject_request_id: Joi.string().pattern(UUID_V4).required(),
    subject_request_type: Joi.string().valid('erasure', 'access', 'portability').required(),
    submitted_time: Joi.string().isoDate().required(),
    subject_identities: Joi.array()
      .items(
        Joi.object({
          identity_type: Joi.string()
            .valid(...OPENDSR_IDENTITY_TYPES)
            .required(),
          identity_value: Joi.string().min(1).max(512).required(),
          identity_format: Joi.string()
            .valid(...OPENDSR_IDENTITY_FORMATS)
            .required(),
        }),
      )
      .min(1)
      .max(20),
    api_version: Joi.string().max(16),
    status_callback_urls: Joi.array()
      .items(
        Joi.string()
          .max(2048)
          .uri({ scheme: ['http', 'https'] }),
      )
      .max(10)
      .unique(),
    extensions: Joi.object(),
  })
    .unknown(true)
    .required();
}

const REASONS: Record<string, string> = {
  'any.required': 'is required',
  'any.only': 'is not one of the values the spec defines',
  'string.pattern.base': 'must be a lower-case UUID v4',
  'string.uri': 'must be an http(s) URL',
  'string.uriCustomScheme': 'must be an http(s) URL',
  'string.isoDate': 'must be an RFC 3339 time',
  'string.base': 'must be a string',
  'object.base': 'must be an object',
  'array.base': 'must be a list',
  'number.base': 'must be a number',
  'number.integer': 'must be a whole number',
  'number.min': 'is too small',
  'number.max': 'is too large',
  'string.max': 'is too long',
  'string.min': 'is too short',
  'object.unknown': 'is not a known field',
  'object.min': 'must not be empty',
  'array.min': 'must not be empty',
  'array.max': 'has too many entries',
  'array.unique': 'lists the same entry twice',
};

function problemsOf(error: Joi.ValidationError, prefix = '') {
  return error.details.map((d) => {
    const field = `${prefix}${d.path.join('.')}` || '(body)';
    return { reason: 'invalid_field', message: `${field} ${REASONS[d.type] ?? 'is invalid'}` };
  });
}

export interface ParsedOpenDsrRequest {
  subjectRequestId: string;
  submittedTime: Date;
  statusCallbackUrls: string[];
  /** The native request body the intake validates, plans and commits. */
  nativeBody: Record<string, unknown>;
}

/**
 * Validates an OpenDSR request and turns it into a native one. Throws OpenDsrRequestError (400)
 * for anything we cannot act on: another request type, an identity type or format we do not
 * support, two values for one identifier.
 */
export function parseOpenDsrRequest(
  body: unknown,
  flavor: 'v1' | 'v2',
  processorDomain: string,
  defaults: { gracePeriodSeconds: number },
): ParsedOpenDsrRequest {
  // `null` is absent for every optional field: Go clients send `"status_callback_urls": null` and
  // `"extensions": null` (src/intake/null-as-absent.ts).
  const checkedBody = requestSchema(flavor).validate(nullAsAbsent(body), { abortEarly: false, convert: false });
  if (checkedBody.error) throw new OpenDsrRequestError(400, problemsOf(checkedBody.error));
  const value = checkedBody.value;
  const submittedTime = new Date(value.submitted_time);
  if (submittedTime.getTime() > Date.now() + 5 * 60_000)
    throw new OpenDsrRequestError(400, [{ reason: 'invalid_field', message: 'submitted_time is in the future' }]);
  if (value.subject_request_type !== 'erasure') {
    throw new OpenDsrRequestError(400, [
      {
        reason: 'unsupported_subject_request_type',
        message: `subject_request_type ${value.subject_request_type} is not supported; see /v2/discovery`,
      },
    ]);
  }

  const subject: Partial<Record<string, string>> = {};
  const problems: Array<{ reason: string; message: string }> = [];
  for (const [index, identity] of (value.subject_identities ?? []).entries()) {
    const supported = SUPPORTED_IDENTITIES.find(
      (s) => s.identity_type === identity.identity_type && s.identity_format === identity.identity_format,
    );
    if (!supported) {
      problems.push({
        reason: 'unsupported_identity',
        message: `subject_identities.${index}: ${identity.identity_type} in format ${identity.identity_format} is not supported; see /v2/discovery`,
      });
      continue;
    }
    if (subject[supported.native] !== undefined && subject[supported.native] !== identity.identity_value) {
      problems.push({
        reason: 'conflicting_identities',
        message: `subject_identities.${index}: only one ${identity.identity_type} per request`,
      });
      continue;
    }
    subject[supported.native] = identity.identity_value;
  }

  const ours = value.extensions?.[processorDomain];
  let extension: OurExtension = {};
  if (ours !== undefined && ours !== null) {
    const checked = ourExtensionSchema.validate(ours, { abortEarly: false, convert: false });
    if (checked.error) problems.push(...problemsOf(checked.error, `extensions.${processorDomain}.`));
    else extension = checked.value;
  }
  if (extension.identities?.phone) subject.phone = extension.identities.phone;
  if (extension.identities?.install_id) subject.installId = extension.identities.install_id;
  if (extension.identities?.amplitude_id) subject.amplitudeId = extension.identities.amplitude_id;
  if (problems.length) throw new OpenDsrRequestError(400, problems);
  if (Object.keys(subject).length === 0) {
    throw new OpenDsrRequestError(400, [
      {
        reason: 'no_identities',
        message: 'subject_identities must name the person by a supported identity; see /v2/discovery',
      },
    ]);
  }

  const grace = extension.grace_period_seconds ?? defaults.gracePeriodSeconds;
  return {
    subjectRequestId: value.subject_request_id,
    submittedTime,
    statusCallbackUrls: value.status_callback_urls ?? [],
    nativeBody: {
      subject,
      regulation: value.regulation ?? 'gdpr',
      ...(extension.vendors ? { vendors: extension.vendors } : {}),
      ...(grace > 0 ? { gracePeriodSeconds: grace } : {}),
    },
  };
}

const NATIVE_FIELD_NAMES: Record<string, string> = {
  'subject.email': 'subject_identities (email)',
  'subject.userId': 'subject_identities (controller_customer_id)',
  'subject.phone': 'extensions (identities.phone)',
  'subject.installId': 'extensions (identities.install_id)',
  'subject.amplitudeId': 'extensions (identities.amplitude_id)',
};

/** The intake's field problems, named in OpenDSR terms. */
export function fromNativeProblems(problems: FieldProblem[]): Array<{ reason: string; message: string }> {
  return problems.map((p) => ({
    reason: 'invalid_field',
    message: `${NATIVE_FIELD_NAMES[p.field] ?? p.field} ${p.problem}`,
  }));
}

export function isSubjectRequestId(value: string): boolean {
  return UUID_V4.test(value);
}
