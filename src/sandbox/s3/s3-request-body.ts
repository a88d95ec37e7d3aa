import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { S3Fault } from './s3-fault.js';
import type { S3ChecksumAlgorithm } from './s3-store.js';

/** A request body as S3 sees it: aws-chunked framing removed, trailing checksum headers collected. */
export interface S3RequestBody {
  bytes: Buffer;
  /** Headers sent after the body (`x-amz-trailer`), lower-cased. */
  trailers: Partial<Record<string, string>>;
}

/** Reads the whole body, refusing more than `limit` bytes with 400 EntityTooLarge. */
export async function readRequestBody(req: IncomingMessage, limit: number): Promise<S3RequestBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new S3Fault(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    chunks.push(chunk);
  }
  const raw = Buffer.concat(chunks);
  if (!isAwsChunked(req.headers)) return { bytes: raw, trailers: {} };
  const decoded = decodeAwsChunked(raw);
  const declared = req.headers['x-amz-decoded-content-length'];
  if (declared !== undefined && Number(declared) !== decoded.bytes.length) {
    throw new S3Fault(
      400,
      'IncompleteBody',
      'You did not provide the number of bytes specified by the Content-Length HTTP header',
    );
  }
  return decoded;
}

/**
 * Current SDK v3 sends stream bodies as `content-encoding: aws-chunked` with
 * `x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`: hex-size lines (optionally with a
 * `;chunk-signature=`), the data, a zero-size chunk, then trailer lines such as
 * `x-amz-checksum-crc32:…`, then an empty line.
 */
export function decodeAwsChunked(raw: Buffer): S3RequestBody {
  const parts: Buffer[] = [];
  const trailers: Partial<Record<string, string>> = {};
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) throw incomplete();
    const size = parseInt(raw.subarray(at, lineEnd).toString('latin1').split(';')[0].trim(), 16);
    if (!Number.isInteger(size) || size < 0) throw incomplete();
    at = lineEnd + 2;
    if (size === 0) break;
    if (at + size + 2 > raw.length) throw incomplete();
    parts.push(raw.subarray(at, at + size));
    at += size + 2;
  }
  while (at < raw.length) {
    const lineEnd = raw.indexOf('\r\n', at);
    const line = raw.subarray(at, lineEnd < 0 ? raw.length : lineEnd).toString('latin1');
    at = lineEnd < 0 ? raw.length : lineEnd + 2;
    if (!line) break;
    const colon = line.indexOf(':');
    if (colon > 0) trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { bytes: Buffer.concat(parts), trailers };
}

function isAwsChunked(headers: IncomingHttpHeaders): boolean {
  const encoding = (headers['content-encoding'] ?? '').toLowerCase();
  const sha = String(headers['x-amz-content-sha256'] ?? '');
  return encoding.split(',').some((e) => e.trim() === 'aws-chunked') || sha.startsWith('STREAMING-');
}

function incomplete(): S3Fault {
  return new S3Fault(400, 'IncompleteBody', 'The request body terminated unexpectedly');
}

/** The content encoding to store: what the writer gave, minus the aws-chunked transport framing. */
export function storedContentEncoding(headers: IncomingHttpHeaders): string | undefined {
  const kept = (headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e.toLowerCase() !== 'aws-chunked');
  return kept.length ? kept.join(',') : undefined;
}

const ALGORITHMS: readonly S3ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'];

/** Whether the request carries any integrity header S3 accepts where it requires one. */
export function hasIntegrityHeader(headers: IncomingHttpHeaders, trailers: Partial<Record<string, string>>): boolean {
  if (headers['content-md5'] !== undefined) return true;
  return ALGORITHMS.some((a) => {
    const name = `x-amz-checksum-${a.toLowerCase()}`;
    return headers[name] !== undefined || trailers[name] !== undefined;
  });
}

/**
 * Checks Content-MD5 and the flexible checksum (header or trailer) against the bytes, as S3 does,
 * answering 400 BadDigest / InvalidDigest. CRC32C and CRC64NVME are stored unverified: Node has
 * no built-in for them. Returns the checksum to keep with the object.
 */
export function verifyIntegrity(
  headers: IncomingHttpHeaders,
  body: S3RequestBody,
): { algorithm: S3ChecksumAlgorithm; value: string } | undefined {
  const md5 = headers['content-md5'];
  if (typeof md5 === 'string') {
    const given = Buffer.from(md5, 'base64');
    if (given.length !== 16)
      throw new S3Fault(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
    if (!given.equals(createHash('md5').update(body.bytes).digest())) {
      throw new S3Fault(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.', {
        ExpectedDigest: md5,
      });
    }
  }
  for (const algorithm of ALGORITHMS) {
    const name = `x-amz-checksum-${algorithm.toLowerCase()}`;
    const header = headers[name];
    const value = typeof header === 'string' ? header : body.trailers[name];
    if (value === undefined) continue;
    const computed = computeChecksum(algorithm, body.bytes);
    if (computed !== undefined && computed !== value) {
      throw new S3Fault(400, 'BadDigest', `The ${algorithm} you specified did not match the calculated checksum.`);
    }
    return { algorithm, value };
  }
  return undefined;
}

function computeChecksum(algorithm: S3ChecksumAlgorithm, bytes: Buffer): string | undefined {
  switch (algorithm) {
    case 'CRC32': {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(crc32(bytes) >>> 0);
      return out.toString('base64');
    }
    case 'SHA1':
      return createHash('sha1').update(bytes).digest('base64');
    case 'SHA256':
      return createHash('sha256').update(bytes).digest('base64');
    default:
      return undefined;
  }
}
