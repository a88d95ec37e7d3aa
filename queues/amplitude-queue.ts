import type { VendorQueueDefinition } from './queue-definition.js';

export const amplitudeQueue = {
  name: 'amplitude',
  description:
    'Amplitude: each request’s amplitude-delete-user task joins a shared batch; amplitude-submit-deletions sends up to 100 ids in one User Privacy API call, amplitude-poll-deletions polls each deletion job by day until Amplitude reports it done.',
  vendor: 'amplitude',
} as const satisfies VendorQueueDefinition;
