import type { VendorName } from './vendor-name.js';
import { awsOperationName, outcomeOfStatus, type VendorCallObserver } from './vendor-call-observer.js';

/**
 * The part of an AWS SDK v3 client's middleware stack this uses. Each generated client types its
 * stack with its own input and output unions, so callers pass the stack as is and it is read
 * through this narrower shape.
 */
interface DeserializeStack {
  add(
    middleware: (
      next: (args: unknown) => Promise<unknown>,
      context: { commandName?: string },
    ) => (args: unknown) => Promise<unknown>,
    options: { step: 'deserialize'; name: string; priority: 'high' },
  ): void;
}

/**
 * Reports every HTTP attempt an AWS SDK client makes to `observer`: the one place the SDK clients
 * (Pinpoint, S3) are measured. It sits in the deserialize step, inside the SDK's retry loop, so an
 * S3 SlowDown absorbed by the SDK's own retry still counts as the call it was. The operation is
 * the command's name (`DeleteEndpoint`), never the request path.
 */
export function addCallMetrics(
  client: { middlewareStack: object },
  vendor: VendorName,
  observer: VendorCallObserver | undefined,
): void {
  if (!observer) return;
  (client.middlewareStack as DeserializeStack).add(
    (next, context) => async (args) => {
      const started = performance.now();
      const operation = awsOperationName(context.commandName);
      const seconds = () => (performance.now() - started) / 1000;
      try {
        const output = (await next(args)) as { response?: { statusCode?: number } } | undefined;
        observer.observe({
          vendor,
          operation,
          outcome: outcomeOfStatus(output?.response?.statusCode ?? 200),
          seconds: seconds(),
        });
        return output;
      } catch (err) {
        const e = err as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } } | undefined;
        observer.observe({
          vendor,
          operation,
          outcome: outcomeOfStatus(e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode),
          seconds: seconds(),
        });
        throw err;
      }
    },
    { step: 'deserialize', name: 'erasureVendorCallMetrics', priority: 'high' },
  );
}
