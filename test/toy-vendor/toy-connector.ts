import Joi from 'joi';
import {
  connectorQueue,
  UnplannableVendorError,
  type ConnectorJobs,
  type VendorConnector,
} from '../../src/connectors/connector.js';
import { taskId } from '../../src/connectors/task-id.js';
import { requireClient, type TaskProcessor } from '../../src/connectors/processor-contract.js';
import { verifiedAbsent } from '../../src/receipts/verification.js';
import { scopeMissing } from '../../src/vendors/vendor-errors.js';
import type { VendorSandboxPlugin } from '../../src/sandbox/sandbox-plugins.js';
import { createToyClient, type ToyClient, type ToySettings } from './toy-client.js';

// The toy vendor's name and settings join VendorName and Config['vendors'] (src/connectors/registry.ts).
declare module '../../src/connectors/registry.js' {
  interface RegisteredVendors {
    toy: ToySettings;
  }
}

const FORGET_PERSON = 'toy-forget-person';

/**
 * Deletes one person from the configured space, and reads them back gone. The space is read first:
 * a person is only `verified_absent` in a space confirmed to exist (Invariant 8).
 */
export const forgetPerson: TaskProcessor<ToyClient> = async (input, deps) => {
  const toy = requireClient(deps, 'toy');
  const space = input.resource.slice('space/'.length);
  const userId = input.subject.userId;
  if (!userId) return { outcome: 'skipped', evidence: { reason: 'no user id' } };
  if (!(await toy.spaceExists(space)))
    throw scopeMissing({ vendor: 'toy', operation: 'GetSpace', status: 404 }, 'vendors.toy.space', `space ${space}`);
  const removed = await toy.forget(space, userId);
  if (await toy.holds(space, userId)) throw new Error('the person is still there after the delete');
  return { outcome: removed ? 'succeeded' : 'not_found', evidence: { space, removed, ...verifiedAbsent() } };
};

const TOY_JOBS: ConnectorJobs<ToyClient> = {
  [FORGET_PERSON]: { kind: 'task', processor: forgetPerson },
};

/** The toy vendor: one task per request that has a user id, in the configured space. */
export const toyConnector: VendorConnector<ToySettings, ToyClient> = {
  vendor: 'toy',
  queue: connectorQueue(
    { name: 'toy', description: 'The toy vendor of test/toy-vendor: deletes a person from one space.', vendor: 'toy' },
    TOY_JOBS,
  ),
  jobs: TOY_JOBS,
  settingsKeys: {
    baseUrl: Joi.string()
      .uri({ scheme: ['http', 'https'] })
      .required(),
    apiKey: Joi.string().min(1).required(),
    space: Joi.string()
      .pattern(/^[a-z0-9-]+$/)
      .required(),
  },
  queueDefaults: { rateLimit: { max: 50, durationMs: 1000 }, concurrency: 4, throttleDelayMs: 1000 },
  createClient: (settings) => createToyClient(settings),
  plan(input, settings) {
    const resource = `space/${settings.space}`;
    const task = {
      id: taskId(input.requestId, 'toy', FORGET_PERSON, resource),
      vendor: 'toy' as const,
      resource,
      action: FORGET_PERSON,
      queue: 'toy',
      jobName: FORGET_PERSON,
    };
    if (input.subject.userId) return [task];
    const reason = 'needs a userId';
    if (input.vendorsExplicit) throw new UnplannableVendorError('toy', reason);
    return [{ ...task, initialState: 'skipped', waitingReason: reason }];
  },
};

/** Sandbox mode: the toy vendor's settings point at a simulator the test started. */
export function toySandboxPlugin(simulator: { baseUrl: string; apiKey: string }): VendorSandboxPlugin<ToySettings> {
  return {
    vendor: 'toy',
    sandboxSettings: (_sandbox, queueDefaults) => ({
      ...queueDefaults,
      baseUrl: simulator.baseUrl,
      apiKey: simulator.apiKey,
      space: 'sandbox',
    }),
  };
}
