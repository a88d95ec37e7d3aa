import express from 'express';
import type { RequestHandler } from 'express';
import { createHash, timingSafeEqual } from 'node:crypto';
import { listen, type ListeningServer } from './vendor-http.js';
import type { Sandbox } from './sandbox.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest();

/**
 * `erasure sandbox`: the simulators' control routes (`/sandbox`, its stats, faults and clock) on
 * one port, for api, worker and start processes given ERASURE_SANDBOX_URL
 * (src/sandbox/shared-sandbox.ts). They describe every vendor's credentials, so each needs the
 * admin token as a Bearer header. `/healthz` is open, for container healthchecks.
 */
export async function serveSandbox(
  sandbox: Sandbox,
  options: { port: number; host: string; adminToken: string },
): Promise<ListeningServer> {
  const expected = sha256(options.adminToken);
  const requireAdmin: RequestHandler = (req, res, next) => {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    if (match && timingSafeEqual(sha256(match[1]), expected)) {
      next();
      return;
    }
    res
      .status(401)
      .set('WWW-Authenticate', 'Bearer')
      .json({ error: 'the sandbox needs the admin token as a Bearer header' });
  };
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', (_req, res) => res.json({ ok: true }));
  app.use('/sandbox', requireAdmin);
  app.use(sandbox.controlRouter());
  return listen(app, options.port, options.host);
}
