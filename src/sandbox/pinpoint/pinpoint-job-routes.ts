import type express from 'express';
import { paginate } from './pinpoint-paging.js';
import { jobResponse, type ExportJobDefinition, type ImportJobDefinition, type PinpointJob } from './pinpoint-job.js';
import type { PinpointRouteKit } from './pinpoint-route-kit.js';

/**
 * Export jobs (CreateExportJob 202) and import jobs (CreateImportJob 201), one by one, per app
 * and per segment. Jobs are listed oldest first; their status is read off the sandbox clock.
 */
export function addJobRoutes(app: express.Express, kit: PinpointRouteKit): void {
  const { store, jobs, clock, op, handle, param, shortPageEvery } = kit;
  const list = (items: PinpointJob[]) => items.map((job) => jobResponse(job, clock.now()));

  app.post(
    '/v1/apps/:appId/jobs/export',
    op('CreateExportJob'),
    handle((req, res) => {
      res
        .status(202)
        .json(
          jobResponse(
            jobs.createExportJob(param(req, 'appId'), req.body as Partial<ExportJobDefinition> | undefined),
            clock.now(),
          ),
        );
    }),
  );
  app.get(
    '/v1/apps/:appId/jobs/export',
    op('GetExportJobs'),
    handle((req, res) => {
      res
        .status(200)
        .json(paginate(list([...store.app(param(req, 'appId')).exportJobs.values()]), req, shortPageEvery));
    }),
  );
  app.get(
    '/v1/apps/:appId/jobs/export/:jobId',
    op('GetExportJob'),
    handle((req, res) => {
      res.status(200).json(jobResponse(jobs.exportJob(param(req, 'appId'), param(req, 'jobId')), clock.now()));
    }),
  );
  app.get(
    '/v1/apps/:appId/segments/:segmentId/jobs/export',
    op('GetSegmentExportJobs'),
    handle((req, res) => {
      const segment = store.segment(param(req, 'appId'), param(req, 'segmentId'));
      const owned = [...store.app(param(req, 'appId')).exportJobs.values()].filter(
        (j) => j.Definition.SegmentId?.toLowerCase() === segment.Id.toLowerCase(),
      );
      res.status(200).json(paginate(list(owned), req, shortPageEvery));
    }),
  );

  app.post(
    '/v1/apps/:appId/jobs/import',
    op('CreateImportJob'),
    handle((req, res) => {
      res
        .status(201)
        .json(
          jobResponse(
            jobs.createImportJob(param(req, 'appId'), req.body as Partial<ImportJobDefinition> | undefined),
            clock.now(),
          ),
        );
    }),
  );
  app.get(
    '/v1/apps/:appId/jobs/import',
    op('GetImportJobs'),
    handle((req, res) => {
      res
        .status(200)
        .json(paginate(list([...store.app(param(req, 'appId')).importJobs.values()]), req, shortPageEvery));
    }),
  );
  app.get(
    '/v1/apps/:appId/jobs/import/:jobId',
    op('GetImportJob'),
    handle((req, res) => {
      res.status(200).json(jobResponse(jobs.importJob(param(req, 'appId'), param(req, 'jobId')), clock.now()));
    }),
  );
  app.get(
    '/v1/apps/:appId/segments/:segmentId/jobs/import',
    op('GetSegmentImportJobs'),
    handle((req, res) => {
      const segment = store.segment(param(req, 'appId'), param(req, 'segmentId'));
      const owned = [...store.app(param(req, 'appId')).importJobs.values()].filter(
        (j) => j.Definition.SegmentId?.toLowerCase() === segment.Id.toLowerCase(),
      );
      res.status(200).json(paginate(list(owned), req, shortPageEvery));
    }),
  );
}
