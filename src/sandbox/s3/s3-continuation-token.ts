import { createHmac, timingSafeEqual } from 'node:crypto';

/** Where a ListObjectsV2 page stopped: after this key, or after everything under this common prefix. */
export interface ListPosition {
  after: string;
  /** `after` is a common prefix: every key under it was already rolled up into it. */
  rolledUp: boolean;
}

// The token only has to be opaque and tamper-evident, not secret: a fixed key keeps tokens stable across restarts.
const TOKEN_KEY = 'sandbox-s3-continuation-token';

/** An opaque NextContinuationToken bound to its bucket, so a token from elsewhere or an edited one is refused. */
export function encodeContinuationToken(bucket: string, position: ListPosition): string {
  const payload = Buffer.from(JSON.stringify({ a: position.after, r: position.rolledUp ? 1 : 0 }), 'utf8');
  return Buffer.concat([mac(bucket, payload), payload]).toString('base64');
}

/** The position a token stands for, or undefined when it is not one of ours for this bucket. */
export function decodeContinuationToken(bucket: string, token: string): ListPosition | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) return undefined;
  const raw = Buffer.from(token, 'base64');
  if (raw.length <= 16) return undefined;
  const payload = raw.subarray(16);
  if (!timingSafeEqual(raw.subarray(0, 16), mac(bucket, payload))) return undefined;
  try {
    const parsed = JSON.parse(payload.toString('utf8')) as { a?: unknown; r?: unknown };
    if (typeof parsed.a !== 'string') return undefined;
    return { after: parsed.a, rolledUp: parsed.r === 1 };
  } catch {
    return undefined;
  }
}

function mac(bucket: string, payload: Buffer): Buffer {
  return createHmac('sha256', TOKEN_KEY).update(bucket).update('\u0000').update(payload).digest().subarray(0, 16);
}
