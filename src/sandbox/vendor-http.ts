import express from 'express';
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { VendorName } from '../vendors/vendor-name.js';
import type { SandboxStats } from './sandbox-stats.js';
import type { FaultKnobs } from './fault-knobs.js';
import type { OperationLimits } from './token-bucket.js';

/** How one vendor says "slow down", "something broke" and "I am down", in its own wire format. */
export interface VendorAnswers {
  throttled(res: Response, retryAfterMs: number): void;
  serverError(res: Response): void;
  unavailable(res: Response): void;
  /** The vendor's refusal of a malformed request (4xx), for the `badRequestRate` knob. */
  badRequest?(res: Response): void;
  /** The vendor's answer to credentials it no longer accepts (401/403), for the `credentialsRevoked` knob. */
  unauthorized(res: Response): void;
}

export interface VendorOperationsOptions {
  vendor: VendorName;
  stats: SandboxStats;
  faults: FaultKnobs;
  answers: VendorAnswers;
  /** Per-operation token buckets; omitted = never throttled except by a storm. */
  limits?: OperationLimits;
}

/**
 * Makes `op('DeleteEndpoint')` middleware for a simulator's routes: it names the operation for
 * the stats, then applies the fault knobs and the operation's rate limit before the handler runs.
 * Also returns the app-level middleware that records every answer once it is sent.
 */
export function vendorOperations(options: VendorOperationsOptions): {
  record: RequestHandler;
  op: (operation: string) => RequestHandler;
} {
  const { vendor, stats, faults, answers, limits } = options;
  const record: RequestHandler = (_req, res, next) => {
    res.on('finish', () => {
      stats.record(
        vendor,
        (res.locals.operation as string | undefined) ?? 'unknown',
        res.statusCode,
        res.locals.throttled === true,
      );
    });
    next();
  };
  const op =
    (operation: string): RequestHandler =>
    async (_req: Request, res: Response, next: NextFunction) => {
      res.locals.operation = operation;
      const knobs = faults.get(vendor);
      if (knobs.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, knobs.latencyMs));
      if (knobs.outage) {
        answers.unavailable(res);
        return;
      }
      if (knobs.credentialsRevoked) {
        answers.unauthorized(res);
        return;
      }
      if (knobs.throttleUntil > Date.now()) {
        res.locals.throttled = true;
        answers.throttled(res, knobs.throttleUntil - Date.now());
        return;
      }
      const waitMs = limits?.take(operation) ?? 0;
      if (waitMs > 0) {
        res.locals.throttled = true;
        answers.throttled(res, waitMs);
        return;
      }
      if (knobs.errorRate > 0 && Math.random() < knobs.errorRate) {
        answers.serverError(res);
        return;
      }
      if (knobs.badRequestRate > 0 && answers.badRequest && Math.random() < knobs.badRequestRate) {
        answers.badRequest(res);
        return;
      }
      next();
    };
  return { record, op };
}

/** A running simulator: where to reach it and how to stop it. */
export interface ListeningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1 (port 0 = any free port). */
export async function listen(
  app: express.Express | http.RequestListener,
  port = 0,
  host = '127.0.0.1',
): Promise<ListeningServer> {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}
