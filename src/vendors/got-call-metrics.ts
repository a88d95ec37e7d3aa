import type { Got, HandlerFunction, Request, Response } from 'got';
import type { VendorName } from './vendor-name.js';
import { operationLabel, outcomeOfStatus, type VendorCallObserver } from './vendor-call-observer.js';

/**
 * A got instance whose every call, promise or stream, is reported to `observer`: the one place
 * the got-based clients are measured. Callers name the operation with `context: { operation }`;
 * a call without a name is labelled by its HTTP method, never by its URL (which holds ids).
 * A handler rather than hooks because got runs `afterResponse` hooks for promises only, and the
 * App Center export is read as a stream; a stream's time is measured to its response headers.
 */
export function withCallMetrics(base: Got, vendor: VendorName, observer: VendorCallObserver | undefined): Got {
  if (!observer) return base;
  const measure: HandlerFunction = (options, next) => {
    const started = performance.now();
    const operation = operationLabel(
      (options.context as { operation?: unknown } | undefined)?.operation,
      options.method,
    );
    let reported = false;
    const report = (status: number | undefined) => {
      if (reported) return;
      reported = true;
      observer.observe({
        vendor,
        operation,
        outcome: outcomeOfStatus(status),
        seconds: (performance.now() - started) / 1000,
      });
    };
    const result = next(options);
    if (options.isStream) {
      const stream = result as Request;
      stream.once('response', (res: Response) => {
        report(res.statusCode);
      });
      stream.once('error', (err: { response?: { statusCode?: number } }) => {
        report(err.response?.statusCode);
      });
    } else {
      // Observing only: the caller still gets (and handles) the original promise.
      (result as unknown as Promise<Response>).then(
        (res) => {
          report(res.statusCode);
        },
        (err: unknown) => {
          report(statusCodeOf(err));
        },
      );
    }
    return result;
  };
  return base.extend({ handlers: [measure] });
}

/** The HTTP status a got error carries (an HTTPError has a response), if any. */
function statusCodeOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null || !('response' in err)) return undefined;
  const { response } = err;
  if (typeof response !== 'object' || response === null || !('statusCode' in response)) return undefined;
  const { statusCode } = response;
  return typeof statusCode === 'number' ? statusCode : undefined;
}
