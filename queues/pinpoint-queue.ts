import type { QueueDefinition } from './queue-definition.js';

export const pinpointQueue = {
  name: 'pinpoint',
  description:
    'Amazon Pinpoint: delete a person’s endpoints by user id; by e-mail or phone, a shared export of the app scanned once for every request in the window, then DeleteEndpoint per endpoint at the Pinpoint quota.',
  vendor: 'pinpoint',
  jobNames: ['delete-user-endpoints', 'find-endpoint', 'export-segment'],
} as const satisfies QueueDefinition;
