/**
 * What other simulators need from the S3 simulator: Pinpoint's export jobs write their files
 * into it and its import jobs read from it, the same objects the real S3 client then sees.
 */
export interface SandboxObjectStore {
  /** Writes a new current version (a new version id in a versioned bucket). Throws when the bucket does not exist. */
  putObject(bucket: string, key: string, body: Buffer, contentType?: string): void;
  /** The current version's bytes, or undefined when absent or behind a delete marker. */
  getObject(bucket: string, key: string): Buffer | undefined;
  /** Current keys under a prefix, in S3 order. */
  listKeys(bucket: string, prefix: string): string[];
  bucketExists(bucket: string): boolean;
  createBucket(bucket: string, options?: { versioned?: boolean }): void;
}
