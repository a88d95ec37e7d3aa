import type { QueueDefinition } from './queue-definition.js';

/**
 * Signed status callbacks: one `deliver-callback` job per status change and callback URL, retried
 * with exponential backoff (config `callbacks.attempts`, `callbacks.backoffMs`). Jobs carry the
 * request id, the status and the URL's position only; the URL is read from the ledger.
 */
export const callbacksQueue = {
  name: 'callbacks',
  description:
    'Signed status callbacks to the requester (native callbackUrl, OpenDSR status_callback_urls), retried with backoff; never to private addresses.',
  jobNames: ['deliver-callback'],
} as const satisfies QueueDefinition;
