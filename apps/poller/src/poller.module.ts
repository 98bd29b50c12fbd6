import { DynamicModule, Logger, Module } from '@nestjs/common';
import { hostname } from 'node:os';
import { AMQP_CLIENT, AmqpClient, DependencyCheck, farmAuthProviders, MetricsService, PollerEnv, REDIS, assertSharedTopology, createRedis, farmHealth, pollerOptions, topology, brokerCheck } from '@farm/common';
import type Redis from 'ioredis';
import { HealthController } from './http/health.controller';
import { RefusalsController } from './http/refusals.controller';
import { ServersController } from './http/servers.controller';
import { PollerService } from './polling/poller.service';
import { POLLER_ENV } from './tokens';

/** The poller needs the broker (queries, notifications) and Redis (its lists, its lease). */
const health = farmHealth(
  (amqp: AmqpClient, redis: Redis, poller: PollerService): DependencyCheck[] => [
    brokerCheck(amqp),
    {
      name: 'redis',
      up: () => redis.status === 'ready' && poller.redisTrouble === undefined,
      detail: () => ({ connection: redis.status, writes: poller.redisTrouble === undefined ? 'ok' : `failing: ${poller.redisTrouble.slice(0, 200)}` }),
    },
  ],
  [AMQP_CLIENT, REDIS, PollerService],
);

/** The poller: lists in Redis, one query per server due, notifications through ingress. */
@Module({})
export class PollerModule {
  static forRoot(env: PollerEnv): DynamicModule {
    pollerOptions(env); // a bad interval list stops the app at boot, naming the variable
    return {
      module: PollerModule,
      imports: [...health.imports],
      controllers: [ServersController, RefusalsController, HealthController, ...health.controllers],
      providers: [
        // Operator tokens on every route; the keyring this poller signs its commands to attendants with.
        ...farmAuthProviders(env, { id: env.POLLER_ID ?? `poller-${hostname()}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128), redis: REDIS }),
        ...health.providers,
        { provide: POLLER_ENV, useValue: env },
        {
          provide: AMQP_CLIENT,
          useFactory: () => {
            const c = new AmqpClient({ url: env.RABBITMQ_URL, name: 'poller', logger: new Logger('AMQP') });
            c.addSetup((ch, conn) => assertSharedTopology(ch, topology(env.FARM_NAMESPACE), conn, (m) => new Logger('AMQP').warn(m)));
            return c;
          },
        },
        { provide: REDIS, useFactory: () => createRedis(env.REDIS_URL, new Logger('Redis'), `${env.FARM_NAMESPACE}.poller`) },
        MetricsService,
        PollerService,
      ],
    };
  }
}
