import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import {
  CallbackRefusedError,
  guardedLookup,
  hostExempt,
  isRefusedAddress,
  type CallbackPolicy,
  type Resolver,
} from './callback-target.js';

/** A delivery that did not get a 2xx answer; the message names no URL (it might carry anything). */
export class CallbackDeliveryError extends Error {
  constructor(
    message: string,
    readonly httpStatus?: number,
  ) {
    super(message);
    this.name = 'CallbackDeliveryError';
  }
}

export interface PostCallbackOptions {
  policy: CallbackPolicy;
  timeoutMs: number;
  /** Name resolution (a stub in tests); the system resolver otherwise. */
  resolve?: Resolver;
}

/**
 * POSTs a signed body to a callback URL: no redirects followed, no connection reuse, the address
 * checked at connect time (private addresses refused unless the policy allows them). Resolves with
 * the HTTP status when it is 2xx; throws CallbackRefusedError or CallbackDeliveryError otherwise.
 */
export async function postCallback(
  rawUrl: string,
  body: Buffer,
  headers: Record<string, string>,
  options: PostCallbackOptions,
): Promise<number> {
  const url = new URL(rawUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new CallbackRefusedError('the callback URL is not http(s)');
  const exempt = hostExempt(url, options.policy);
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(literal) && !exempt && isRefusedAddress(literal)) throw new CallbackRefusedError();

  const transport = url.protocol === 'https:' ? https : http;
  return new Promise<number>((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: 'POST',
        agent: false,
        lookup: guardedLookup(exempt, options.resolve),
        timeout: options.timeoutMs,
        headers: {
          'content-type': 'application/json',
          'content-length': String(body.length),
          'user-agent': 'erasure-callbacks/1',
          ...headers,
        },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        // The answer's body is not read for meaning (nor logged): only the status counts.
        response.resume();
        response.on('end', () => {
          if (status >= 200 && status < 300) resolve(status);
          else reject(new CallbackDeliveryError(`the callback endpoint answered HTTP ${status}`, status));
        });
        response.on('error', () => {
          reject(new CallbackDeliveryError('the callback answer was cut off'));
        });
      },
    );
    request.on('timeout', () => request.destroy(new CallbackDeliveryError(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', (err: NodeJS.ErrnoException) => {
      if (err instanceof CallbackRefusedError || err instanceof CallbackDeliveryError) {
        reject(err);
        return;
      }
      reject(new CallbackDeliveryError(`callback delivery failed (${err.code ?? err.name})`));
    });
    request.end(body);
  });
}
