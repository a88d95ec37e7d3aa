/** The spec's error body (§7.7): code, message and reasons; never an identity or a token. */
export class OpenDsrHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors: Array<{ reason: string; message: string }> = [],
    readonly domain = 'Validation',
  ) {
    super(message);
    this.name = 'OpenDsrHttpError';
  }
}
