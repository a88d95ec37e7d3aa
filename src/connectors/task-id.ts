import { createHash } from 'node:crypto';
import type { VendorName } from '../vendors/vendor-name.js';

/** Deterministic, opaque, BullMQ-safe task id (no `:`, never numeric, no identifiers): every connector's `plan` names its tasks with it. */
export function taskId(requestId: string, vendor: VendorName, action: string, resource: string): string {
  const resourceKey = createHash('sha256').update(resource).digest('hex').slice(0, 12);
  return `${requestId}__${vendor}__${action}__${resourceKey}`;
}
