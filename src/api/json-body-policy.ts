/**
 * The one JSON body policy of every route (issue 25, item 1): a body nested deeper than
 * MAX_JSON_DEPTH is refused with 400 before any schema, normalisation or canonicalisation sees it
 * (src/privacy/canonical-json.ts, Joi), and a parser failure (bad Content-Encoding, a truncated
 * gzip stream, an unknown charset, a body over the limit) is answered with its own 4xx status,
 * never a 500. The native API parses with express.json and `verifyJsonDepth`
 * (src/api/create-api-app.ts); OpenDSR reads raw bytes for its body hash and parses with
 * `parseJsonBody` (src/opendsr/opendsr-create.ts).
 */

/** Deepest nesting of arrays and objects accepted in a request body. */
export const MAX_JSON_DEPTH = 32;

/** A body the policy refuses: a status, a stable code and a message of ours (never the body's text). */
export class JsonBodyError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'JsonBodyError';
  }
}

const tooDeep = () =>
  new JsonBodyError(400, 'too_deep', `the body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`);

/**
 * Throws when JSON text nests deeper than MAX_JSON_DEPTH. One pass over the bytes, no recursion,
 * brackets inside strings skipped; it does not validate (JSON.parse does that after it).
 */
export function assertJsonDepth(text: string | Buffer, maxDepth = MAX_JSON_DEPTH): void {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > maxDepth) throw tooDeep();
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
}

/** Parses a JSON body under the policy: too deep or not JSON is a JsonBodyError (400). */
export function parseJsonBody(raw: Buffer | string): unknown {
  assertJsonDepth(raw);
  try {
    return JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch {
    throw new JsonBodyError(400, 'invalid_json', 'the body is not valid JSON');
  }
}

/** express.json's `verify` hook: runs on the raw bytes before the parser, so depth is checked first. */
export function verifyJsonDepth(_req: unknown, _res: unknown, buf: Buffer): void {
  assertJsonDepth(buf);
}

/**
 * The answer for an error thrown while reading or parsing a body (body-parser, raw-body, or this
 * policy), or undefined when `err` is not one. body-parser sets `status` and `type`; any 4xx it
 * chose is kept, so a gzip header over bytes that are not gzip is a 400, not a 500.
 */
export function bodyFailureAnswer(
  err: unknown,
  bodyLimitBytes: number,
): { status: number; code: string; message: string } | undefined {
  if (err instanceof JsonBodyError) return { status: err.status, code: err.code, message: err.message };
  const { type, status } = (err ?? {}) as { type?: unknown; status?: unknown };
  if (type === 'entity.too.large')
    return { status: 413, code: 'body_too_large', message: `the body exceeds ${bodyLimitBytes} bytes` };
  if (type === 'entity.parse.failed')
    return { status: 400, code: 'invalid_json', message: 'the body is not valid JSON' };
  if (type === 'encoding.unsupported' || type === 'charset.unsupported')
    return { status: 415, code: 'unsupported_media_type', message: 'unsupported body encoding or charset' };
  const clientStatus = typeof status === 'number' && status >= 400 && status < 500 ? status : undefined;
  // body-parser and raw-body tag their errors with a `type` (a stream that is not gzip, a length that does not match).
  if (typeof type === 'string')
    return {
      status: clientStatus ?? 400,
      code: 'unreadable_body',
      message: 'the body could not be read (check Content-Encoding and Content-Length)',
    };
  // Any other error a middleware marked as the client's (http-errors' 4xx): its status, our words.
  if (clientStatus)
    return { status: clientStatus, code: 'invalid_request', message: 'the request could not be handled as sent' };
  return undefined;
}
