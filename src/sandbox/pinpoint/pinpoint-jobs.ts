import { randomUUID } from 'node:crypto';
import type { SandboxObjectStore } from '../object-store.js';
import { badRequest, notFound, type PinpointApp, type PinpointStore } from './pinpoint-store.js';
import {
  DEFAULT_JOB_PHASE_MS,
  nextEventMs,
  processingEndMs,
  recordFailures,
  type ExportJobDefinition,
  type ImportJobDefinition,
  type PinpointExportJob,
  type PinpointImportJob,
  type PinpointJob,
  type PinpointJobFailure,
  type PinpointJobPhase,
} from './pinpoint-job.js';
import { segmentVersion } from './pinpoint-segment.js';
import { parseS3Url } from './pinpoint-s3-url.js';
import { ExportWork } from './pinpoint-export-work.js';
import { ImportWork } from './pinpoint-import-work.js';

/** What an injected-failure hook is told about a job being created. */
export interface PinpointJobFailureContext {
  type: 'EXPORT' | 'IMPORT';
  applicationId: string;
  jobId: string;
  definition: ExportJobDefinition | ImportJobDefinition;
}

export interface PinpointJobsOptions {
  /** Sandbox time in ms; jobs move only when it does. */
  clock: { now(): number };
  /** Where exports write and imports read (or how to find it when needed); without one every job fails as access denied. */
  objectStore?: SandboxObjectStore | (() => SandboxObjectStore | undefined);
  /** Phase lengths over DEFAULT_JOB_PHASE_MS. */
  phaseMs?: Partial<Record<PinpointJobPhase, number>>;
  /** Pieces per job (fewer when there are fewer endpoints). @defaultValue 3 */
  pieces?: number;
  /** Called once per new job; what it returns happens to that job. */
  injectFailure?: (job: PinpointJobFailureContext) => PinpointJobFailure | undefined;
}

/**
 * Export and import jobs on the sandbox clock. Nothing runs in the background: every request
 * to an app first `settle`s that app, which replays, in time order, the side effects that
 * have come due since (taking a snapshot at PROCESSING, each piece, the outcome). So an export
 * holds exactly the endpoints the app had when it reached PROCESSING on the sandbox clock.
 */
export class PinpointJobs {
  private readonly locks = new WeakMap<PinpointApp, Promise<void>>();
  private readonly phaseMs: Record<PinpointJobPhase, number>;

  constructor(
    private readonly store: PinpointStore,
    private readonly options: PinpointJobsOptions,
  ) {
    this.phaseMs = { ...DEFAULT_JOB_PHASE_MS, ...(options.phaseMs ?? {}) };
  }

  createExportJob(appId: string, request: Partial<ExportJobDefinition> | undefined): PinpointExportJob {
    const app = this.store.app(appId);
    const body = request ?? {};
    if (typeof body.RoleArn !== 'string' || !body.RoleArn.startsWith('arn:'))
      throw badRequest('RoleArn is required and must be an IAM role ARN');
    parseS3Url(body.S3UrlPrefix, 'S3UrlPrefix');
    // parseS3Url has just rejected an absent or malformed prefix.
    const s3UrlPrefix = body.S3UrlPrefix ?? '';
    if (body.SegmentVersion !== undefined && !body.SegmentId) throw badRequest('SegmentVersion requires SegmentId');
    if (body.SegmentVersion !== undefined && (!Number.isInteger(body.SegmentVersion) || body.SegmentVersion < 1))
      throw badRequest('Invalid SegmentVersion');
    if (body.SegmentId) {
      const segment = this.store.segment(app.Id, body.SegmentId);
      if (!segmentVersion(segment, body.SegmentVersion)) throw notFound('Segment version not found');
    }
    const definition: ExportJobDefinition = {
      RoleArn: body.RoleArn,
      S3UrlPrefix: s3UrlPrefix,
      ...(body.SegmentId ? { SegmentId: body.SegmentId } : {}),
      ...(body.SegmentVersion !== undefined ? { SegmentVersion: body.SegmentVersion } : {}),
    };
    const job = this.newJob(app, 'EXPORT', definition) as PinpointExportJob;
    job.work = new ExportWork(app, job, () => this.objectStore(), this.pieces(), job.injected);
    app.exportJobs.set(job.Id.toLowerCase(), job);
    return job;
  }

  createImportJob(appId: string, request: Partial<ImportJobDefinition> | undefined): PinpointImportJob {
    const app = this.store.app(appId);
    const body = request ?? {};
    if (body.Format !== 'CSV' && body.Format !== 'JSON') throw badRequest('Format must be CSV or JSON');
    if (typeof body.RoleArn !== 'string' || !body.RoleArn.startsWith('arn:'))
      throw badRequest('RoleArn is required and must be an IAM role ARN');
    const { key } = parseS3Url(body.S3Url, 'S3Url');
    // parseS3Url has just rejected an absent or malformed URL.
    const s3Url = body.S3Url ?? '';
    let segmentId = body.SegmentId;
    if (segmentId) {
      const segment = this.store.segment(app.Id, segmentId);
      if (!segment.members) throw badRequest('Endpoints can only be imported into an imported segment');
    } else if (body.DefineSegment) {
      const name = body.SegmentName || key.split('/').filter(Boolean).pop() || 'Imported segment';
      const segment = this.store.createSegment(
        app.Id,
        {
          SegmentType: 'IMPORT',
          Name: name,
          ImportDefinition: {
            Format: body.Format,
            S3Url: s3Url,
            RoleArn: body.RoleArn,
            ExternalId: body.ExternalId,
            Size: 0,
            ChannelCounts: {},
          },
        },
        new Date(this.options.clock.now()),
      );
      segmentId = segment.Id;
    }
    const definition: ImportJobDefinition = {
      Format: body.Format,
      S3Url: s3Url,
      RoleArn: body.RoleArn,
      ...(body.DefineSegment !== undefined ? { DefineSegment: body.DefineSegment } : {}),
      ...(body.RegisterEndpoints !== undefined ? { RegisterEndpoints: body.RegisterEndpoints } : {}),
      ...(body.ExternalId ? { ExternalId: body.ExternalId } : {}),
      ...(segmentId ? { SegmentId: segmentId } : {}),
      ...(body.SegmentName ? { SegmentName: body.SegmentName } : {}),
    };
    const job = this.newJob(app, 'IMPORT', definition) as PinpointImportJob;
    job.work = new ImportWork(this.store, app, job, () => this.objectStore(), this.pieces(), job.injected);
    app.importJobs.set(job.Id.toLowerCase(), job);
    return job;
  }

  exportJob(appId: string, jobId: string): PinpointExportJob {
    const job = this.store.app(appId).exportJobs.get(jobId.toLowerCase());
    if (!job) throw notFound();
    return job;
  }

  importJob(appId: string, jobId: string): PinpointImportJob {
    const job = this.store.app(appId).importJobs.get(jobId.toLowerCase());
    if (!job) throw notFound();
    return job;
  }

  /** Applies every job side effect of this app that is due by now, oldest first; calls for one app queue behind each other. */
  settle(app: PinpointApp): Promise<void> {
    const previous = this.locks.get(app) ?? Promise.resolve();
    const next = previous.then(() => this.runDue(app));
    this.locks.set(
      app,
      next.catch(() => undefined),
    );
    return next;
  }

  /** DeleteApp: the app's jobs will never run again, so let go of what they hold. */
  release(app: PinpointApp): void {
    for (const job of [...app.exportJobs.values(), ...app.importJobs.values()]) job.work.release();
  }

  private objectStore(): SandboxObjectStore | undefined {
    const { objectStore } = this.options;
    return typeof objectStore === 'function' ? objectStore() : objectStore;
  }

  private pieces(): number {
    return Math.max(1, Math.floor(this.options.pieces ?? 3));
  }

  private newJob(app: PinpointApp, type: 'EXPORT' | 'IMPORT', definition: ExportJobDefinition | ImportJobDefinition) {
    const now = this.options.clock.now();
    const id = randomUUID().replace(/-/g, '');
    const injected = this.options.injectFailure?.({ type, applicationId: app.Id, jobId: id, definition });
    return {
      Id: id,
      ApplicationId: app.Id,
      CreationDate: new Date(now).toISOString(),
      createdAtMs: now,
      phaseMs: { ...this.phaseMs },
      Type: type,
      Definition: definition,
      TotalPieces: 0,
      CompletedPieces: 0,
      FailedPieces: 0,
      TotalProcessed: 0,
      TotalFailures: 0,
      Failures: [] as string[],
      ...(injected ? { injected } : {}),
      begun: false,
      nextPiece: 0,
      finished: false,
    } as Omit<PinpointJob, 'work'> as PinpointJob;
  }

  private async runDue(app: PinpointApp): Promise<void> {
    for (;;) {
      if (this.store.apps.get(app.Id.toLowerCase()) !== app) return;
      const now = this.options.clock.now();
      let due: PinpointJob | undefined;
      let dueAt = Infinity;
      for (const job of [...app.importJobs.values(), ...app.exportJobs.values()]) {
        const at = nextEventMs(job);
        if (at !== undefined && at <= now && at < dueAt) {
          due = job;
          dueAt = at;
        }
      }
      if (!due) return;
      await this.step(due, dueAt);
    }
  }

  /** One side effect: take the input, handle the next piece, or decide the outcome. */
  private async step(job: PinpointJob, atMs: number): Promise<void> {
    if (!job.begun) {
      job.begun = true;
      const started = await job.work.begin(atMs).catch(() => ({ fail: 'InternalError: the job could not start' }));
      if ('fail' in started) {
        recordFailures(job, [started.fail]);
        job.finished = true;
        job.failingFromMs = atMs;
        job.work.release();
        return;
      }
      job.TotalPieces = started.pieces;
      return;
    }
    if (job.nextPiece < job.TotalPieces) {
      const index = job.nextPiece++;
      const size = job.work.pieceSize(index);
      const injectedFailures =
        job.injected?.kind === 'pieces_failed' ? Math.min(job.TotalPieces, job.injected.pieces ?? 1) : 0;
      try {
        if (index >= job.TotalPieces - injectedFailures)
          throw new Error(`InternalError: piece ${index + 1} of ${job.TotalPieces} failed`);
        const result = await job.work.runPiece(index, atMs);
        job.CompletedPieces++;
        job.TotalProcessed += result.processed;
        job.TotalFailures += result.failures.length;
        recordFailures(job, result.failures);
      } catch (err) {
        job.FailedPieces++;
        job.TotalProcessed += size;
        job.TotalFailures += size;
        recordFailures(job, [err instanceof Error ? err.message : `piece ${index + 1} failed`]);
      }
      return;
    }
    job.finished = true;
    job.work.release();
    if (job.FailedPieces > 0) job.failingFromMs = processingEndMs(job);
  }
}
