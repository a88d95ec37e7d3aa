import type { QueueDefinition } from './queue-definition.js';

export const pinpointQueue = {
  name: 'pinpoint',
  description: 'Amazon Pinpoint: find and delete a person’s endpoints, limited to the account’s Pinpoint quota.',
  vendor: 'pinpoint',
  jobNames: ['delete-user-endpoints'],
} as const satisfies QueueDefinition;
