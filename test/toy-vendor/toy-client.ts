import { PermanentVendorError, TransientVendorError } from '../../src/vendors/vendor-errors.js';
import type { VendorQueueSettings } from '../../src/vendors/vendor-settings.js';

/** `vendors.toy` of the config file. */
export interface ToySettings extends VendorQueueSettings {
  baseUrl: string;
  apiKey: string;
  /** The space people are erased from. */
  space: string;
}

export interface ToyClient {
  /** Whether the space exists (a 404 says it does not). */
  spaceExists(space: string): Promise<boolean>;
  /** Whether the person is in the space. */
  holds(space: string, userId: string): Promise<boolean>;
  /** Deletes the person: true when they were there, false when they were not. */
  forget(space: string, userId: string): Promise<boolean>;
  close(): void;
}

/** The toy vendor's client: its answers go through the service's one error taxonomy (src/vendors/vendor-errors.ts). */
export function createToyClient(settings: ToySettings): ToyClient {
  async function call(method: 'GET' | 'DELETE', path: string, operation: string): Promise<boolean> {
    let res: Response;
    try {
      res = await fetch(`${settings.baseUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${settings.apiKey}` },
      });
    } catch {
      throw new TransientVendorError(
        { vendor: 'toy', operation, code: 'Unreachable' },
        'could not reach the toy vendor',
      );
    }
    await res.arrayBuffer();
    if (res.ok) return true;
    if (res.status === 404) return false;
    if (res.status >= 500) throw new TransientVendorError({ vendor: 'toy', operation, status: res.status });
    throw new PermanentVendorError({ vendor: 'toy', operation, status: res.status });
  }
  const person = (space: string, userId: string) =>
    `/v1/spaces/${encodeURIComponent(space)}/people/${encodeURIComponent(userId)}`;
  return {
    spaceExists: (space) => call('GET', `/v1/spaces/${encodeURIComponent(space)}`, 'GetSpace'),
    holds: (space, userId) => call('GET', person(space, userId), 'GetPerson'),
    forget: (space, userId) => call('DELETE', person(space, userId), 'DeletePerson'),
    close: () => undefined,
  };
}
