import Joi from 'joi';
import { VENDOR_NAMES, isVendorName, type VendorName } from '../vendors/vendor-name.js';

/** A field-level problem, safe to return and log: it never repeats the submitted value. */
export interface FieldProblem {
  field: string;
  problem: string;
}

/** A native request body as requestBodySchema leaves it (`convert: false`: values keep their JSON types). */
export interface NativeRequestBody {
  requestId?: string;
  subject: { email?: string; phone?: string; userId?: string; installId?: string; amplitudeId?: string | number };
  vendors?: VendorName[];
  regulation?: 'gdpr' | 'ccpa';
  callbackUrl?: string;
  gracePeriodSeconds?: number;
}

/** Native request body (README "HTTP API"). Unknown fields are refused. */
export const requestBodySchema = Joi.object<NativeRequestBody>({
  requestId: Joi.string()
    .min(1)
    .max(128)
    .pattern(/^[A-Za-z0-9._~-]+$/),
  subject: Joi.object({
    email: Joi.string().max(254),
    phone: Joi.string().max(32),
    userId: Joi.string().max(256),
    installId: Joi.string().max(64),
    amplitudeId: Joi.alternatives(Joi.number().integer().positive().unsafe(false), Joi.string().max(20)),
  })
    .min(1)
    .required(),
  vendors: Joi.array()
    // Read when a request arrives, not at import: vendors registered at boot count (src/connectors/registry.ts).
    .items(
      Joi.string().custom((value: string, helpers) =>
        isVendorName(value) ? value : helpers.error('any.only', { valids: [...VENDOR_NAMES] }),
      ),
    )
    .min(1)
    .unique(),
  regulation: Joi.string().valid('gdpr', 'ccpa'),
  callbackUrl: Joi.string()
    .max(2048)
    .uri({ scheme: ['http', 'https'] }),
  /** Seconds to wait before any deletion starts; cancellable meanwhile. */
  gracePeriodSeconds: Joi.number()
    .integer()
    .min(0)
    .max(90 * 86_400),
}).required();

const PROBLEMS: Record<string, (context: Joi.Context | undefined) => string> = {
  'any.required': () => 'is required',
  'object.unknown': () => 'is not a known field',
  'object.base': () => 'must be an object',
  'object.min': () => 'needs at least one identifier (email, phone, userId, installId or amplitudeId)',
  'string.base': () => 'must be a string',
  'string.empty': () => 'must not be empty',
  'string.min': (c) => `must be at least ${c?.limit} characters`,
  'string.max': (c) => `must be at most ${c?.limit} characters`,
  'string.pattern.base': () => 'may only contain letters, digits, and . _ ~ -',
  'string.uri': () => 'must be an http(s) URL',
  'string.uriCustomScheme': () => 'must be an http(s) URL',
  'number.base': () => 'must be a number',
  'number.integer': () => 'must be a whole number',
  'number.positive': () => 'must be positive',
  'number.min': (c) => `must be at least ${c?.limit}`,
  'number.max': (c) => `must be at most ${c?.limit}`,
  'number.unsafe': () => 'is too large; send it as a string',
  'array.base': () => 'must be a list',
  'array.min': () => 'must not be empty',
  'array.unique': () => 'lists the same vendor twice',
  'any.only': (c) => `must be one of ${(c?.valids as unknown[] | undefined)?.join(', ')}`,
  'object.missing': (c) => `needs one of: ${((c?.peersWithLabels ?? c?.peers) as string[] | undefined)?.join(', ')}`,
  'object.oxor': (c) =>
    `takes only one of: ${((c?.presentWithLabels ?? c?.present) as string[] | undefined)?.join(', ')}`,
  'string.guid': () => 'must be a UUID',
  'date.base': () => 'must be an ISO 8601 date',
  'date.format': () => 'must be an ISO 8601 date',
  'boolean.base': () => 'must be true or false',
  'alternatives.match': () => 'must be a positive whole number or a string of digits',
  'alternatives.types': () => 'must be a positive whole number or a string of digits',
};

/** Joi details → our problems, worded by us so that no submitted value is echoed back. */
export function toFieldProblems(error: Joi.ValidationError, prefix = ''): FieldProblem[] {
  return error.details.map((d) => ({
    field: `${prefix}${d.path.join('.')}` || '(body)',
    problem: (PROBLEMS[d.type] ?? (() => 'is invalid'))(d.context),
  }));
}
