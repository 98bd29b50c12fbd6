import { DynamicModule, Logger, Module } from '@nestjs/common';
import { AMQP_CLIENT, AmqpClient, MetricsService, PollerEnv, REDIS, assertSharedTopology, createRedis, pollerOptions, topology } from '@farm/common';
import { HealthController } from './http/health.controller';
import { ServersController } from './http/servers.controller';
import { PollerService } from './polling/poller.service';
import { POLLER_ENV } from './tokens';

/** The poller: lists in Redis, one query per server due, notifications through ingress. */
@Module({})
export class PollerModule {
  static forRoot(env: PollerEnv): DynamicModule {
    pollerOptions(env); // a bad interval list stops the app at boot, naming the variable
    return {
      module: PollerModule,
      controllers: [ServersController, HealthController],
      providers: [
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
