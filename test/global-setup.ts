import { resolveBrokers } from '../libs/common/src/testing/brokers';

/** Resolves RabbitMQ and Redis once for the integration suites, or fails naming what is missing. */
export default async function globalSetup(): Promise<void> {
  const brokers = await resolveBrokers();
  process.env.RABBITMQ_URL = brokers.rabbitmqUrl;
  process.env.REDIS_URL = brokers.redisUrl;
  (globalThis as { __brokersStop?: () => Promise<void> }).__brokersStop = brokers.stop;
}
