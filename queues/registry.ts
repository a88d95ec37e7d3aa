import type { Config } from '../src/config/config-schema.js';
import { resolveQueue, type QueueDefinition, type ResolvedQueue } from './queue-definition.js';
import { requestsQueue } from './requests-queue.js';
import { pinpointQueue } from './pinpoint-queue.js';

/** Every queue the service runs. A new vendor adds its module here. */
export const QUEUE_DEFINITIONS: readonly QueueDefinition[] = [requestsQueue, pinpointQueue];

export function resolveQueues(config: Config): ResolvedQueue[] {
  return QUEUE_DEFINITIONS.map((definition) => resolveQueue(definition, config));
}

export function queueDefinition(name: string): QueueDefinition | undefined {
  return QUEUE_DEFINITIONS.find((q) => q.name === name);
}
