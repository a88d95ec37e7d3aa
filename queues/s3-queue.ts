import type { VendorQueueDefinition } from './queue-definition.js';

export const s3Queue = {
  name: 's3',
  description:
    'Amazon S3: remove a person’s rows from the configured import and export prefixes (rewrite each object without them, delete every older version still holding them), one shared scan per prefix for every request in the window.',
  vendor: 's3',
} as const satisfies VendorQueueDefinition;
