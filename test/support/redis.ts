import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { onSuiteEnd } from './services.js';

let shared: Promise<EmbeddedRedis> | undefined;

/** One private redis-server for the whole run (tests isolate themselves with a fresh queue prefix). */
export function testRedis(): Promise<EmbeddedRedis> {
  shared ??= startEmbeddedRedis({ dataDir: mkdtempSync(path.join(os.tmpdir(), 'erasure-test-redis-')), appendOnly: false }).then((redis) => {
    onSuiteEnd(() => redis.stop());
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
