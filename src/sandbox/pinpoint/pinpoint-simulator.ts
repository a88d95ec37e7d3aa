import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import { randomUUID } from 'node:crypto';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { OperationLimits } from '../token-bucket.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import type { SandboxObjectStore } from '../object-store.js';
import {
  PinpointFault,
  PinpointStore,
  badRequest,
  notFound,
  type EndpointInput,
  type PinpointApp,
} from './pinpoint-store.js';
import { paginate } from './pinpoint-paging.js';
import { PinpointJobs, type PinpointJobFailureContext } from './pinpoint-jobs.js';
import type { PinpointJobFailure, PinpointJobPhase } from './pinpoint-job.js';
import { addSegmentRoutes } from './pinpoint-segment-routes.js';
import { addJobRoutes } from './pinpoint-job-routes.js';
import type { PinpointRouteKit } from './pinpoint-route-kit.js';

export { paginate };

/** Default per-operation rates, requests per second: the current AWS quota page (vendor-contracts §1.5). */
export const PINPOINT_DEFAULT_RATES: Readonly<Record<string, number>> = Object.freeze({
  DeleteEndpoint: 5,
  GetEndpoint: 10,
  UpdateEndpoint: 10,
  UpdateEndpointsBatch: 2,
});
export const PINPOINT_OTHER_RATE = 300;

export interface PinpointSimulatorOptions {
  store: PinpointStore;
  stats: SandboxStats;
  faults: FaultKnobs;
  /** Per-operation rates (req/s) over the defaults. */
  rates?: Record<string, number>;
  /**
   * What Get/DeleteUserEndpoints answer for a user with no endpoints; unconfirmed at AWS
   * (vendor-contracts §1.4), so both are offered. @defaultValue 'not_found'
   */
  unknownUser?: 'not_found' | 'empty';
  /**
   * Pinpoint past end of support: every call answers this status (ForbiddenException or
   * NotFoundException; which one AWS will send is unconfirmed). Alone it applies at once;
   * with `endOfSupportAt` it applies from that sandbox time on. @defaultValue undefined (in service; 404 once `endOfSupportAt` passes)
   */
  endOfSupportStatus?: 403 | 404;
  /**
   * Sandbox time (ISO date or epoch ms) from which every call fails as past end of support,
   * e.g. `'2026-10-30T00:00:00Z'`, so tests can cross the date with `clock.advance`. @defaultValue undefined (never)
   */
  endOfSupportAt?: string | number;
  /** Sandbox time for the async jobs and end of support. @defaultValue real time */
  clock?: { now(): number };
  /**
   * Where export jobs write their gzip files and import jobs read theirs (the S3 simulator);
   * a function is asked each time a job needs it, so the S3 simulator may start later.
   * @defaultValue undefined: every job fails as if its role could not reach the bucket
   */
  objectStore?: SandboxObjectStore | (() => SandboxObjectStore | undefined);
  /**
   * Sandbox milliseconds each job phase lasts, over `DEFAULT_JOB_PHASE_MS`
   * (CREATED 1 s, PREPARING_FOR_INITIALIZATION 2 s, INITIALIZING 3 s, PROCESSING 20 s,
   * COMPLETING 4 s, FAILING 2 s: 30 s to COMPLETED). @defaultValue DEFAULT_JOB_PHASE_MS
   */
  jobPhaseMs?: Partial<Record<PinpointJobPhase, number>>;
  /** Pieces (and so export files) per job, fewer when there are fewer endpoints. @defaultValue 3 */
  jobPieces?: number;
  /**
   * Called for every new export or import job; the failure it returns happens to that job:
   * `access_denied` (FAILED at PROCESSING, as for a missing bucket) or `pieces_failed` (the last
   * n pieces fail, the job ends FAILED). Read at job creation, so a test can change what it
   * returns between jobs. @defaultValue undefined (no injected failures)
   */
  injectJobFailure?: (job: PinpointJobFailureContext) => PinpointJobFailure | undefined;
  /** Every n-th page of a list is half a page long (0 = never). @defaultValue 3 */
  shortPageEvery?: number;
  /**
   * The access key id the account knows: a SigV4 request signed with another answers 403
   * `UnrecognizedClientException`, as AWS does for a key it does not know. @defaultValue undefined (any key)
   */
  accessKeyId?: string;
}

/** Writes a Pinpoint error the way the REST-JSON protocol does: `x-amzn-ErrorType` plus `{Message, RequestID}`. */
export function sendPinpointError(res: Response, status: number, errorType: string, message: string): void {
  const requestId = randomUUID();
  res
    .status(status)
    .set('x-amzn-ErrorType', `${errorType}:http://internal.amazon.com/coral/com.amazonaws.pinpoint/`)
    .set('x-amzn-RequestId', requestId)
    .json({ Message: message, RequestID: requestId });
}

const answers: VendorAnswers = {
  // Pinpoint sends no Retry-After (vendor-contracts §1.4), so neither do we.
  throttled: (res) => {
    sendPinpointError(res, 429, 'TooManyRequestsException', 'Too many requests');
  },
  serverError: (res) => {
    sendPinpointError(res, 500, 'InternalServerErrorException', 'Internal server error');
  },
  unavailable: (res) => {
    sendPinpointError(res, 503, 'ServiceUnavailableException', 'Service unavailable');
  },
  badRequest: (res) => {
    sendPinpointError(res, 400, 'BadRequestException', 'Bad request');
  },
  unauthorized: (res) => {
    sendPinpointError(
      res,
      403,
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    );
  },
};

/** The Amazon Pinpoint REST-JSON API on the paths the real `@aws-sdk/client-pinpoint` calls. */
export function createPinpointSimulator(options: PinpointSimulatorOptions): express.Express {
  const { store } = options;
  const limits = new OperationLimits({ ...PINPOINT_DEFAULT_RATES, ...(options.rates ?? {}) }, PINPOINT_OTHER_RATE);
  const { record, op } = vendorOperations({
    vendor: 'pinpoint',
    stats: options.stats,
    faults: options.faults,
    answers,
    limits,
  });
  const unknownUser = options.unknownUser ?? 'not_found';
  const clock = options.clock ?? { now: () => Date.now() };
  const shortPageEvery = options.shortPageEvery ?? 3;
  const jobs = new PinpointJobs(store, {
    clock,
    objectStore: options.objectStore,
    phaseMs: options.jobPhaseMs,
    pieces: options.jobPieces,
    injectFailure: options.injectJobFailure,
  });
  const endOfSupportAt = options.endOfSupportAt === undefined ? undefined : new Date(options.endOfSupportAt).getTime();
  if (endOfSupportAt !== undefined && Number.isNaN(endOfSupportAt))
    throw new RangeError('endOfSupportAt must be a date');
  const app = express();
  app.disable('x-powered-by');
  app.use(record);
  app.use((req, res, next) => {
    res.set('x-amzn-RequestId', randomUUID());
    const credential = /Credential=([^/,\s]+)\//.exec(req.get('authorization') ?? '')?.[1];
    if (options.accessKeyId !== undefined && credential !== options.accessKeyId) {
      sendPinpointError(
        res,
        403,
        'UnrecognizedClientException',
        'The security token included in the request is invalid.',
      );
      return;
    }
    const ended =
      endOfSupportAt === undefined ? options.endOfSupportStatus !== undefined : clock.now() >= endOfSupportAt;
    if (ended) {
      const status = options.endOfSupportStatus ?? 404;
      const type = status === 403 ? 'ForbiddenException' : 'NotFoundException';
      sendPinpointError(res, status, type, 'Amazon Pinpoint has reached end of support');
      return;
    }
    next();
  });
  app.use(express.json({ limit: '7mb', type: () => true }));
  // Jobs advance only when someone looks: bring the app's jobs up to the sandbox clock before any request on it.
  app.use('/v1/apps/:appId', async (req: Request, _res: Response, next: NextFunction) => {
    const target = store.apps.get(String(req.params.appId).toLowerCase());
    if (target) await jobs.settle(target);
    next();
  });

  const handle =
    (fn: (req: Request, res: Response) => unknown) => (req: Request, res: Response, next: NextFunction) => {
      try {
        fn(req, res);
      } catch (err) {
        next(err);
      }
    };
  const param = (req: Request, name: string): string => String(req.params[name]);

  app.get(
    '/v1/apps',
    op('GetApps'),
    handle((req, res) => {
      const apps = [...store.apps.values()];
      res.status(200).json(paginate(apps.map(appResponse), req, shortPageEvery));
    }),
  );
  app.post(
    '/v1/apps',
    op('CreateApp'),
    handle((req, res) => {
      const body = req.body as { Name?: unknown; tags?: Record<string, string> };
      if (typeof body?.Name !== 'string' || !body.Name) throw badRequest('Name is required');
      res.status(201).json(appResponse(store.createApp(body.Name, body.tags ?? {})));
    }),
  );
  app.get(
    '/v1/apps/:appId',
    op('GetApp'),
    handle((req, res) => {
      res.status(200).json(appResponse(store.app(param(req, 'appId'))));
    }),
  );
  app.delete(
    '/v1/apps/:appId',
    op('DeleteApp'),
    handle((req, res) => {
      // Segments and jobs hang off the app, so they go with it; running jobs let go of their input.
      const deleted = store.deleteApp(param(req, 'appId'));
      jobs.release(deleted);
      res.status(200).json(appResponse(deleted));
    }),
  );

  app.get(
    '/v1/apps/:appId/endpoints/:endpointId',
    op('GetEndpoint'),
    handle((req, res) => {
      res.status(200).json(store.getEndpoint(param(req, 'appId'), param(req, 'endpointId')));
    }),
  );
  app.put(
    '/v1/apps/:appId/endpoints/:endpointId',
    op('UpdateEndpoint'),
    handle((req, res) => {
      store.upsertEndpoint(param(req, 'appId'), param(req, 'endpointId'), (req.body ?? {}) as EndpointInput);
      res.status(202).json({ Message: 'Accepted', RequestID: res.get('x-amzn-RequestId') });
    }),
  );
  app.put(
    '/v1/apps/:appId/endpoints',
    op('UpdateEndpointsBatch'),
    handle((req, res) => {
      const items = (req.body as { Item?: unknown })?.Item;
      if (!Array.isArray(items)) throw badRequest('Item is required');
      if (items.length > 100) throw badRequest('Batch size exceeds 100 items');
      const appId = param(req, 'appId');
      store.app(appId);
      for (const item of items as Array<EndpointInput & { Id?: string }>) {
        if (!item.Id) throw badRequest('Endpoint Id is required in a batch item');
        store.upsertEndpoint(appId, item.Id, item);
      }
      res.status(202).json({ Message: 'Accepted', RequestID: res.get('x-amzn-RequestId') });
    }),
  );
  app.delete(
    '/v1/apps/:appId/endpoints/:endpointId',
    op('DeleteEndpoint'),
    handle((req, res) => {
      res.status(202).json(store.deleteEndpoint(param(req, 'appId'), param(req, 'endpointId')));
    }),
  );

  app.get(
    '/v1/apps/:appId/users/:userId',
    op('GetUserEndpoints'),
    handle((req, res) => {
      const items = store.userEndpoints(param(req, 'appId'), param(req, 'userId'));
      if (items.length === 0 && unknownUser === 'not_found') throw notFound();
      res.status(200).json({ Item: items });
    }),
  );
  app.delete(
    '/v1/apps/:appId/users/:userId',
    op('DeleteUserEndpoints'),
    handle((req, res) => {
      const items = store.deleteUserEndpoints(param(req, 'appId'), param(req, 'userId'));
      if (items.length === 0 && unknownUser === 'not_found') throw notFound();
      res.status(202).json({ Item: items });
    }),
  );

  const kit: PinpointRouteKit = { store, jobs, clock, op, handle, param, shortPageEvery };
  addSegmentRoutes(app, kit);
  addJobRoutes(app, kit);

  app.use((_req: Request, res: Response) => {
    sendPinpointError(res, 404, 'NotFoundException', 'Resource not found');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof PinpointFault) {
      sendPinpointError(res, err.status, err.errorType, err.message);
      return;
    }
    const status = (err as { status?: number; type?: string }).status;
    if (status === 413) {
      sendPinpointError(res, 413, 'PayloadTooLargeException', 'Request payload exceeds 7 MB');
      return;
    }
    if (status === 400) {
      sendPinpointError(res, 400, 'BadRequestException', 'Malformed JSON body');
      return;
    }
    sendPinpointError(res, 500, 'InternalServerErrorException', 'Internal server error');
  });
  return app;
}

function appResponse(app: PinpointApp) {
  return { Id: app.Id, Arn: app.Arn, Name: app.Name, tags: app.tags, CreationDate: app.CreationDate };
}
