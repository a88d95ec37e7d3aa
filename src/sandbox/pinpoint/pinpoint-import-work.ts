import { randomUUID } from 'node:crypto';
import type { SandboxObjectStore } from '../object-store.js';
import { PinpointFault, type PinpointApp, type PinpointStore } from './pinpoint-store.js';
import type { JobWork, PinpointImportJob, PinpointJobFailure } from './pinpoint-job.js';
import { isCompressed, parseCsv, parseNdjson, type ImportedEndpoint, type ImportRow } from './pinpoint-import-file.js';
import { parseS3Url } from './pinpoint-s3-url.js';

const JSON_SUFFIXES = ['.json', '.jsonl', '.ndjson'];

/**
 * An import job's work. At PROCESSING it reads every object under `S3Url` in the job's format
 * (files in the other format are skipped, as Pinpoint does; any compressed file fails the
 * job), then each piece upserts its share of the rows and adds them to the job's segment.
 * Endpoints are registered whatever `RegisterEndpoints` says.
 */
export class ImportWork implements JobWork {
  private rows: ImportRow[] = [];
  private bounds: Array<[number, number]> = [];

  constructor(
    private readonly store: PinpointStore,
    private readonly app: PinpointApp,
    private readonly job: PinpointImportJob,
    private readonly objectStore: () => SandboxObjectStore | undefined,
    private readonly pieces: number,
    private readonly injected: PinpointJobFailure | undefined,
  ) {}

  begin(): Promise<{ pieces: number } | { fail: string }> {
    // A throw rejects the promise, as it did when these methods were async.
    return new Promise((resolve) => {
      resolve(this.start());
    });
  }

  private start(): { pieces: number } | { fail: string } {
    const { S3Url, Format } = this.job.Definition;
    const { bucket, key } = parseS3Url(S3Url, 'S3Url');
    const objects = this.objectStore();
    if (!objects?.bucketExists(bucket) || this.injected?.kind === 'access_denied') {
      return {
        fail: `Access Denied: Amazon Pinpoint could not read ${S3Url} (the bucket does not exist or the role in RoleArn may not read it)`,
      };
    }
    const isJsonName = (k: string) => JSON_SUFFIXES.some((s) => k.toLowerCase().endsWith(s));
    const keys = objects
      .listKeys(bucket, key)
      .filter((k) => !k.endsWith('/'))
      .filter((k) => (Format === 'CSV' ? !isJsonName(k) : !k.toLowerCase().endsWith('.csv')));
    if (keys.length === 0) return { fail: `No ${Format} files found at ${S3Url}` };
    for (const k of keys) {
      const body = objects.getObject(bucket, k);
      if (!body) continue;
      if (isCompressed(body) || /\.(gz|gzip|zip)$/i.test(k)) {
        this.rows = [];
        return { fail: `Compressed files are not supported: s3://${bucket}/${k}` };
      }
      const text = body.toString('utf8');
      this.rows.push(...(Format === 'CSV' ? parseCsv(k, text) : parseNdjson(k, text)));
    }
    const count = this.rows.length === 0 ? 0 : Math.max(1, Math.min(this.pieces, this.rows.length));
    const size = count ? Math.ceil(this.rows.length / count) : 0;
    this.bounds = Array.from({ length: count }, (_, i) => [i * size, Math.min(this.rows.length, (i + 1) * size)]);
    return { pieces: count };
  }

  pieceSize(index: number): number {
    const [start, end] = this.bounds[index];
    return end - start;
  }

  runPiece(index: number, atMs: number): Promise<{ processed: number; failures: string[] }> {
    // A throw rejects the promise, as it did when these methods were async.
    return new Promise((resolve) => {
      resolve(this.importPiece(index, atMs));
    });
  }

  private importPiece(index: number, atMs: number): { processed: number; failures: string[] } {
    const [start, end] = this.bounds[index];
    const failures: string[] = [];
    const imported: string[] = [];
    for (const row of this.rows.slice(start, end)) {
      if ('error' in row) {
        failures.push(row.error);
        continue;
      }
      try {
        imported.push(...this.applyRow(row.endpoint, atMs));
      } catch (err) {
        failures.push(`${row.where}: ${err instanceof PinpointFault ? err.message : 'could not be imported'}`);
      }
    }
    this.addToSegment(imported);
    return { processed: end - start, failures };
  }

  release(): void {
    this.rows = [];
  }

  /** Upserts one row; a row with only a user id instead names that user's existing endpoints. Returns the endpoint keys. */
  private applyRow(row: ImportedEndpoint, atMs: number): string[] {
    const userId = row.User?.UserId;
    if (!row.Id && !row.Address && !row.ChannelType) {
      if (!userId)
        throw new PinpointFault(400, 'BadRequestException', 'Address and ChannelType are required for a new endpoint');
      const owned = this.app.endpoints.ofUser(userId);
      if (owned.length === 0)
        throw new PinpointFault(400, 'BadRequestException', 'No endpoints exist for this user id');
      return owned.map((e) => e.Id.toLowerCase());
    }
    const existing = row.Id ? this.app.endpoints.get(row.Id.toLowerCase()) : undefined;
    if (!existing && (!row.Address || !row.ChannelType)) {
      throw new PinpointFault(400, 'BadRequestException', 'Address and ChannelType are required for a new endpoint');
    }
    const { Id, EndpointStatus: _status, ...input } = row;
    const id = Id ?? randomUUID();
    this.store.upsertEndpoint(this.app.Id, id, input, new Date(atMs));
    return [id.toLowerCase()];
  }

  private addToSegment(keys: string[]): void {
    const segmentId = this.job.Definition.SegmentId;
    const segment = segmentId ? this.app.segments.get(segmentId.toLowerCase()) : undefined;
    if (!segment?.members) return;
    for (const key of keys) segment.members.add(key);
    const latest = segment.versions[segment.versions.length - 1];
    if (!latest.ImportDefinition) return;
    const channelCounts: Record<string, number> = {};
    for (const key of segment.members) {
      const channel = this.app.endpoints.get(key)?.ChannelType;
      if (channel) channelCounts[channel] = (channelCounts[channel] ?? 0) + 1;
    }
    latest.ImportDefinition = { ...latest.ImportDefinition, Size: segment.members.size, ChannelCounts: channelCounts };
  }
}
