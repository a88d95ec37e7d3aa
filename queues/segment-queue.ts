import type { VendorQueueDefinition } from './queue-definition.js';

export const segmentQueue = {
  name: 'segment',
  description:
    'Segment: each request’s regulate-user task joins a shared regulation batch; poll-regulation creates one regulation for up to 5,000 user ids, then polls it until Segment reports a final status.',
  vendor: 'segment',
} as const satisfies VendorQueueDefinition;
