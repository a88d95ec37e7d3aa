import {
  CreateExportJobCommand,
  GetExportJobCommand,
  GetExportJobsCommand,
  type ExportJobResponse,
} from '@aws-sdk/client-pinpoint';
import { TransientVendorError } from './vendor-errors.js';
import type { ExportJobState, PinpointClient } from './pinpoint-client.js';
import { isGone, type PinpointContext } from './pinpoint-calls.js';

/** How many GetExportJobs pages to look through for a job to adopt (newest jobs are not guaranteed first). */
const MAX_EXPORT_JOB_PAGES = 20;

/** Export jobs: create, read, and find one already writing to a prefix. */
export function exportJobMethods({
  sdk,
  call,
}: PinpointContext): Pick<PinpointClient, 'createExportJob' | 'getExportJob' | 'findExportJob'> {
  return {
    async createExportJob({ appId, s3UrlPrefix, roleArn, segmentId, signal }) {
      const out = await call('CreateExportJob', () =>
        sdk.send(
          new CreateExportJobCommand({
            ApplicationId: appId,
            ExportJobRequest: {
              S3UrlPrefix: s3UrlPrefix,
              RoleArn: roleArn,
              ...(segmentId ? { SegmentId: segmentId } : {}),
            },
          }),
          {
            abortSignal: signal,
          },
        ),
      );
      if (isGone(out)) return out;
      return jobState(out.ExportJobResponse);
    },
    async getExportJob({ appId, jobId, signal }) {
      const out = await call('GetExportJob', () =>
        sdk.send(new GetExportJobCommand({ ApplicationId: appId, JobId: jobId }), { abortSignal: signal }),
      );
      if (isGone(out)) return out;
      return jobState(out.ExportJobResponse);
    },
    async findExportJob({ appId, s3UrlPrefix, signal }) {
      let token: string | undefined;
      for (let page = 0; page < MAX_EXPORT_JOB_PAGES; page++) {
        const out = await call('GetExportJobs', () =>
          sdk.send(new GetExportJobsCommand({ ApplicationId: appId, Token: token, PageSize: '100' }), {
            abortSignal: signal,
          }),
        );
        if (isGone(out)) return undefined;
        const match = (out.ExportJobsResponse?.Item ?? []).find((j) => j.Definition?.S3UrlPrefix === s3UrlPrefix);
        if (match) return jobState(match);
        token = out.ExportJobsResponse?.NextToken;
        if (!token) return undefined;
      }
      return undefined;
    },
  };
}

function jobState(job: ExportJobResponse | undefined): ExportJobState {
  if (!job?.Id || !job.JobStatus)
    throw new TransientVendorError(
      { vendor: 'pinpoint', operation: 'GetExportJob', code: 'IncompleteResponse' },
      'answered without a job id or status',
    );
  return {
    jobId: job.Id,
    status: job.JobStatus,
    s3UrlPrefix: job.Definition?.S3UrlPrefix,
    totalPieces: job.TotalPieces ?? 0,
    completedPieces: job.CompletedPieces ?? 0,
    failedPieces: job.FailedPieces ?? 0,
    totalProcessed: job.TotalProcessed ?? 0,
    totalFailures: job.TotalFailures ?? 0,
  };
}
