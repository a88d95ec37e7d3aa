import type { Redis } from 'ioredis';

/** What Redis holds under one key prefix: every key's `MEMORY USAGE` summed (SCAN, pipelined). */
export async function redisBytes(redis: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const pipeline = redis.pipeline();
    for (const key of batch) pipeline.memory('USAGE', key);
    for (const [, size] of (await pipeline.exec()) ?? []) bytes += Number(size ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  return { bytes, keys };
}
