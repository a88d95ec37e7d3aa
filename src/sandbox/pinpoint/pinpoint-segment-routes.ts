import type express from 'express';
import { badRequest, notFound } from './pinpoint-store.js';
import { paginate } from './pinpoint-paging.js';
import {
  segmentResponse,
  validateSegmentCriteria,
  type SegmentDimensions,
  type SegmentGroupList,
} from './pinpoint-segment.js';
import type { PinpointRouteKit } from './pinpoint-route-kit.js';

/** WriteSegmentRequest as it arrives, unchecked. */
interface WriteSegmentBody {
  Name?: unknown;
  Dimensions?: SegmentDimensions;
  SegmentGroups?: SegmentGroupList;
  tags?: Record<string, string>;
}

/** Segments: CreateSegment 201, UpdateSegment, GetSegment(s), versions, DeleteSegment. */
export function addSegmentRoutes(app: express.Express, kit: PinpointRouteKit): void {
  const { store, clock, op, handle, param, shortPageEvery } = kit;
  const readBody = (body: unknown): WriteSegmentBody => {
    const b = (body ?? {}) as WriteSegmentBody;
    if (b.Name !== undefined && typeof b.Name !== 'string') throw badRequest('Name must be a string');
    return b;
  };

  app.get(
    '/v1/apps/:appId/segments',
    op('GetSegments'),
    handle((req, res) => {
      const segments = [...store.app(param(req, 'appId')).segments.values()];
      res.status(200).json(
        paginate(
          segments.map((s) => segmentResponse(s)),
          req,
          shortPageEvery,
        ),
      );
    }),
  );
  app.post(
    '/v1/apps/:appId/segments',
    op('CreateSegment'),
    handle((req, res) => {
      const target = store.app(param(req, 'appId'));
      const body = readBody(req.body);
      validateSegmentCriteria(target, body.Dimensions, body.SegmentGroups);
      const segment = store.createSegment(
        target.Id,
        {
          SegmentType: 'DIMENSIONAL',
          Name: body.Name as string | undefined,
          Dimensions: body.Dimensions,
          SegmentGroups: body.SegmentGroups,
          tags: body.tags,
        },
        new Date(clock.now()),
      );
      res.status(201).json(segmentResponse(segment));
    }),
  );
  app.get(
    '/v1/apps/:appId/segments/:segmentId',
    op('GetSegment'),
    handle((req, res) => {
      res.status(200).json(segmentResponse(store.segment(param(req, 'appId'), param(req, 'segmentId'))));
    }),
  );
  app.put(
    '/v1/apps/:appId/segments/:segmentId',
    op('UpdateSegment'),
    handle((req, res) => {
      const target = store.app(param(req, 'appId'));
      const body = readBody(req.body);
      validateSegmentCriteria(target, body.Dimensions, body.SegmentGroups);
      const { Name, Dimensions, SegmentGroups, tags } = body;
      const segment = store.updateSegment(
        target.Id,
        param(req, 'segmentId'),
        { Name: Name as string | undefined, Dimensions, SegmentGroups, tags },
        new Date(clock.now()),
      );
      res.status(200).json(segmentResponse(segment));
    }),
  );
  app.delete(
    '/v1/apps/:appId/segments/:segmentId',
    op('DeleteSegment'),
    handle((req, res) => {
      res.status(200).json(segmentResponse(store.deleteSegment(param(req, 'appId'), param(req, 'segmentId'))));
    }),
  );
  app.get(
    '/v1/apps/:appId/segments/:segmentId/versions',
    op('GetSegmentVersions'),
    handle((req, res) => {
      const segment = store.segment(param(req, 'appId'), param(req, 'segmentId'));
      res.status(200).json(
        paginate(
          segment.versions.map((v) => segmentResponse(segment, v)),
          req,
          shortPageEvery,
        ),
      );
    }),
  );
  app.get(
    '/v1/apps/:appId/segments/:segmentId/versions/:version',
    op('GetSegmentVersion'),
    handle((req, res) => {
      const segment = store.segment(param(req, 'appId'), param(req, 'segmentId'));
      const version = segment.versions.find((v) => String(v.Version) === param(req, 'version'));
      if (!version) throw notFound();
      res.status(200).json(segmentResponse(segment, version));
    }),
  );
}
