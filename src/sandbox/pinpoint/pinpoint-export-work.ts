import { randomBytes, randomUUID } from 'node:crypto';
import { createGzip } from 'node:zlib';
import type { SandboxObjectStore } from '../object-store.js';
import type { PinpointApp, PinpointEndpoint } from './pinpoint-store.js';
import type { JobWork, PinpointExportJob, PinpointJobFailure } from './pinpoint-job.js';
import { segmentEndpoints, segmentVersion } from './pinpoint-segment.js';
import { exportFolder, parseS3Url } from './pinpoint-s3-url.js';

/** Lines handed to gzip at once: big enough to be fast, small enough to keep memory flat. */
const LINES_PER_WRITE = 2_000;

/**
 * An export job's work. At PROCESSING it snapshots the endpoints (the app's, or the segment
 * version's) by reference, which is a true snapshot because the store never changes an
 * endpoint in place; each piece then gzips its share of the snapshot as NDJSON into one
 * object under the prefix, in a folder and file name nobody can guess.
 */
export class ExportWork implements JobWork {
  private snapshot: PinpointEndpoint[] = [];
  private bounds: Array<[number, number]> = [];
  private readonly folder = randomBytes(8).toString('hex');

  constructor(
    private readonly app: PinpointApp,
    private readonly job: PinpointExportJob,
    private readonly objectStore: () => SandboxObjectStore | undefined,
    private readonly pieces: number,
    private readonly injected: PinpointJobFailure | undefined,
  ) {}

  begin(atMs: number): Promise<{ pieces: number } | { fail: string }> {
    // A throw rejects the promise, as it did when these methods were async.
    return new Promise((resolve) => {
      resolve(this.start(atMs));
    });
  }

  private start(atMs: number): { pieces: number } | { fail: string } {
    const { bucket } = parseS3Url(this.job.Definition.S3UrlPrefix, 'S3UrlPrefix');
    if (!this.objectStore()?.bucketExists(bucket) || this.injected?.kind === 'access_denied') {
      return {
        fail: `Access Denied: Amazon Pinpoint could not write to ${this.job.Definition.S3UrlPrefix} (the bucket does not exist or the role in RoleArn may not write to it)`,
      };
    }
    const { SegmentId, SegmentVersion } = this.job.Definition;
    if (SegmentId) {
      const segment = this.app.segments.get(SegmentId.toLowerCase());
      const version = segment && segmentVersion(segment, SegmentVersion);
      if (!segment || !version)
        return { fail: `Segment ${SegmentId}${SegmentVersion ? ` version ${SegmentVersion}` : ''} not found` };
      this.snapshot = segmentEndpoints(this.app, segment, version, atMs);
    } else {
      this.snapshot = [...this.app.endpoints.values()];
    }
    const count = Math.max(1, Math.min(this.pieces, this.snapshot.length));
    const size = Math.ceil(this.snapshot.length / count);
    this.bounds = Array.from({ length: count }, (_, i) => [i * size, Math.min(this.snapshot.length, (i + 1) * size)]);
    return { pieces: count };
  }

  pieceSize(index: number): number {
    const [start, end] = this.bounds[index];
    return end - start;
  }

  async runPiece(index: number): Promise<{ processed: number; failures: string[] }> {
    const [start, end] = this.bounds[index];
    const body = await gzipLines(this.snapshot, start, end);
    const { bucket, key } = parseS3Url(this.job.Definition.S3UrlPrefix, 'S3UrlPrefix');
    try {
      // A bucket deleted (or a store gone) since PROCESSING began fails this piece, as S3 would refuse the write.
      const objects = this.objectStore();
      if (!objects) throw new Error('the object store is gone');
      objects.putObject(
        bucket,
        `${exportFolder({ bucket, key })}${this.folder}/${randomUUID()}.gz`,
        body,
        'application/gzip',
      );
    } catch {
      throw new Error(`Access Denied: piece ${index + 1} could not be written to ${this.job.Definition.S3UrlPrefix}`);
    }
    return { processed: end - start, failures: [] };
  }

  release(): void {
    this.snapshot = [];
  }
}

/** One EndpointResponse per line, EndpointResponse field names, `User: {}` when there is no user. */
export function exportLine(e: PinpointEndpoint): string {
  return JSON.stringify({
    ChannelType: e.ChannelType,
    Address: e.Address,
    EndpointStatus: e.EndpointStatus,
    OptOut: e.OptOut,
    RequestId: e.RequestId,
    EffectiveDate: e.EffectiveDate,
    Attributes: e.Attributes,
    Metrics: e.Metrics,
    Demographic: e.Demographic,
    Location: e.Location,
    User: e.User ?? {},
    ApplicationId: e.ApplicationId,
    Id: e.Id,
    CohortId: e.CohortId,
    CreationDate: e.CreationDate,
  });
}

async function gzipLines(endpoints: PinpointEndpoint[], start: number, end: number): Promise<Buffer> {
  const gzip = createGzip();
  const chunks: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise<void>((resolve, reject) => {
    gzip.on('end', resolve);
    gzip.on('error', reject);
  });
  for (let i = start; i < end; i += LINES_PER_WRITE) {
    let text = '';
    for (let j = i; j < Math.min(end, i + LINES_PER_WRITE); j++) text += `${exportLine(endpoints[j])}\n`;
    if (!gzip.write(text)) await new Promise((resolve) => gzip.once('drain', resolve));
  }
  gzip.end();
  await done;
  return Buffer.concat(chunks);
}
