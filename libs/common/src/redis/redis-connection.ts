import Redis from 'ioredis';
import { LoggerLike, describeUrl } from '../logging';

const HOW_TO_START = 'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379` (or `docker compose up -d redis`) or point REDIS_URL at a running server';

/**
 * An ioredis client that keeps commands queued while disconnected (so a write waits for Redis
 * instead of failing) and reconnects forever, complaining clearly when Redis is missing.
 */
export function createRedis(url: string, log: LoggerLike, name = 'farm'): Redis {
  let failures = 0;
  let lastComplaint = 0;
  const redis = new Redis(url, {
    connectionName: name.replace(/\s+/g, '-'),
    lazyConnect: true,
    maxRetriesPerRequest: null,
    enableAutoPipelining: true,
    connectTimeout: 5000,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  });
  redis.on('error', (err: Error) => {
    failures++;
    const now = Date.now();
    if (failures === 1 || now - lastComplaint > 30_000) {
      lastComplaint = now;
      log.error(`Redis is not reachable at ${describeUrl(url)} (${err.message}); ${HOW_TO_START}. Retrying.`);
    }
  });
  redis.on('ready', () => {
    if (failures > 0) log.log('connected to Redis');
    failures = 0;
  });
  return redis;
}

/** Connects, resolving at the first successful connection (ioredis keeps retrying meanwhile). */
export async function connectRedis(redis: Redis): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') void redis.connect().catch(() => undefined);
  await new Promise<void>((resolve) => redis.once('ready', () => resolve()));
}
