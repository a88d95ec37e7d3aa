import type { QueueDefinition } from './queue-definition.js';

/** Flow parents, one per request, and the reconciler's scheduled sweep. */
export const requestsQueue = {
  name: 'requests',
  description:
    'One parent job per erasure request: settles the outcome when every vendor task has ended; also the reconciler sweep.',
  jobNames: ['finalize-request', 'reconcile'],
} as const satisfies QueueDefinition;
