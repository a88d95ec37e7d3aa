import type { VendorQueueDefinition } from './queue-definition.js';

export const pinpointQueue = {
  name: 'pinpoint',
  description:
    'Amazon Pinpoint: delete a person’s endpoints by user id; by e-mail or phone, a shared export of the app scanned once for every request in the window, then DeleteEndpoint per endpoint at the Pinpoint quota. Also whole-project deletion (DeleteApp and the project’s S3 prefixes) once its grace period ends.',
  vendor: 'pinpoint',
} as const satisfies VendorQueueDefinition;
