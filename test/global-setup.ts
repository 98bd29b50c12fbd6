import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { resolveBrokers } from '../libs/common/src/testing/brokers';

/** Resolves RabbitMQ and Redis once for the integration suites, or fails naming what is missing. */
export default async function globalSetup(): Promise<void> {
  if (!existsSync(join(__dirname, '..', 'dist', 'apps', 'repeater', 'main.js'))) {
    throw new Error('integration tests run the built apps: run `npm run build` first (npm test does)');
  }
  const brokers = await resolveBrokers();
  process.env.RABBITMQ_URL = brokers.rabbitmqUrl;
  process.env.REDIS_URL = brokers.redisUrl;
  (globalThis as { __brokersStop?: () => Promise<void> }).__brokersStop = brokers.stop;
}
