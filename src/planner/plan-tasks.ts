import { createHash } from 'node:crypto';
import type { Config } from '../config/config-schema.js';
import type { TaskSpec } from '../ledger/ledger-types.js';
import type { Subject } from '../privacy/subject.js';
import type { VendorName } from '../vendors/vendor-name.js';
import { pinpointQueue } from '../../queues/pinpoint-queue.js';

/** Vendors a request may name: those configured (or simulated) that have an erasure path. */
export function availableVendors(config: Config): VendorName[] {
  const vendors: VendorName[] = [];
  if (config.vendors.pinpoint) vendors.push('pinpoint');
  return vendors;
}

/** A vendor the request named that cannot erase this person with the identifiers given. */
export class UnplannableVendorError extends Error {
  constructor(
    readonly vendor: VendorName,
    reason: string,
  ) {
    super(`${vendor}: ${reason}`);
    this.name = 'UnplannableVendorError';
  }
}

/** Deterministic, opaque, BullMQ-safe task id (no `:`, never numeric, no identifiers). */
export function taskId(requestId: string, vendor: VendorName, action: string, resource: string): string {
  const resourceKey = createHash('sha256').update(resource).digest('hex').slice(0, 12);
  return `${requestId}__${vendor}__${action}__${resourceKey}`;
}

export interface PlanInput {
  requestId: string;
  subject: Subject;
  vendors: VendorName[];
  /** True when the client named the vendors: then one we cannot serve is an error, not a skip. */
  vendorsExplicit: boolean;
}

/**
 * Decides the tasks (vendor × resource × action) for a request. Pure: same input, same tasks.
 * Throws UnplannableVendorError when the client explicitly asked for a vendor that cannot act
 * on the identifiers given; a vendor included by default is recorded as skipped instead.
 */
export function planTasks(input: PlanInput, config: Config): TaskSpec[] {
  const tasks: TaskSpec[] = [];
  for (const vendor of input.vendors) {
    if (vendor === 'pinpoint') tasks.push(...planPinpoint(input, config));
  }
  return tasks;
}

function planPinpoint(input: PlanInput, config: Config): TaskSpec[] {
  const settings = config.vendors.pinpoint;
  if (!settings) throw new UnplannableVendorError('pinpoint', 'is not configured');
  const action = 'delete-user-endpoints';
  if (!input.subject.userId) {
    const reason = 'needs a userId: finding endpoints by e-mail or phone (export scan) is not available yet';
    if (input.vendorsExplicit) throw new UnplannableVendorError('pinpoint', reason);
    return settings.appIds.map((appId) => ({
      ...pinpointTask(input.requestId, appId, action),
      initialState: 'skipped' as const,
      waitingReason: reason,
    }));
  }
  return settings.appIds.map((appId) => pinpointTask(input.requestId, appId, action));
}

function pinpointTask(requestId: string, appId: string, action: string): TaskSpec {
  const resource = `app/${appId}`;
  return { id: taskId(requestId, 'pinpoint', action, resource), vendor: 'pinpoint', resource, action, queue: pinpointQueue.name, jobName: action };
}
