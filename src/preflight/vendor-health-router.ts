import express, { type Router } from 'express';
import { requireRole } from '../api/auth.js';
import type { VendorHealthMonitor } from './vendor-health-monitor.js';

/**
 * `GET /v1/vendors/health` (operator): the preflight and canary checks per vendor, `healthy` false
 * when any failed. `?fresh=1` runs the preflight (and with `canaries=1` the canaries) now rather than
 * answering the latest results; without a finished run it always runs one. `erasure doctor` reads it.
 */
export function createVendorHealthRouter(monitor: VendorHealthMonitor): Router {
  const router = express.Router();
  router.get('/v1/vendors/health', requireRole('operator'), async (req, res, next) => {
    try {
      const fresh = req.query.fresh === '1' || req.query.fresh === 'true';
      if (req.query.canaries === '1' || req.query.canaries === 'true') await monitor.runCanaries();
      const known = monitor.current();
      const report = fresh || !known ? await monitor.check() : known;
      res.json(report);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
