import express from 'express';
import type { Request, Response, NextFunction } from 'express';
import { randomUUID } from 'node:crypto';
import type { SandboxStats } from '../sandbox-stats.js';
import type { FaultKnobs } from '../fault-knobs.js';
import { OperationLimits } from '../token-bucket.js';
import { vendorOperations, type VendorAnswers } from '../vendor-http.js';
import { PinpointFault, PinpointStore, badRequest, notFound, type EndpointInput, type PinpointApp } from './pinpoint-store.js';

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
  /** Pinpoint past end of support: every call answers this status. @defaultValue undefined (in service) */
  endOfSupportStatus?: 403 | 404;
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
  throttled: (res) => sendPinpointError(res, 429, 'TooManyRequestsException', 'Too many requests'),
  serverError: (res) => sendPinpointError(res, 500, 'InternalServerErrorException', 'Internal server error'),
  unavailable: (res) => sendPinpointError(res, 503, 'ServiceUnavailableException', 'Service unavailable'),
};

/** The Amazon Pinpoint REST-JSON API on the paths the real `@aws-sdk/client-pinpoint` calls. */
export function createPinpointSimulator(options: PinpointSimulatorOptions): express.Express {
  const { store } = options;
  const limits = new OperationLimits({ ...PINPOINT_DEFAULT_RATES, ...(options.rates ?? {}) }, PINPOINT_OTHER_RATE);
  const { record, op } = vendorOperations({ vendor: 'pinpoint', stats: options.stats, faults: options.faults, answers, limits });
  const unknownUser = options.unknownUser ?? 'not_found';
  const app = express();
  app.disable('x-powered-by');
  app.use(record);
  app.use((_req, res, next) => {
    res.set('x-amzn-RequestId', randomUUID());
    if (options.endOfSupportStatus) {
      const type = options.endOfSupportStatus === 403 ? 'ForbiddenException' : 'NotFoundException';
      return sendPinpointError(res, options.endOfSupportStatus, type, 'Amazon Pinpoint has reached end of support');
    }
    next();
  });
  app.use(express.json({ limit: '7mb', type: () => true }));

  const handle =
    (fn: (req: Request, res: Response) => unknown) =>
    (req: Request, res: Response, next: NextFunction) => {
      try {
        fn(req, res);
      } catch (err) {
        next(err);
      }
    };
  const param = (req: Request, name: string): string => String(req.params[name]);

  app.get('/v1/apps', op('GetApps'), handle((req, res) => {
    const apps = [...store.apps.values()];
    res.status(200).json(paginate(apps.map(appResponse), req));
  }));
  app.post('/v1/apps', op('CreateApp'), handle((req, res) => {
    const body = req.body as { Name?: unknown; tags?: Record<string, string> };
    if (typeof body?.Name !== 'string' || !body.Name) throw badRequest('Name is required');
    res.status(201).json(appResponse(store.createApp(body.Name, body.tags ?? {})));
  }));
  app.get('/v1/apps/:appId', op('GetApp'), handle((req, res) => {
    res.status(200).json(appResponse(store.app(param(req, 'appId'))));
  }));
  app.delete('/v1/apps/:appId', op('DeleteApp'), handle((req, res) => {
    res.status(200).json(appResponse(store.deleteApp(param(req, 'appId'))));
  }));

  app.get('/v1/apps/:appId/endpoints/:endpointId', op('GetEndpoint'), handle((req, res) => {
    res.status(200).json(store.getEndpoint(param(req, 'appId'), param(req, 'endpointId')));
  }));
  app.put('/v1/apps/:appId/endpoints/:endpointId', op('UpdateEndpoint'), handle((req, res) => {
    store.upsertEndpoint(param(req, 'appId'), param(req, 'endpointId'), (req.body ?? {}) as EndpointInput);
    res.status(202).json({ Message: 'Accepted', RequestID: res.get('x-amzn-RequestId') });
  }));
  app.put('/v1/apps/:appId/endpoints', op('UpdateEndpointsBatch'), handle((req, res) => {
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
  }));
  app.delete('/v1/apps/:appId/endpoints/:endpointId', op('DeleteEndpoint'), handle((req, res) => {
    res.status(202).json(store.deleteEndpoint(param(req, 'appId'), param(req, 'endpointId')));
  }));

  app.get('/v1/apps/:appId/users/:userId', op('GetUserEndpoints'), handle((req, res) => {
    const items = store.userEndpoints(param(req, 'appId'), param(req, 'userId'));
    if (items.length === 0 && unknownUser === 'not_found') throw notFound();
    res.status(200).json({ Item: items });
  }));
  app.delete('/v1/apps/:appId/users/:userId', op('DeleteUserEndpoints'), handle((req, res) => {
    const items = store.deleteUserEndpoints(param(req, 'appId'), param(req, 'userId'));
    if (items.length === 0 && unknownUser === 'not_found') throw notFound();
    res.status(202).json({ Item: items });
  }));

  app.use((_req: Request, res: Response) => sendPinpointError(res, 404, 'NotFoundException', 'Resource not found'));
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof PinpointFault) return sendPinpointError(res, err.status, err.errorType, err.message);
    const status = (err as { status?: number; type?: string }).status;
    if (status === 413) return sendPinpointError(res, 413, 'PayloadTooLargeException', 'Request payload exceeds 7 MB');
    if (status === 400) return sendPinpointError(res, 400, 'BadRequestException', 'Malformed JSON body');
    sendPinpointError(res, 500, 'InternalServerErrorException', 'Internal server error');
  });
  return app;
}

function appResponse(app: PinpointApp) {
  return { Id: app.Id, Arn: app.Arn, Name: app.Name, tags: app.tags, CreationDate: app.CreationDate };
}

/** `page-size` / `token` paging with an opaque token and `NextToken` absent on the last page. */
export function paginate<T>(items: T[], req: Request): { Item: T[]; NextToken?: string } {
  const size = Math.max(1, Math.min(Number(req.query['page-size'] ?? 100) || 100, 1000));
  const token = typeof req.query.token === 'string' ? req.query.token : undefined;
  let start = 0;
  if (token) {
    const decoded = Number(Buffer.from(token, 'base64url').toString('utf8').replace(/^p/, ''));
    if (!Number.isInteger(decoded) || decoded < 0) throw badRequest('Invalid token');
    start = decoded;
  }
  const page = items.slice(start, start + size);
  const next = start + size < items.length ? Buffer.from(`p${start + size}`).toString('base64url') : undefined;
  return next ? { Item: page, NextToken: next } : { Item: page };
}
