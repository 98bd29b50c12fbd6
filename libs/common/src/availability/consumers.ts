import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { NodeEnv } from '../config/repeater.env';
import { topology } from '../contracts/topology';
import { MAX_NOTIFICATION_BYTES } from '../contracts/notification.dto';
import { parseJson, parseNotification } from '../contracts/validation';
import { MAX_BATCH, decodeRebroadcast } from '../messaging/fanout-batcher';
import { InvalidNotificationError } from '../domain/errors';
import { AmqpClient } from '../messaging/amqp-client';
import { deadLetter } from '../messaging/dead-letter';
import { assertNodeQueue } from '../messaging/farm-topology';
import { Delivery, Subscription } from '../messaging/subscription';
import { MetricsService } from '../metrics/metrics.service';
import { ReplicationService } from './replication.service';
import { AMQP_CLIENT, FARM_CLOCK, NODE_ENV } from './tokens';
import type { ClockFollower } from '../monitoring/clock-follower';

/** A re-broadcast batch may hold up to MAX_BATCH notifications of the contract's size. */
const MAX_REBROADCAST_BYTES = MAX_BATCH * MAX_NOTIFICATION_BYTES;

/**
 * The two AMQP consumers of a node. Same shape for both: validate, call one service, then ack;
 * invalid input is dead-lettered with its reason; anything else that fails is retried once by
 * the subscription's policy. Both start paused: the node's start-up sequence resumes them.
 */
@Injectable()
export class NodeConsumers implements OnModuleInit {
  private readonly log = new Logger('Consumers');
  private readonly t;
  ingress!: Subscription;
  fanout!: Subscription;
  /** Messages taken from the node queue since start (to know when the backlog is done). */
  fanoutHandled = 0;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(FARM_CLOCK) private readonly clock: ClockFollower,
    private readonly replication: ReplicationService,
    private readonly metrics: MetricsService,
  ) {
    this.t = topology(env.FARM_NAMESPACE);
  }

  onModuleInit(): void {
    this.fanout = this.amqp.subscribe({
      queue: this.t.nodeQueue(this.env.NODE_ID),
      prefetch: this.env.PREFETCH,
      paused: true,
      assert: (ch) => assertNodeQueue(ch, this.t, this.env.NODE_ID, this.env.NODE_QUEUE_EXPIRES_MS),
      handler: (d) => this.onFanout(d),
    });
    this.ingress = this.amqp.subscribe({
      queue: this.t.ingressQueue,
      prefetch: this.env.PREFETCH,
      paused: true,
      handler: (d) => this.onIngress(d),
    });
  }

  private async refuse(d: Delivery, queue: string, err: unknown): Promise<boolean> {
    if (!(err instanceof InvalidNotificationError)) return false;
    this.metrics.deadLettered.inc({ queue });
    this.log.warn(`dead-lettering a message from ${queue}: ${err.message.slice(0, 200)}`);
    await deadLetter(this.amqp, this.t.deadLetterExchange, d, queue, err.message);
    return true;
  }

  async onIngress(d: Delivery): Promise<void> {
    this.metrics.received.inc({ queue: 'ingress' });
    const props = d.msg.properties;
    let n;
    try {
      n = parseNotification(d.content, {
        priority: typeof props.priority === 'number' ? Math.min(9, Math.max(0, props.priority)) : undefined,
        // Deterministic defaults, so a redelivered message yields the same id.
        newId: () => (typeof props.messageId === 'string' && props.messageId.length > 0 && props.messageId.length <= 128 ? props.messageId : createHash('sha256').update(d.content).digest('hex').slice(0, 32)),
        now: () => (typeof props.timestamp === 'number' && props.timestamp > 0 ? new Date(props.timestamp * 1000) : this.clock.clock.date()),
      });
    } catch (err) {
      if (await this.refuse(d, this.t.ingressQueue, err)) return;
      throw err;
    }
    await this.replication.fromIngress(n);
    d.ack();
  }

  async onFanout(d: Delivery): Promise<void> {
    this.metrics.received.inc({ queue: 'node' });
    let batch;
    try {
      batch = decodeRebroadcast(parseJson(d.content, MAX_REBROADCAST_BYTES)).map((v) => parseNotification(v, { requireIdentity: true }));
    } catch (err) {
      if (await this.refuse(d, this.t.nodeQueue(this.env.NODE_ID), err)) {
        this.fanoutHandled++;
        return;
      }
      throw err;
    }
    await this.replication.fromFanout(batch);
    this.fanoutHandled++;
    d.ack();
  }
}
