import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { onSuiteEnd } from './services.js';
import { makeTestTempDir, removeTestTempDir } from './temp-dirs.js';

let shared: Promise<EmbeddedRedis> | undefined;

/** One private redis-server for the whole run (tests isolate themselves with a fresh queue prefix). */
export function testRedis(): Promise<EmbeddedRedis> {
  if (shared) return shared;
  const dataDir = makeTestTempDir('erasure-test-redis-');
  shared = startEmbeddedRedis({ dataDir, appendOnly: false }).then((redis) => {
    onSuiteEnd(async () => {
      await redis.stop();
      removeTestTempDir(dataDir);
    });
    return redis;
  });
  return shared;
}

/** A BullMQ key prefix no other test uses. */
export function freshPrefix(): string {
  return `t${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export async function redisClient(): Promise<Redis> {
  const redis = await testRedis();
  return new Redis(redis.url, { maxRetriesPerRequest: null });
}
