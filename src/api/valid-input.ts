import type Joi from 'joi';
import { ApiError } from './api-error.js';
import { toFieldProblems } from '../intake/request-schema.js';

/** A body or query as its schema leaves it (defaults applied), or a 400 naming each field's problem. */
export function validInput<T>(schema: Joi.ObjectSchema<T>, input: unknown, code: string, message: string): T {
  const result = schema.validate(input, { abortEarly: false });
  if (result.error) throw new ApiError(400, code, message, toFieldProblems(result.error));
  return result.value;
}
