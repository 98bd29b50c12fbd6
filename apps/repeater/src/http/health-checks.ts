import type Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, DependencyCheck, LifecycleService, REDIS, StateStoreService, farmHealth, brokerCheck } from '@farm/common';

/** A node is ready when it has the broker, can write to Redis, and has finished its first handshake. */
export const repeaterHealth = farmHealth(
  (amqp: AmqpClient, redis: Redis, store: StateStoreService, lifecycle: LifecycleService): DependencyCheck[] => [
    brokerCheck(amqp),
    {
      name: 'redis',
      up: () => !store.degraded,
      detail: () => ({ connection: redis.status, writes: store.writeTrouble === undefined ? 'ok' : `failing: ${store.writeTrouble.slice(0, 200)}` }),
    },
    { name: 'sync', up: () => lifecycle.status === 'ready', detail: () => ({ node: lifecycle.status }) },
  ],
  [AMQP_CLIENT, REDIS, StateStoreService, LifecycleService],
);
