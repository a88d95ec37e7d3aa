import type { Request, Response, RequestHandler } from 'express';
import type { PinpointStore } from './pinpoint-store.js';
import type { PinpointJobs } from './pinpoint-jobs.js';

/** What the simulator hands its route groups: state, sandbox time and the shared route helpers. */
export interface PinpointRouteKit {
  store: PinpointStore;
  jobs: PinpointJobs;
  clock: { now(): number };
  /** Names the operation and applies fault knobs and rate limits (vendor-http `op`). */
  op: (operation: string) => RequestHandler;
  /** Wraps a handler so a thrown PinpointFault becomes the wire error. */
  handle: (fn: (req: Request, res: Response) => unknown) => RequestHandler;
  param: (req: Request, name: string) => string;
  /** Every n-th page of a list is half a page long (0 = never). */
  shortPageEvery: number;
}
