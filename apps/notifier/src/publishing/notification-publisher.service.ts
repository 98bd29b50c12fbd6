import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, BrokerUnavailableError, ClockFollower, FARM_CLOCK, FarmClient, MetricsService, NotifierEnv, REDIS, TimeBounds, ingressClient, parseNotification, publishToIngress } from '@farm/common';

export const NOTIFIER_ENV = Symbol('NOTIFIER_ENV');

/** Validates a notification, stamps id and timestamp, and publishes it to ingress with a confirm. */
@Injectable()
export class NotificationPublisher implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly ingress: FarmClient;
  private readonly bounds: TimeBounds;

  constructor(
    @Inject(NOTIFIER_ENV) env: NotifierEnv,
    @Inject(AMQP_CLIENT) readonly amqp: AmqpClient,
    private readonly metrics: MetricsService,
    @Inject(FARM_CLOCK) private readonly clock: ClockFollower,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.ingress = ingressClient(amqp, env.FARM_NAMESPACE);
    this.bounds = { now: () => this.clock.clock.now(), maxFutureMs: env.MAX_FUTURE_MS, retentionMs: env.RETENTION_MS };
  }

  onApplicationBootstrap(): void {
    // Connect in the background: the API answers 503 until the broker is there.
    void this.amqp.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.clock.stop();
    await this.amqp.stop();
    this.redis.disconnect();
  }

  /** Resolves with the id and timestamp only once the broker has confirmed the message. */
  async publish(body: Buffer | unknown): Promise<{ id: string; timestamp: string }> {
    // Stamped by this server's corrected clock when the body carries no timestamp.
    const n = parseNotification(body, { now: () => this.clock.clock.date(), bounds: this.bounds });
    if (!this.amqp.connected) throw new BrokerUnavailableError('RabbitMQ is not connected');
    try {
      await publishToIngress(this.ingress, n);
      this.metrics.published.inc({ exchange: 'ingress' });
    } catch (err) {
      this.metrics.publishFailed.inc({ exchange: 'ingress' });
      throw err;
    }
    return { id: n.id, timestamp: n.timestamp };
  }
}
