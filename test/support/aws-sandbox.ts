import { gunzipSync } from 'node:zlib';
import { PinpointClient } from '@aws-sdk/client-pinpoint';
import { S3Client, GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { SANDBOX_CREDENTIALS, type Sandbox } from '../../src/sandbox/sandbox.js';

/** The real Pinpoint SDK client, pointed at the sandbox (tests read the vendor's state through it). */
export function pinpointSdk(sandbox: Sandbox): PinpointClient {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  return new PinpointClient({
    endpoint: sandbox.vendors.pinpoint.baseUrl,
    region,
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 1,
  });
}

/** The real S3 SDK client, path-style, pointed at the sandbox. */
export function s3Sdk(sandbox: Sandbox): S3Client {
  const { accessKeyId, secretAccessKey, region } = SANDBOX_CREDENTIALS.aws;
  return new S3Client({
    endpoint: sandbox.vendors.s3.baseUrl,
    region,
    credentials: { accessKeyId, secretAccessKey },
    forcePathStyle: true,
    maxAttempts: 1,
  });
}

/** Every version and delete marker under a prefix, all pages, as S3 reports them. */
export async function allVersions(
  s3: S3Client,
  bucket: string,
  prefix: string,
): Promise<Array<{ key: string; versionId: string; isLatest: boolean; marker: boolean }>> {
  const out: Array<{ key: string; versionId: string; isLatest: boolean; marker: boolean }> = [];
  let KeyMarker: string | undefined;
  let VersionIdMarker: string | undefined;
  for (;;) {
    const page = await s3.send(
      new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix, KeyMarker, VersionIdMarker }),
    );
    for (const v of page.Versions ?? [])
      out.push({ key: v.Key!, versionId: v.VersionId ?? 'null', isLatest: v.IsLatest === true, marker: false });
    for (const m of page.DeleteMarkers ?? [])
      out.push({ key: m.Key!, versionId: m.VersionId ?? 'null', isLatest: m.IsLatest === true, marker: true });
    if (!page.IsTruncated) return out;
    KeyMarker = page.NextKeyMarker;
    VersionIdMarker = page.NextVersionIdMarker;
  }
}

/** One object version's content, gunzipped when it is gzip. */
export async function readText(s3: S3Client, bucket: string, key: string, versionId?: string): Promise<string> {
  const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId }));
  const bytes = Buffer.from(await out.Body!.transformToByteArray());
  return (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes).toString('utf8');
}

/**
 * Moves the sandbox clock forward in small steps while a test waits for vendor jobs (Pinpoint
 * exports take 30 s of sandbox time): `stepMs` every `everyMs`. Returns the function that stops it.
 */
export function pumpClock(sandbox: Sandbox, stepMs = 1000, everyMs = 10): () => void {
  const timer = setInterval(() => {
    sandbox.clock.advance(stepMs);
  }, everyMs);
  return () => {
    clearInterval(timer);
  };
}
