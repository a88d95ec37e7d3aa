/** JobStatus as Pinpoint reports it for import and export jobs (vendor-contracts §1.3). */
export type PinpointJobStatus =
  | 'CREATED'
  | 'PREPARING_FOR_INITIALIZATION'
  | 'INITIALIZING'
  | 'PROCESSING'
  | 'PENDING_JOB'
  | 'COMPLETING'
  | 'COMPLETED'
  | 'FAILING'
  | 'FAILED';

/** The phases a job spends time in; their lengths are simulator options. */
export type PinpointJobPhase =
  'CREATED' | 'PREPARING_FOR_INITIALIZATION' | 'INITIALIZING' | 'PROCESSING' | 'COMPLETING' | 'FAILING';

/** Sandbox milliseconds per phase: 30 s from CreateExportJob to COMPLETED. */
export const DEFAULT_JOB_PHASE_MS: Readonly<Record<PinpointJobPhase, number>> = Object.freeze({
  CREATED: 1_000,
  PREPARING_FOR_INITIALIZATION: 2_000,
  INITIALIZING: 3_000,
  PROCESSING: 20_000,
  COMPLETING: 4_000,
  FAILING: 2_000,
});

/** Pinpoint reports only the first 100 failures. */
export const MAX_REPORTED_FAILURES = 100;

/** A failure a test injects into a job: the role cannot reach the bucket, or some pieces fail. */
export type PinpointJobFailure =
  { kind: 'access_denied' } | { kind: 'pieces_failed'; /** @defaultValue 1 */ pieces?: number };

export interface ExportJobDefinition {
  RoleArn: string;
  S3UrlPrefix: string;
  SegmentId?: string;
  SegmentVersion?: number;
}

export interface ImportJobDefinition {
  Format: 'CSV' | 'JSON';
  S3Url: string;
  RoleArn: string;
  DefineSegment?: boolean;
  RegisterEndpoints?: boolean;
  ExternalId?: string;
  SegmentId?: string;
  SegmentName?: string;
}

/** What a job does at PROCESSING: take its input, then handle one piece at a time. */
export interface JobWork {
  /** Runs when the job reaches PROCESSING. Returns the number of pieces, or why the whole job fails. */
  begin(atMs: number): Promise<{ pieces: number } | { fail: string }>;
  /** How many endpoint definitions piece `index` holds. */
  pieceSize(index: number): number;
  /** Handles one piece; throwing fails the whole piece. */
  runPiece(index: number, atMs: number): Promise<{ processed: number; failures: string[] }>;
  /** Lets go of the job's input once the job is over. */
  release(): void;
}

interface JobRecord {
  Id: string;
  ApplicationId: string;
  CreationDate: string;
  createdAtMs: number;
  /** Phase lengths fixed at creation, so changing options later does not move running jobs. */
  phaseMs: Record<PinpointJobPhase, number>;
  TotalPieces: number;
  CompletedPieces: number;
  FailedPieces: number;
  TotalProcessed: number;
  TotalFailures: number;
  Failures: string[];
  injected?: PinpointJobFailure;
  work: JobWork;
  /** Set once the job has reached PROCESSING and taken its input. */
  begun: boolean;
  /** Pieces handled so far. */
  nextPiece: number;
  /** Set once every piece is handled (or the job failed at the start). */
  finished: boolean;
  /** When the job entered FAILING, if it fails. */
  failingFromMs?: number;
}

export interface PinpointExportJob extends JobRecord {
  Type: 'EXPORT';
  Definition: ExportJobDefinition;
}

export interface PinpointImportJob extends JobRecord {
  Type: 'IMPORT';
  Definition: ImportJobDefinition;
}

export type PinpointJob = PinpointExportJob | PinpointImportJob;

export function processingStartMs(job: PinpointJob): number {
  const p = job.phaseMs;
  return job.createdAtMs + p.CREATED + p.PREPARING_FOR_INITIALIZATION + p.INITIALIZING;
}

export function processingEndMs(job: PinpointJob): number {
  return processingStartMs(job) + job.phaseMs.PROCESSING;
}

/** Pieces finish evenly spread over PROCESSING, the last one at its end. */
export function pieceDueMs(job: PinpointJob, index: number): number {
  return processingStartMs(job) + Math.round(((index + 1) / Math.max(1, job.TotalPieces)) * job.phaseMs.PROCESSING);
}

/** When the job's next side effect is due (taking input, a piece, deciding the outcome), or undefined when none is left. */
export function nextEventMs(job: PinpointJob): number | undefined {
  if (!job.begun) return processingStartMs(job);
  if (job.finished) return undefined;
  if (job.nextPiece < job.TotalPieces) return pieceDueMs(job, job.nextPiece);
  return processingEndMs(job);
}

/** Status and completion date at sandbox time `nowMs`, from the timeline and the events already applied. */
export function jobStatusAt(
  job: PinpointJob,
  nowMs: number,
): { JobStatus: PinpointJobStatus; CompletionDate?: string } {
  const p = job.phaseMs;
  if (!job.begun) {
    const since = nowMs - job.createdAtMs;
    if (since < p.CREATED) return { JobStatus: 'CREATED' };
    if (since < p.CREATED + p.PREPARING_FOR_INITIALIZATION) return { JobStatus: 'PREPARING_FOR_INITIALIZATION' };
    return { JobStatus: 'INITIALIZING' };
  }
  if (job.failingFromMs !== undefined) {
    const failedAt = job.failingFromMs + p.FAILING;
    return nowMs < failedAt
      ? { JobStatus: 'FAILING' }
      : { JobStatus: 'FAILED', CompletionDate: new Date(failedAt).toISOString() };
  }
  if (!job.finished) return { JobStatus: 'PROCESSING' };
  const completedAt = processingEndMs(job) + p.COMPLETING;
  return nowMs < completedAt
    ? { JobStatus: 'COMPLETING' }
    : { JobStatus: 'COMPLETED', CompletionDate: new Date(completedAt).toISOString() };
}

/** ExportJobResponse / ImportJobResponse as Pinpoint sends them. */
export function jobResponse(job: PinpointJob, nowMs: number) {
  const { JobStatus, CompletionDate } = jobStatusAt(job, nowMs);
  return {
    Id: job.Id,
    ApplicationId: job.ApplicationId,
    CreationDate: job.CreationDate,
    ...(CompletionDate ? { CompletionDate } : {}),
    JobStatus,
    Type: job.Type,
    Definition: job.Definition,
    TotalPieces: job.TotalPieces,
    CompletedPieces: job.CompletedPieces,
    FailedPieces: job.FailedPieces,
    TotalProcessed: job.TotalProcessed,
    TotalFailures: job.TotalFailures,
    ...(job.Failures.length ? { Failures: job.Failures } : {}),
  };
}

export function recordFailures(job: PinpointJob, messages: string[]): void {
  for (const message of messages) {
    if (job.Failures.length >= MAX_REPORTED_FAILURES) return;
    job.Failures.push(message);
  }
}
