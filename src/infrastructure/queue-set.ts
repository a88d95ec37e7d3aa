import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { ResolvedQueue } from '../../queues/queue-definition.js';

export interface RedisConnectionOptions {
  url: string;
  prefix: string;
}

/** Producer-side handles: one Queue per queue, one FlowProducer. Long-lived, closed once. */
export interface QueueSet {
  readonly prefix: string;
  readonly definitions: ResolvedQueue[];
  queue(name: string): Queue;
  all(): Queue[];
  flows: FlowProducer;
  /** True when the producers' Redis connection is up (the API answers 503 otherwise). */
  isReady(): Promise<boolean>;
  close(): Promise<void>;
}

export function redisConnection(url: string, forWorker: boolean) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username || undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : undefined,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    // Producers fail fast so the API can answer 503; workers wait for Redis for ever (https://docs.bullmq.io/guide/going-to-production).
    enableOfflineQueue: forWorker,
    maxRetriesPerRequest: forWorker ? null : 1,
  };
}

/** Connects every producer handle; Redis must be reachable at boot (producers do not queue commands offline). */
export async function createQueueSet(redis: RedisConnectionOptions, definitions: ResolvedQueue[]): Promise<QueueSet> {
  const connection = redisConnection(redis.url, false);
  const queues = new Map(
    definitions.map((d) => {
      const queue = new Queue(d.name, { connection, prefix: redis.prefix, defaultJobOptions: d.defaultJobOptions });
      queue.on('error', () => undefined);
      return [d.name, queue] as const;
    }),
  );
  const flows = new FlowProducer({ connection, prefix: redis.prefix });
  flows.on('error', () => undefined);
  // A connection of our own for health checks: it answers "down" at once instead of queueing.
  const health = new Redis({ ...connection, lazyConnect: false });
  health.on('error', () => undefined);
  await Promise.all([...[...queues.values()].map((q) => q.waitUntilReady()), flows.waitUntilReady()]);
  return {
    prefix: redis.prefix,
    definitions,
    queue(name) {
      const queue = queues.get(name);
      if (!queue) throw new Error(`unknown queue ${name}`);
      return queue;
    },
    all: () => [...queues.values()],
    flows,
    async isReady() {
      if (health.status !== 'ready') return false;
      try {
        await health.ping();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close()));
      await flows.close();
      health.disconnect();
    },
  };
}
