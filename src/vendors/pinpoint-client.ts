import {
  PinpointClient as AwsPinpointClient,
  GetUserEndpointsCommand,
  DeleteUserEndpointsCommand,
  PinpointServiceException,
  type EndpointResponse,
} from '@aws-sdk/client-pinpoint';
import type { PinpointSettings } from './pinpoint-settings.js';
import { classifyHttpFailure, TransientVendorError, type VendorError } from './vendor-errors.js';

/** What we keep of an endpoint: its vendor id and channel, never its address. */
export interface EndpointSummary {
  id: string;
  channelType?: string;
}

export interface UserEndpointsInput {
  appId: string;
  userId: string;
  signal?: AbortSignal;
}

/**
 * The Pinpoint operations the erasure jobs use, over the real `@aws-sdk/client-pinpoint`.
 * A 404 (unknown user, or an app that no longer exists) is a result, not an error: `[]`.
 */
export interface PinpointClient {
  getUserEndpoints(input: UserEndpointsInput): Promise<EndpointSummary[]>;
  deleteUserEndpoints(input: UserEndpointsInput): Promise<EndpointSummary[]>;
  close(): void;
}

export function createPinpointClient(settings: PinpointSettings): PinpointClient {
  const sdk = new AwsPinpointClient({
    region: settings.region,
    endpoint: settings.endpoint,
    credentials: settings.credentials,
    // Retries belong to the queue, where they are visible, backed off and cost no attempt on 429.
    maxAttempts: 1,
  });

  async function call<T>(operation: string, send: () => Promise<T>): Promise<T | undefined> {
    try {
      return await send();
    } catch (err) {
      if (err instanceof PinpointServiceException && err.name === 'NotFoundException') return undefined;
      throw toVendorError(operation, err, settings.throttleDelayMs);
    }
  }

  return {
    async getUserEndpoints({ appId, userId, signal }) {
      const out = await call('GetUserEndpoints', () => sdk.send(new GetUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }));
      return summarise(out?.EndpointsResponse?.Item);
    },
    async deleteUserEndpoints({ appId, userId, signal }) {
      const out = await call('DeleteUserEndpoints', () => sdk.send(new DeleteUserEndpointsCommand({ ApplicationId: appId, UserId: userId }), { abortSignal: signal }));
      return summarise(out?.EndpointsResponse?.Item);
    },
    close: () => sdk.destroy(),
  };
}

function summarise(items: EndpointResponse[] | undefined): EndpointSummary[] {
  return (items ?? []).map((e) => ({ id: e.Id ?? '', channelType: e.ChannelType }));
}

/** AWS SDK failures → the taxonomy. Pinpoint sends no Retry-After, so throttles wait the configured delay. */
export function toVendorError(operation: string, err: unknown, throttleDelayMs: number): VendorError {
  if (err instanceof PinpointServiceException) {
    return classifyHttpFailure({ vendor: 'pinpoint', operation, status: err.$metadata.httpStatusCode, code: err.name, defaultThrottleDelayMs: throttleDelayMs });
  }
  const name = (err as Error | undefined)?.name ?? 'Error';
  // Network errors, timeouts and aborts: the call may not have reached Pinpoint; try again later.
  return new TransientVendorError({ vendor: 'pinpoint', operation, code: name }, 'did not complete');
}
