import type { Subject } from '../src/privacy/subject.js';
import type { PinpointClient } from '../src/vendors/pinpoint-client.js';

/** What a processor gets for one run of one task. Plain data plus two callbacks. */
export interface TaskInput {
  requestId: string;
  taskId: string;
  /** The vendor resource the task is about, e.g. `app/<pinpoint app id>`. */
  resource: string;
  /** The person's identifiers, opened from the vault for this run only. Never log or return them. */
  subject: Subject;
  /** 1 for the first run. */
  attempt: number;
  /** Evidence saved by earlier runs of this task (after a crash or retry). */
  previous: Record<string, unknown>;
  /** Saves evidence now, before a destructive call, so a re-run knows what happened. */
  checkpoint(evidence: Record<string, unknown>): Promise<void>;
  signal?: AbortSignal;
}

/** Evidence is what a receipt shows: counts, vendor ids, verification. Never an identifier of a person. */
export type Evidence = Record<string, unknown>;

export type TaskResult =
  | { outcome: 'succeeded' | 'not_found' | 'skipped'; evidence: Evidence }
  /** The vendor is still working (an async job): run again after `pollAfterMs`. */
  | { outcome: 'waiting_vendor'; evidence: Evidence; pollAfterMs: number; reason: string };

/** Vendor clients, injected so tests can pass the sandbox-backed real clients or fakes. */
export interface VendorClients {
  pinpoint?: PinpointClient;
}

/** A job processor: a function of the task and its dependencies, with no wiring of its own. */
export type TaskProcessor = (input: TaskInput, deps: VendorClients) => Promise<TaskResult>;

/** Parses `kind/value` resource strings, e.g. `app/123`. */
export function resourceValue(resource: string, kind: string): string {
  const prefix = `${kind}/`;
  if (!resource.startsWith(prefix)) throw new Error(`resource ${resource} is not a ${kind}`);
  return resource.slice(prefix.length);
}

export function requireClient<K extends keyof VendorClients>(deps: VendorClients, name: K): NonNullable<VendorClients[K]> {
  const client = deps[name];
  if (!client) throw new Error(`no ${name} client is configured in this worker`);
  return client as NonNullable<VendorClients[K]>;
}
