import { tcpReachable } from '../monitoring/load-sample';

export const DEFAULT_RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** Whether a TCP listener answers at the host and port of a URL within the timeout. */
export function reachable(url: string, defaultPort: number, timeoutMs = 2000): Promise<boolean> {
  const u = new URL(url);
  return tcpReachable(u.hostname, u.port ? Number(u.port) : defaultPort, timeoutMs);
}

export interface BrokerUrls {
  rabbitmqUrl: string;
  redisUrl: string;
  /** Stops containers started for the run, if any. */
  stop: () => Promise<void>;
}

const HOWTO = {
  rabbitmq: 'start it with `rabbitmq-server -detached` (or `docker compose up -d rabbitmq`), or set RABBITMQ_URL',
  redis: 'start it with `redis-server --daemonize yes --bind 127.0.0.1 --port 6379` (or `docker compose up -d redis`), or set REDIS_URL',
};

/**
 * Broker URLs for tests and benchmarks: the environment's, else the local defaults, else
 * containers started with testcontainers where a Docker engine answers, else an error that
 * names what is missing and how to start it.
 */
export async function resolveBrokers(env: NodeJS.ProcessEnv = process.env): Promise<BrokerUrls> {
  const rabbitmqUrl = env.RABBITMQ_URL || DEFAULT_RABBITMQ_URL;
  const redisUrl = env.REDIS_URL || DEFAULT_REDIS_URL;
  const [mqOk, redisOk] = await Promise.all([reachable(rabbitmqUrl, 5672), reachable(redisUrl, 6379)]);
  if (mqOk && redisOk) return { rabbitmqUrl, redisUrl, stop: async () => undefined };

  const stops: (() => Promise<unknown>)[] = [];
  let mq = mqOk ? rabbitmqUrl : undefined;
  let redis = redisOk ? redisUrl : undefined;
  const dockerError = await (async (): Promise<string | undefined> => {
    try {
      // Optional: only where a Docker engine answers.
      const tc = await import('testcontainers');
      if (!mq && !env.RABBITMQ_URL) {
        const c = await new tc.GenericContainer('rabbitmq:3.13-alpine').withExposedPorts(5672).withWaitStrategy(tc.Wait.forLogMessage('Server startup complete')).start();
        stops.push(() => c.stop());
        mq = `amqp://guest:guest@${c.getHost()}:${c.getMappedPort(5672)}`;
      }
      if (!redis && !env.REDIS_URL) {
        const c = await new tc.GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
        stops.push(() => c.stop());
        redis = `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
      }
      return undefined;
    } catch (err) {
      return (err as Error).message.split('\n')[0];
    }
  })();
  if (mq && redis) return { rabbitmqUrl: mq, redisUrl: redis, stop: async () => void (await Promise.all(stops.map((s) => s()))) };
  const missing: string[] = [];
  if (!mq) missing.push(`RabbitMQ is not reachable at ${rabbitmqUrl}: ${HOWTO.rabbitmq}`);
  if (!redis) missing.push(`Redis is not reachable at ${redisUrl}: ${HOWTO.redis}`);
  await Promise.all(stops.map((s) => s()));
  throw new Error(`${missing.join('\n')}\n(no Docker engine for testcontainers either${dockerError ? `: ${dockerError}` : ''})`);
}

/** A namespace of its own for one suite or run, so runs never meet on a shared broker. */
export function uniqueNamespace(prefix: string): string {
  return `t-${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
}
