import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, OnApplicationBootstrap, Optional } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { NodeEnv } from '../config/repeater.env';
import { ORIGIN_HEADER, topology } from '../contracts/topology';
import { OriginPolicy, originRefusal } from '../auth/broker-users';
import { REFUSAL_LOG } from '../auth/farm-auth';
import { RefusalLog } from '../auth/refusal-log';
import { PoisonMessageError } from '../domain/errors';
import { TimeBounds, amqpTimestamp, parseJson, parseNotification } from '../contracts/validation';
import { MAX_REBROADCAST_BYTES, decodeRebroadcast } from '../messaging/fanout-batcher';
import { safe } from '../logging';
import { AmqpClient } from '../messaging/amqp-client';
import { deadLetter } from '../messaging/dead-letter';
import { assertNodeQueues, nodeQueueOptions } from '../messaging/farm-topology';
import { Delivery, Subscription } from '../messaging/subscription';
import { INGRESS, INGRESS_URGENT } from '../messaging/ingress';
import { FarmRoute, FarmServer } from '../transport/farm-server';
import { MetricsService } from '../metrics/metrics.service';
import { ReplicationService } from './replication.service';
import { StateStoreService } from './state-store.service';
import { AMQP_CLIENT, FARM_CLOCK, NODE_ENV, QUEUE_FORMS } from './tokens';
import { QueueForms } from './queue-forms';
import type { ClockFollower } from '../monitoring/clock-follower';

/**
 * The ordinary lanes start what they hold this many deliveries per event-loop turn, so an urgent
 * delivery read behind a full prefetch of ordinary ones is applied before them, not after.
 */
export const ORDINARY_SLICE = 16;

/** The farm-transport pattern of re-broadcasts, consumed from this node's own queue. */
export const NODE_FANOUT = 'notification.fanout';
/** Urgent re-broadcasts, consumed from this node's urgent queue beside the ordinary one. */
export const NODE_FANOUT_URGENT = 'notification.fanout.urgent';

/**
 * The AMQP consumers of a node (their handlers are NodeMessagesConsumer's `@EventPattern`s;
 * their routes are here): ingress and its urgent twin, the node's queue and its urgent twin.
 * The twins are consumed beside the ordinary queues, so an urgent notification overtakes any
 * backlog there. Same shape for all: validate, call one service; the transport acks when it
 * resolves. Poison (invalid, too large, out-of-bounds times) is thrown and dead-lettered with
 * its reason; trouble (Redis, the broker) is retried by the subscription until it succeeds. All
 * start paused: the node's start-up sequence resumes them.
 */
@Injectable()
export class NodeConsumers implements OnApplicationBootstrap {
  private readonly log = new Logger('Consumers');
  private readonly t;
  /** Messages taken from the node queue since start (to know when the backlog is done). */
  fanoutHandled = 0;
  /** Time bounds of ingress notifications, built once (the hot path reads them per message). */
  private readonly bounds: TimeBounds;
  /** Who may re-broadcast (undefined with FARM_AUTH=off: anyone on the fanout). */
  private readonly origin?: OriginPolicy;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(FARM_CLOCK) private readonly clock: ClockFollower,
    @Inject(QUEUE_FORMS) private readonly forms: QueueForms,
    private readonly replication: ReplicationService,
    private readonly metrics: MetricsService,
    private readonly store: StateStoreService,
    private readonly moduleRef: ModuleRef,
    @Optional() @Inject(REFUSAL_LOG) private readonly refusals?: RefusalLog,
  ) {
    this.t = topology(env.FARM_NAMESPACE);
    this.origin = env.FARM_AUTH === 'off' ? undefined : { ns: env.FARM_NAMESPACE, mode: env.FARM_BROKER_USERS };
    if (this.origin?.mode === 'shared') this.log.warn('FARM_BROKER_USERS=shared: a re-broadcast is accepted from any broker user allowed on the fanout exchange if it names its origin (give each process its own user: scripts/broker-users.js)');
    this.bounds = { now: () => this.clock.clock.now(), maxFutureMs: env.MAX_FUTURE_MS, retentionMs: env.RETENTION_MS };
  }

  /** The node's consumers as farm-transport routes; all start paused (the start-up sequence resumes them). */
  routes(): FarmRoute[] {
    const events = {
      onTrouble: (queue: string) => {
        this.metrics.consumerTrouble.inc({ queue: this.role(queue) });
        this.metrics.consumerPaused.set({ queue: this.role(queue) }, 1);
      },
      onRecovered: (queue: string) => this.metrics.consumerPaused.set({ queue: this.role(queue) }, 0),
    };
    const { t } = this;
    const id = this.env.NODE_ID;
    const route = (pattern: string, queue: string, more: Partial<FarmRoute> = {}): FarmRoute => ({
      pattern, queue, prefetch: this.env.PREFETCH, paused: true, events,
      refuse: (d, reason) => this.refuse(d, queue, reason),
      ...more,
    });
    const fanoutRefuse = (queue: string) => async (d: Delivery, reason: string): Promise<void> => {
      await this.refuse(d, queue, reason);
      this.fanoutHandled++;
    };
    const urgent = t.nodeUrgentQueue(id);
    return [
      route(NODE_FANOUT, t.nodeQueue(id), {
        assert: async (ch, conn) => {
          this.forms.node = await assertNodeQueues(ch, conn, t, id, this.env.NODE_QUEUE_EXPIRES_MS);
        },
        refuse: fanoutRefuse(t.nodeQueue(id)),
        yieldEvery: ORDINARY_SLICE,
      }),
      route(NODE_FANOUT_URGENT, urgent, {
        assert: async (ch) => {
          await ch.assertQueue(urgent, nodeQueueOptions(t, this.env.NODE_QUEUE_EXPIRES_MS));
          await ch.bindQueue(urgent, t.fanoutUrgentExchange, '');
        },
        refuse: fanoutRefuse(urgent),
      }),
      route(INGRESS, t.ingressQueue, { yieldEvery: ORDINARY_SLICE }),
      route(INGRESS_URGENT, t.ingressUrgentQueue),
    ];
  }

  /** The consumer of `<ns>.ingress` (through the farm transport). */
  get ingress(): Subscription {
    return this.farm().subscription(INGRESS);
  }

  /** The consumer of `<ns>.ingress.urgent`. */
  get ingressUrgent(): Subscription {
    return this.farm().subscription(INGRESS_URGENT);
  }

  /** The consumer of this node's queue, fed by the fanout (through the farm transport). */
  get fanout(): Subscription {
    return this.farm().subscription(NODE_FANOUT);
  }

  /** The consumer of this node's urgent queue. */
  get fanoutUrgent(): Subscription {
    return this.farm().subscription(NODE_FANOUT_URGENT);
  }

  /** The four consumers, each a Subscription. */
  get all(): Subscription[] {
    return [this.fanout, this.fanoutUrgent, this.ingress, this.ingressUrgent];
  }

  private farm(): FarmServer {
    return this.moduleRef.get(FarmServer, { strict: false });
  }

  /**
   * While the store cannot write, the consumers stop taking new deliveries (those in hand keep
   * retrying their write); they take up again as soon as a write succeeds.
   */
  onApplicationBootstrap(): void {
    this.store.onWriteTrouble((failing) => {
      for (const sub of this.all) {
        void (failing ? sub.hold('redis') : sub.release('redis')).catch(() => undefined);
        this.metrics.consumerPaused.set({ queue: this.role(sub.queue) }, failing ? 1 : 0);
      }
    });
  }

  /** The `queue` label of a queue's metrics: ingress, ingress-urgent, node, node-urgent. */
  private role(queue: string): string {
    if (queue === this.t.ingressQueue) return 'ingress';
    if (queue === this.t.ingressUrgentQueue) return 'ingress-urgent';
    return queue === this.t.nodeUrgentQueue(this.env.NODE_ID) ? 'node-urgent' : 'node';
  }

  /** Dead-letters a poison message with its reason (confirmed), then acks it. */
  private async refuse(d: Delivery, queue: string, reason: string): Promise<void> {
    await deadLetter(this.amqp, this.t.deadLetterExchange, d, queue, reason);
    this.metrics.deadLettered.inc({ queue: this.role(queue) });
    this.log.warn(`dead-lettered a message from ${queue}: ${safe(reason.slice(0, 200))}`);
  }

  async onIngress(d: Delivery): Promise<void> {
    this.metrics.received.inc({ queue: 'ingress' });
    const props = d.msg.properties;
    const stamped = amqpTimestamp(props.timestamp);
    const n = parseNotification(d.content, {
      priority: typeof props.priority === 'number' ? Math.min(9, Math.max(0, props.priority)) : undefined,
      // Deterministic defaults, so a redelivered message yields the same id.
      newId: () => (typeof props.messageId === 'string' && props.messageId.length > 0 && props.messageId.length <= 128 ? props.messageId : createHash('sha256').update(d.content).digest('hex').slice(0, 32)),
      now: () => stamped ?? this.clock.clock.date(),
      bounds: this.bounds,
    });
    await this.replication.fromIngress(n);
  }

  /**
   * Re-broadcasts come from the node that took the notification, which already checked its time
   * bounds; they are not checked again here, so every node applies exactly the same set.
   *
   * The fanout brings a node its own re-broadcasts too. Those it acks unread (once their origin
   * is checked): it applied every notification in them before it sent them, and stored them
   * before it acked their ingress; if it stopped before storing, the ingress is delivered again
   * and the notification comes back through whichever node takes it.
   */
  async onFanout(d: Delivery): Promise<void> {
    this.metrics.received.inc({ queue: 'node' });
    const props = d.msg.properties;
    const origin: unknown = props.headers?.[ORIGIN_HEADER];
    if (this.origin) {
      const refused = originRefusal(origin, props.userId, this.origin);
      if (refused) {
        this.metrics.rebroadcastsRefused.inc();
        this.refusals?.record({ receiver: this.env.NODE_ID, command: 'rebroadcast', reason: 'origin', message: refused, claimedSender: typeof origin === 'string' ? origin : undefined });
        throw new PoisonMessageError(refused);
      }
    }
    if (origin === this.env.NODE_ID) {
      this.metrics.ownRebroadcasts.inc();
      this.fanoutHandled++;
      return;
    }
    const batch = decodeRebroadcast(parseJson(d.content, MAX_REBROADCAST_BYTES)).map((v) => parseNotification(v, { requireIdentity: true }));
    await this.replication.fromFanout(batch);
    this.fanoutHandled++;
  }
}
