import { DynamicModule, Global, Logger, Module } from '@nestjs/common';
import { COMMAND_SIGNER, KEYRING, REFUSAL_LOG, farmAuthProviders } from '../auth/farm-auth';
import { COMMAND_VERIFIER, OPERATOR_AUTH } from '../auth/operator.guard';
import { brokerUrlUser, brokerUser } from '../auth/broker-users';
import { ConfigError } from '../domain/errors';
import { dependencyMap, loadApplicationsConfig } from '../config/dependencies';
import { NodeEnv } from '../config/repeater.env';
import { topology } from '../contracts/topology';
import { AvailabilityState } from '../domain/availability-state';
import { AmqpClient } from '../messaging/amqp-client';
import { assertSharedTopology, routeIngressForNode } from '../messaging/farm-topology';
import { MetricsService } from '../metrics/metrics.service';
import { createRedis } from '../redis/redis-connection';
import { AvailabilityGuard } from './availability.guard';
import { AvailabilityService } from './availability.service';
import { NodeConsumers } from './consumers';
import { NodeMessagesConsumer } from './node-messages.consumer';
import { FARM_ROUTES, FarmRoute, FarmServer } from '../transport/farm-server';
import { LifecycleService } from './lifecycle.service';
import { RingService } from './ring.service';
import { ReplicationService } from './replication.service';
import { StateStoreService } from './state-store.service';
import { SyncService } from './sync.service';
import { AMQP_CLIENT, AVAILABILITY_STATE, FARM_CLOCK, NODE_ENV, QUEUE_FORMS, REDIS } from './tokens';
import { QueueForms } from './queue-forms';
import { QueueUpgradeService } from './queue-upgrade.service';
import { ClockFollower, clockServerId } from '../monitoring/clock-follower';
import type Redis from 'ioredis';

/**
 * Makes any NestJS app a repeater node: its in-process availability cache, kept current from
 * RabbitMQ, durable in Redis, synchronised with peers at start. Import it once with the node's
 * validated environment; inject AvailabilityService or use @RequiresAvailability with
 * AvailabilityGuard. Its messages come through the farm transport: the app connects it before
 * it starts (`bootstrapHttp(..., { transport: true })`, or
 * `app.connectMicroservice({ strategy: app.get(FarmServer) })` and `app.startAllMicroservices()`).
 * It also guards every route of the app with operator tokens (see OperatorGuard, FARM_AUTH).
 */
@Global()
@Module({})
export class AvailabilityModule {
  static forRoot(env: NodeEnv): DynamicModule {
    const deps = dependencyMap(loadApplicationsConfig(env.APP_DEPENDENCIES));
    const auth = farmAuthProviders(env, { id: env.NODE_ID, aliases: env.SERVER_ID ? [env.SERVER_ID] : [], redis: REDIS, clock: FARM_CLOCK });
    checkBrokerUser(env);
    return {
      module: AvailabilityModule,
      controllers: [NodeMessagesConsumer],
      providers: [
        // Who may do what: operator tokens on every route, and this node's signed commands.
        ...auth,
        { provide: FARM_ROUTES, inject: [NodeConsumers, SyncService], useFactory: (c: NodeConsumers, s: SyncService): FarmRoute[] => [...c.routes(), s.route()] },
        FarmServer,
        { provide: NODE_ENV, useValue: env },
        { provide: AVAILABILITY_STATE, useValue: new AvailabilityState(deps) },
        { provide: QUEUE_FORMS, useValue: new QueueForms() },
        {
          provide: AMQP_CLIENT,
          inject: [QUEUE_FORMS],
          useFactory: (forms: QueueForms) => {
            const client = new AmqpClient({ url: env.RABBITMQ_URL, name: `repeater ${env.NODE_ID}`, logger: new Logger('AMQP') });
            const t = topology(env.FARM_NAMESPACE);
            client.addSetup(async (ch, conn) => {
              forms.ingress = await assertSharedTopology(ch, t, conn, (m) => new Logger('AMQP').warn(m));
              await routeIngressForNode(ch, t, forms.ingress);
            });
            return client;
          },
        },
        { provide: REDIS, useFactory: () => createRedis(env.REDIS_URL, new Logger('Redis'), `${env.FARM_NAMESPACE}.repeater.${env.NODE_ID}`) },
        {
          provide: FARM_CLOCK,
          inject: [REDIS],
          useFactory: (redis: Redis) => {
            const follower = new ClockFollower(redis, env.FARM_NAMESPACE, clockServerId(env.SERVER_ID, env.NODE_ID));
            follower.start();
            return follower;
          },
        },
        MetricsService,
        StateStoreService,
        ReplicationService,
        RingService,
        NodeConsumers,
        QueueUpgradeService,
        SyncService,
        LifecycleService,
        AvailabilityService,
        AvailabilityGuard,
      ],
      exports: [QueueUpgradeService, OPERATOR_AUTH, KEYRING, REFUSAL_LOG, COMMAND_SIGNER, COMMAND_VERIFIER, NODE_ENV, AVAILABILITY_STATE, AMQP_CLIENT, REDIS, FARM_CLOCK, MetricsService, AvailabilityService, AvailabilityGuard, LifecycleService, SyncService, RingService, StateStoreService, FarmServer],
    };
  }
}

/**
 * With per-process broker users, a node must connect as its own user: its re-broadcasts carry
 * that user as `user_id`, and the other nodes accept them only from the user of the node they name.
 */
function checkBrokerUser(env: NodeEnv): void {
  if (env.FARM_AUTH === 'off' || env.FARM_BROKER_USERS === 'shared') return;
  const expected = brokerUser(env.FARM_NAMESPACE, 'node', env.NODE_ID);
  const actual = brokerUrlUser(env.RABBITMQ_URL);
  if (actual !== expected) {
    throw new ConfigError(`RABBITMQ_URL connects as broker user ${actual}, but with FARM_BROKER_USERS=per-process node ${env.NODE_ID} must connect as ${expected} (create the farm's users with scripts/broker-users.js), or set FARM_BROKER_USERS=shared`);
  }
}
