import { BeforeApplicationShutdown, Inject, Injectable, Logger } from '@nestjs/common';
import type * as amqp from 'amqplib';
import type Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { INGRESS_ROUTING_KEY, Topology, topology } from '../contracts/topology';
import { AmqpClient } from '../messaging/amqp-client';
import { QueueForm, ingressQueueOptions, isLegacyPriorityConflict, nodeQueueOptions, routeIngressForNode } from '../messaging/farm-topology';
import { Subscription } from '../messaging/subscription';
import { NodeConsumers } from './consumers';
import { QueueForms } from './queue-forms';
import { AMQP_CLIENT, NODE_ENV, QUEUE_FORMS, REDIS } from './tokens';

/** How often a legacy queue is looked at while it drains. */
export const UPGRADE_STEP_MS = 1000;
/** The ingress drainer's lease in Redis; renewed every step. */
export const UPGRADE_LEASE_MS = 15_000;

const RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
const RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** Redis key of the lease held by the node that drains a legacy `<ns>.ingress`. */
export function ingressUpgradeKey(ns: string): string {
  return `${ns}:upgrade:ingress`;
}

/**
 * Replaces the queues of an earlier version (declared with `x-max-priority`, which RabbitMQ
 * will not re-declare without) by this version's, losing nothing. The declarations have already
 * bound each legacy queue's urgent twin where the legacy queue was bound, and unbound the legacy
 * queue, so it only drains. Then, once a step finds it empty:
 *
 * - this node's `<ns>.node.<id>`: only this node consumes it. Its consumer pauses, lets what it
 *   holds finish, and the queue is deleted only if empty and unused (the broker checks both),
 *   declared anew, bound, and consumed again; the twin is unbound from the ordinary fanout.
 * - the shared `<ns>.ingress`: one node at a time drains it, the holder of a lease in Redis
 *   (the others take ingress from the twin meanwhile). The holder deletes it the same way;
 *   while a node of the earlier version still consumes it, the broker refuses (in use) and the
 *   holder keeps draining. Once it is replaced, every node consumes the new one.
 *
 * Whatever fails (the broker, Redis, a refusal) is retried at the next step: each step starts
 * from what the broker says.
 */
@Injectable()
export class QueueUpgradeService implements BeforeApplicationShutdown {
  private readonly log = new Logger('Upgrade');
  private readonly t: Topology;
  private timer?: NodeJS.Timeout;
  private running = false;
  private stopped = false;
  private started = false;
  private holding = false;
  /** Legacy queues replaced since start (for health and tests). */
  readonly replaced: string[] = [];

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(QUEUE_FORMS) private readonly forms: QueueForms,
    private readonly consumers: NodeConsumers,
  ) {
    this.t = topology(env.FARM_NAMESPACE);
  }

  /** Queues this node still has to replace. */
  get pending(): string[] {
    return this.forms.legacy.map((k) => (k === 'ingress' ? this.t.ingressQueue : this.t.nodeQueue(this.env.NODE_ID)));
  }

  /**
   * Starts taking ingress (the urgent twin always; `<ns>.ingress` once it is current, or while
   * this node drains it) and replacing legacy queues. Called by the start-up sequence, after the
   * node's own queues caught up.
   */
  async startIngress(): Promise<void> {
    this.started = true;
    await this.consumers.ingressUrgent.resume();
    if (this.forms.ingress === 'current') await this.consumers.ingress.resume();
    for (const k of this.forms.legacy) this.log.warn(`${k === 'ingress' ? this.t.ingressQueue : this.t.nodeQueue(this.env.NODE_ID)} is an earlier version's queue (with priorities): draining it, then replacing it`);
    this.amqp.on('connected', () => this.kick());
    this.kick();
  }

  private kick(): void {
    if (this.stopped || !this.started || this.timer || this.running || this.forms.legacy.length === 0) return;
    this.timer = setTimeout(() => void this.step(), 0);
    this.timer.unref();
  }

  private async step(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      if (this.forms.node === 'legacy') await this.stepNode();
      if (this.forms.ingress === 'legacy') await this.stepIngress();
    } catch (err) {
      this.log.warn(`upgrade step failed, trying again: ${(err as Error).message}`);
    } finally {
      this.running = false;
    }
    if (!this.stopped && this.forms.legacy.length > 0) {
      this.timer = setTimeout(() => void this.step(), UPGRADE_STEP_MS);
      this.timer.unref();
    }
  }

  /** Messages ready in a queue, or undefined if it is gone. */
  private depth(queue: string): Promise<number | undefined> {
    return this.amqp.withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount).catch((err: Error) => {
      if (/NOT_FOUND|404/.test(err.message)) return undefined;
      throw err;
    });
  }

  /** Deletes a queue only if the broker finds it empty and without consumers; false if it refuses. */
  private deleteIfDone(queue: string): Promise<boolean> {
    return this.amqp.withChannel((ch) => ch.deleteQueue(queue, { ifEmpty: true, ifUnused: true })).then(
      () => true,
      (err: Error) => {
        if (/PRECONDITION|406/.test(err.message)) return false;
        throw err;
      },
    );
  }

  /** Declares a queue in this version's form (creating it if it is gone); `legacy` while an earlier version's is still there. */
  private declare(queue: string, options: amqp.Options.AssertQueue): Promise<QueueForm> {
    return this.amqp.withChannel((ch) => ch.assertQueue(queue, options)).then(
      (): QueueForm => 'current',
      (err: Error) => {
        if (isLegacyPriorityConflict(err.message)) return 'legacy';
        throw err;
      },
    );
  }

  private async stepNode(): Promise<void> {
    const queue = this.t.nodeQueue(this.env.NODE_ID);
    const urgent = this.t.nodeUrgentQueue(this.env.NODE_ID);
    const sub = this.consumers.fanout;
    const left = await this.depth(queue);
    if (left !== undefined && left > 0) {
      await this.resume(sub); // its consumer is still taking the backlog (and takes it again after a failed step)
      return;
    }
    if (left !== undefined) {
      await this.quiesce(sub);
      if (!(await this.deleteIfDone(queue))) {
        await this.resume(sub);
        return;
      }
    }
    const options = nodeQueueOptions(this.t, this.env.NODE_QUEUE_EXPIRES_MS);
    if ((await this.declare(queue, options)) === 'legacy') {
      await this.resume(sub);
      return;
    }
    await this.amqp.withChannel(async (ch) => {
      await ch.bindQueue(queue, this.t.fanoutExchange, '');
      await ch.unbindQueue(urgent, this.t.fanoutExchange, '');
    });
    this.forms.node = 'current';
    await this.resume(sub);
    this.done(queue);
  }

  private async stepIngress(): Promise<void> {
    const queue = this.t.ingressQueue;
    const sub = this.consumers.ingress;
    const form = await this.declare(queue, ingressQueueOptions(this.t));
    if (form === 'current') {
      // Replaced (by another node, or by this one in an earlier step that failed half-way).
      await this.amqp.withChannel(async (ch) => {
        await ch.bindQueue(queue, this.t.ingressExchange, INGRESS_ROUTING_KEY);
        await routeIngressForNode(ch, this.t, 'current');
      });
      this.forms.ingress = 'current';
      await this.releaseLease();
      await this.resume(sub);
      this.done(queue);
      return;
    }
    // Still legacy: keep it unbound (a node of the earlier version binds it again when it reconnects).
    await this.amqp.withChannel((ch) => routeIngressForNode(ch, this.t, 'legacy'));
    if (!(await this.lease())) {
      await sub.pause(); // another node drains it
      return;
    }
    const left = await this.depth(queue);
    if (left === undefined) return; // gone: the next step declares the new one
    if (left > 0) {
      await this.resume(sub);
      return;
    }
    await this.quiesce(sub);
    if (!(await this.deleteIfDone(queue))) {
      await this.resume(sub); // a node of the earlier version still consumes it, or a message came back
      return;
    }
    this.log.log(`${queue} (an earlier version's) is empty and deleted; declaring this version's`);
    await this.stepIngress();
  }

  /** Resumes a consumer, unless the node is stopping (its shutdown pauses them all). */
  private async resume(sub: Subscription): Promise<void> {
    if (!this.stopped) await sub.resume();
  }

  /** Stops a consumer and waits until what it holds is done (acked or refused); if that takes too long (trouble), it consumes again and the step fails. */
  private async quiesce(sub: Subscription): Promise<void> {
    await sub.pause();
    const deadline = Date.now() + 30_000;
    while (sub.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (sub.inFlight > 0) {
      await this.resume(sub);
      throw new Error(`${sub.queue}: deliveries still in hand after 30 s`);
    }
  }

  /** Takes or renews the ingress drainer's lease. */
  private async lease(): Promise<boolean> {
    const key = ingressUpgradeKey(this.env.FARM_NAMESPACE);
    const id = this.env.NODE_ID;
    const renewed = this.holding && (await this.redis.eval(RENEW, 1, key, id, String(UPGRADE_LEASE_MS))) === 1;
    this.holding = renewed || (await this.redis.set(key, id, 'PX', UPGRADE_LEASE_MS, 'NX')) === 'OK';
    return this.holding;
  }

  private async releaseLease(): Promise<void> {
    if (!this.holding) return;
    this.holding = false;
    await this.redis.eval(RELEASE, 1, ingressUpgradeKey(this.env.FARM_NAMESPACE), this.env.NODE_ID).catch(() => undefined);
  }

  private done(queue: string): void {
    this.replaced.push(queue);
    this.log.log(`${queue} replaced by this version's queue (no priorities; urgent notifications take ${queue === this.t.ingressQueue ? this.t.ingressUrgentQueue : this.t.nodeUrgentQueue(this.env.NODE_ID)})`);
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.releaseLease();
  }
}
