import { expect } from 'chai';
import { Redis } from 'ioredis';
import { RedisNotInstalledError, startEmbeddedRedis } from '../../src/stores/embedded-redis.js';
import { makeTestTempDir } from '../support/temp-dirs.js';

describe('The embedded redis-server', () => {
  it('runs with AOF persistence and the noeviction policy BullMQ needs, and stops', async () => {
    const redis = await startEmbeddedRedis({ dataDir: makeTestTempDir('erasure-redis-') });
    const client = new Redis(redis.url);
    try {
      expect(await client.config('GET', 'appendonly')).to.deep.equal(['appendonly', 'yes']);
      expect(await client.config('GET', 'maxmemory-policy')).to.deep.equal(['maxmemory-policy', 'noeviction']);
      expect(await client.config('GET', 'bind')).to.deep.equal(['bind', '127.0.0.1']);
    } finally {
      client.disconnect();
      await redis.stop();
    }
  });

  it('names the commands that install redis-server when it is missing', async () => {
    const path0 = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const err = await startEmbeddedRedis({ dataDir: makeTestTempDir('erasure-redis-') }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(RedisNotInstalledError);
      const message = (err as Error).message;
      expect(message).to.include('apt-get install -y redis-server');
      expect(message).to.include('brew install redis');
      expect(message).to.include('docker compose up');
      expect(message).to.include('REDIS_URL');
    } finally {
      process.env.PATH = path0;
    }
  });
});
