import type { FieldProblem } from '../intake/request-schema.js';

/** An HTTP error with a stable code and a message written by us (never echoing input). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: FieldProblem[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}
