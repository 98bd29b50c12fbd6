import { Inject, Injectable } from '@nestjs/common';
import { brokerUrlUser } from '../auth/broker-users';
import { NodeEnv } from '../config/repeater.env';
import { ORIGIN_HEADER, laneOf, topology } from '../contracts/topology';
import { AvailabilityState, StoredEntry } from '../domain/availability-state';
import { Entry, Notification, keyOf, toEntries } from '../domain/notification';
import { AmqpClient } from '../messaging/amqp-client';
import { FanoutBatcher } from '../messaging/fanout-batcher';
import { MetricsService } from '../metrics/metrics.service';
import { StateStoreService, Via } from './state-store.service';
import { AMQP_CLIENT, AVAILABILITY_STATE, NODE_ENV } from './tokens';

/** Wall-clock milliseconds with sub-millisecond precision, comparable across local processes. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * What consumers call: apply to the in-process cache (visible to lookups at once), persist to
 * Redis, and (for the first node to take an ingress notification) re-broadcast to every node.
 * Each method resolves only when its effects are durable, so the caller may then ack.
 */
@Injectable()
export class ReplicationService {
  private readonly t;
  /** Re-broadcasts by lane: ordinary to `<ns>.fanout`, urgent (priority 5-9) to `<ns>.fanout.urgent`, each batched on its own. */
  private readonly fanout: FanoutBatcher;
  private readonly fanoutUrgent: FanoutBatcher;
  /** This node's broker user, stamped on its re-broadcasts (RabbitMQ checks it; the other nodes check it names this node). */
  private readonly userId: string;
  private readonly listeners: ((changed: StoredEntry[], via: Via) => void)[] = [];

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AVAILABILITY_STATE) private readonly state: AvailabilityState,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    private readonly store: StateStoreService,
    private readonly metrics: MetricsService,
  ) {
    this.t = topology(env.FARM_NAMESPACE);
    this.userId = brokerUrlUser(env.RABBITMQ_URL);
    this.fanout = new FanoutBatcher((body, priority, count) => this.rebroadcast(this.t.fanoutExchange, body, priority, count), {
      linger: { maxMs: env.FANOUT_LINGER_MS, minRate: env.FANOUT_LINGER_MIN_RATE },
    });
    this.fanoutUrgent = new FanoutBatcher((body, priority, count) => this.rebroadcast(this.t.fanoutUrgentExchange, body, priority, count), { soon: true });
  }

  /** Called for every change of the local state (e.g. to count handshake news). */
  onChange(fn: (changed: StoredEntry[], via: Via) => void): void {
    this.listeners.push(fn);
  }

  /** Applies entries to the cache and persists those that changed it. */
  async apply(entries: Entry[], via: Via): Promise<StoredEntry[]> {
    const at = preciseNow();
    const changed: StoredEntry[] = [];
    let earlier: Promise<void>[] | undefined;
    for (const e of entries) {
      const s = this.state.apply(e);
      if (s) changed.push(s);
      else {
        // Already in the cache: its write may still be on its way (a redelivery during a Redis outage).
        const p = this.store.pendingFor(keyOf(e));
        if (p) (earlier ??= []).push(p);
      }
    }
    if (changed.length > 0) {
      this.metrics.applied.inc({ via }, changed.length);
      this.metrics.entries.set(this.state.count);
      if (via !== 'sync') for (const s of changed) this.metrics.lag.observe({ via }, Math.max(0, at - s.ts) / 1000);
      for (const l of this.listeners) l(changed, via);
    }
    await this.store.persist(changed, via, at);
    if (earlier) await Promise.all(earlier);
    return changed;
  }

  /**
   * First node to take a notification: apply, persist and re-broadcast (in parallel). Both must
   * finish before it settles: a failed re-broadcast is thrown (trouble, the consumer retries)
   * only once the write is stored, so a retry never acks ahead of the write.
   */
  async fromIngress(n: Notification): Promise<void> {
    const lane = laneOf(n.priority) === 'urgent' ? this.fanoutUrgent : this.fanout;
    const [stored, sent] = await Promise.allSettled([this.apply(toEntries(n), 'ingress'), lane.add(n)]);
    if (stored.status === 'rejected') throw stored.reason;
    if (sent.status === 'rejected') throw sent.reason;
  }

  /** Re-broadcast notifications from the first node: apply and persist; never re-broadcast again. */
  async fromFanout(batch: Notification[]): Promise<void> {
    await this.apply(batch.length === 1 ? toEntries(batch[0]) : batch.flatMap(toEntries), 'fanout');
  }

  private async rebroadcast(exchange: string, body: Buffer, priority: number, count: number): Promise<void> {
    try {
      await this.amqp.publish(exchange, '', body, {
        priority,
        contentType: 'application/json',
        userId: this.userId,
        headers: { [ORIGIN_HEADER]: this.env.NODE_ID, 'x-count': count },
      });
      this.metrics.published.inc({ exchange: 'fanout' });
    } catch (err) {
      this.metrics.publishFailed.inc({ exchange: 'fanout' });
      throw err;
    }
  }
}
