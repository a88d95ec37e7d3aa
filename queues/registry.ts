import type { Config } from '../src/config/config-schema.js';
import { CONNECTORS } from '../src/connectors/registry.js';
import { resolveQueue, type QueueDefinition, type ResolvedQueue } from './queue-definition.js';
import { requestsQueue } from './requests-queue.js';
import { callbacksQueue } from './callbacks-queue.js';

/** Every queue the service runs: the requests and callbacks queues, and one per registered vendor connector. */
export function queueDefinitions(): QueueDefinition[] {
  return [requestsQueue, callbacksQueue, ...CONNECTORS.map((c) => c.queue)];
}

/** The queues of the built-in vendors, as registered at import. */
export const QUEUE_DEFINITIONS: readonly QueueDefinition[] = queueDefinitions();

export function resolveQueues(config: Config): ResolvedQueue[] {
  return queueDefinitions().map((definition) => resolveQueue(definition, config));
}
