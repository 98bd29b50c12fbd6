import { DynamicModule, Logger, Module } from '@nestjs/common';
import { AMQP_CLIENT, AmqpClient, AttendantEnv, farmAuthProviders, DependencyCheck, FARM_ROUTES, FarmRoute, FarmServer, MetricsService, REDIS, createRedis, farmHealth, loadAttendantConfig, topology, brokerCheck } from '@farm/common';
import { ATTENDANT_REQUESTS, QueriesConsumer } from './messages/queries.consumer';
import type Redis from 'ioredis';
import { AttendantController } from './http/attendant.controller';
import { FailoverService } from './load/failover.service';
import { LoadService } from './load/load.service';
import { ProbeService } from './probes/probe.service';
import { RestartService } from './probes/restart.service';
import { AttendantService } from './serving/attendant.service';
import { ClockService } from './serving/clock.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from './tokens';

/** An attendant answers on the broker and keeps its clock in Redis. */
const health = farmHealth(
  (amqp: AmqpClient, redis: Redis): DependencyCheck[] => [
    brokerCheck(amqp),
    { name: 'redis', up: () => redis.status === 'ready', detail: () => ({ connection: redis.status }) },
  ],
  [AMQP_CLIENT, REDIS],
);

/** The poller's requests: on this server's own queue, which lives as long as the attendant's connection. */
function attendantRequests(env: AttendantEnv): FarmRoute {
  const queue = topology(env.FARM_NAMESPACE).attendantQueue(env.SERVER_ID);
  return { pattern: ATTENDANT_REQUESTS, queue, prefetch: 16, assert: (ch) => ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true }) };
}

/** One attendant: its validated configuration, clock, probes and the query it answers. */
@Module({})
export class AttendantModule {
  static forRoot(env: AttendantEnv): DynamicModule {
    // Read and validated before anything starts: a bad file stops the process with the list of problems.
    const config = loadAttendantConfig(env.ATTENDANT_CONFIG);
    return {
      module: AttendantModule,
      imports: [...health.imports],
      controllers: [AttendantController, QueriesConsumer, ...health.controllers],
      providers: [
        // Operator tokens on every route; the keyring this attendant signs and checks commands with.
        // Its clock is what the poller corrects, so it may be off until it is: the poller's
        // commands are checked within 30 s plus twice the largest correction, so that a clock
        // off by up to that much is still reached (and corrected up to the bound; see the
        // clock-sanity tests). Replays are still refused by their nonces, kept twice as long.
        ...farmAuthProviders(env, { id: env.SERVER_ID, redis: REDIS, clock: ClockService, windowMs: 30_000 + 2 * env.CLOCK_MAX_CORRECTION_MS }),
        ...health.providers,
        { provide: FARM_ROUTES, useFactory: (): FarmRoute[] => [attendantRequests(env)] },
        FarmServer,
        { provide: ATTENDANT_ENV, useValue: env },
        { provide: ATTENDANT_CONFIG, useValue: config },
        { provide: AMQP_CLIENT, useFactory: () => new AmqpClient({ url: env.RABBITMQ_URL, name: `attendant ${env.SERVER_ID}`, logger: new Logger('AMQP') }) },
        { provide: REDIS, useFactory: () => createRedis(env.REDIS_URL, new Logger('Redis'), `${env.FARM_NAMESPACE}.attendant.${env.SERVER_ID}`) },
        MetricsService,
        ClockService,
        RestartService,
        ProbeService,
        LoadService,
        FailoverService,
        AttendantService,
      ],
    };
  }
}
