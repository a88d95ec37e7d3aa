import type { Config } from '../src/config/config-schema.js';
import { CONNECTORS } from '../src/connectors/registry.js';
import { resolveQueue, type QueueDefinition, type ResolvedQueue } from './queue-definition.js';
import { requestsQueue } from './requests-queue.js';
import { callbacksQueue } from './callbacks-queue.js';

/** Every queue the service runs: the requests queue and one per vendor connector. */
export const QUEUE_DEFINITIONS: readonly QueueDefinition[] = [requestsQueue, callbacksQueue, ...CONNECTORS.map((c) => c.queue)];

export function resolveQueues(config: Config): ResolvedQueue[] {
  return QUEUE_DEFINITIONS.map((definition) => resolveQueue(definition, config));
}
