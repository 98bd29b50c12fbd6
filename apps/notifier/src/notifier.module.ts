import { DynamicModule, Logger, Module } from '@nestjs/common';
import { AMQP_CLIENT, AmqpClient, farmAuthProviders, ClockFollower, DependencyCheck, FARM_CLOCK, MetricsService, NotifierEnv, REDIS, assertSharedTopology, clockServerId, createRedis, farmHealth, topology, brokerCheck } from '@farm/common';
import type Redis from 'ioredis';
import { HealthController } from './http/health.controller';
import { NotificationsController } from './http/notifications.controller';
import { NOTIFIER_ENV, NotificationPublisher } from './publishing/notification-publisher.service';

/** The notifier's one dependency for accepting notifications is the broker (Redis only carries its clock correction). */
const health = farmHealth((amqp: AmqpClient): DependencyCheck[] => [brokerCheck(amqp)], [AMQP_CLIENT]);

@Module({})
export class NotifierModule {
  static forRoot(env: NotifierEnv): DynamicModule {
    return {
      module: NotifierModule,
      imports: [...health.imports],
      controllers: [NotificationsController, HealthController, ...health.controllers],
      providers: [
        ...farmAuthProviders(env),
        ...health.providers,
        { provide: NOTIFIER_ENV, useValue: env },
        {
          provide: AMQP_CLIENT,
          useFactory: () => {
            const c = new AmqpClient({ url: env.RABBITMQ_URL, name: 'notifier', logger: new Logger('AMQP'), confirmTimeoutMs: env.PUBLISH_TIMEOUT_MS });
            c.addSetup((ch, conn) => assertSharedTopology(ch, topology(env.FARM_NAMESPACE), conn, (m) => new Logger('AMQP').warn(m)));
            return c;
          },
        },
        { provide: REDIS, useFactory: () => createRedis(env.REDIS_URL, new Logger('Redis'), `${env.FARM_NAMESPACE}.notifier`) },
        {
          provide: FARM_CLOCK,
          inject: [REDIS],
          useFactory: (redis: Redis) => {
            const follower = new ClockFollower(redis, env.FARM_NAMESPACE, clockServerId(env.SERVER_ID));
            follower.start();
            return follower;
          },
        },
        MetricsService,
        NotificationPublisher,
      ],
    };
  }
}
