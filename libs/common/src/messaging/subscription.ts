import type * as amqp from 'amqplib';
import { LoggerLike } from '../logging/log-text';
import { LogContext, withLogContext } from '../logging/log-context';
import { BackoffSettings, RateLimitedLog, backoffDelay, isPoison, retryTrouble, sleep } from './retry';

/** The two channel calls the batcher makes (amqplib's Channel has them; tests give a recorder). */
export interface AckChannel {
  ack(msg: amqp.Message, allUpTo?: boolean): void;
  nack(msg: amqp.Message, allUpTo?: boolean, requeue?: boolean): void;
}

/**
 * Acks of one channel, coalesced: a delivery that is done waits until every earlier one is
 * settled too, then one `ack(multiple)` covers the whole run, once per event-loop turn. Nacks go
 * out at once, one by one, and a rejected tag is never named by a later ack: RabbitMQ closes the
 * channel ("unknown delivery tag") when an ack names a tag it no longer holds. A multiple ack
 * whose range merely spans a rejected tag is fine: it settles only the tags still outstanding.
 */
export class AckBatcher {
  private readonly outstanding: number[] = [];
  private head = 0;
  private readonly done = new Set<number>();
  private readonly rejected = new Set<number>();
  private scheduled = false;

  constructor(private readonly channel: AckChannel) {}

  track(tag: number): void {
    this.outstanding.push(tag);
  }

  ack(tag: number): void {
    this.done.add(tag);
    this.schedule();
  }

  nack(msg: amqp.Message, requeue: boolean): void {
    this.channel.nack(msg, false, requeue);
    this.rejected.add(msg.fields.deliveryTag);
    this.schedule();
  }

  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    let last = -1;
    while (this.head < this.outstanding.length) {
      const tag = this.outstanding[this.head];
      if (this.done.delete(tag)) last = tag;
      else if (!this.rejected.delete(tag)) break;
      this.head++;
    }
    if (this.head > 1024) {
      this.outstanding.splice(0, this.head);
      this.head = 0;
    }
    if (last < 0) return;
    try {
      this.channel.ack({ fields: { deliveryTag: last } } as amqp.Message, true);
    } catch {
      /* channel closed meanwhile: the broker will redeliver */
    }
  }
}

/** One delivery; acks and nacks go to the channel it came on, once, and only while it is open. */
/** What a line logged while handling `msg` says about it: its message id (or correlation id), when it has a plain one. */
export function logContextOf(msg: amqp.ConsumeMessage): LogContext {
  const id = msg.properties.messageId ?? msg.properties.correlationId;
  return typeof id === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(id) ? { msgId: id } : {};
}

export class Delivery {
  private done = false;

  constructor(
    readonly msg: amqp.ConsumeMessage,
    private readonly channel: amqp.Channel,
    private readonly acks: AckBatcher,
    private readonly isCurrent: (ch: amqp.Channel) => boolean,
  ) {}

  get content(): Buffer {
    return this.msg.content;
  }

  get redelivered(): boolean {
    return this.msg.fields.redelivered;
  }

  /** Whether it was acked or rejected already. */
  get settled(): boolean {
    return this.done;
  }

  /** Whether its channel is still the consumer's: once it is gone, the broker redelivers the message elsewhere. */
  get alive(): boolean {
    return this.isCurrent(this.channel);
  }

  ack(): void {
    this.settle(() => this.acks.ack(this.msg.fields.deliveryTag));
  }

  /**
   * Sends a reply to this delivery's `reply_to` on the channel it came on, without a publisher
   * confirm: a lost reply is a caller's timeout, and direct reply-to keeps nothing anyway.
   * Returns false when there is nobody to reply to, the reply-to is not the caller's own (see
   * `isDirectReplyTo`), or the channel is gone.
   */
  reply(content: Buffer, options: amqp.Options.Publish = {}): boolean {
    const to = this.msg.properties.replyTo as string | undefined;
    // Only to the caller's own reply queue (RabbitMQ's direct reply-to, which the broker binds to
    // the requesting channel): a request must not send an answer into a queue of its choosing.
    if (!to || !isDirectReplyTo(to) || !this.isCurrent(this.channel)) return false;
    try {
      this.channel.sendToQueue(to, content, { correlationId: this.msg.properties.correlationId as string, contentType: 'application/json', ...options });
      return true;
    } catch {
      return false;
    }
  }

  /** Rejects; without requeue the queue's dead-letter exchange takes it. */
  nack(requeue: boolean): void {
    this.settle(() => this.acks.nack(this.msg, requeue));
  }

  private settle(fn: () => void): void {
    if (this.done) return;
    this.done = true;
    // A delivery tag is only valid on its own channel: after a reconnect the broker
    // redelivers it anyway, and acking it elsewhere would close the new channel.
    if (!this.isCurrent(this.channel)) return;
    try {
      fn();
    } catch {
      /* channel closed meanwhile: the broker will redeliver */
    }
  }
}

export interface SubscriptionSpec {
  queue: string;
  prefetch: number;
  /** Declarations for this queue, run on the subscription's channel before consuming (with its connection, for probes on channels of their own). */
  assert?: (ch: amqp.Channel, conn: amqp.ChannelModel) => Promise<unknown>;
  exclusive?: boolean;
  /** Start without consuming until resume() (e.g. until restore and handshake are done). */
  paused?: boolean;
  /**
   * Does the work of one delivery. Resolving means done: the subscription acks it (unless the
   * handler settled it itself). Throwing poison (see `isPoison`) refuses it for good; throwing
   * anything else is trouble: the same delivery is handled again, with backoff, until it works.
   */
  handler: (d: Delivery) => Promise<void>;
  /** Refuses a poison delivery with its reason (e.g. a confirmed dead-letter); default: reject without requeue. */
  refuse?: (d: Delivery, reason: string) => Promise<void>;
  backoff?: BackoffSettings;
  /**
   * Starts its deliveries this many at a time, one batch per event-loop turn, instead of each as
   * it is read (a background lane): what another consumer reads meanwhile (an urgent lane's
   * delivery behind a held batch in the same socket read) is handled first, not after the batch.
   */
  yieldEvery?: number;
}

export interface SubscriptionEvents {
  /** A handler failed on trouble; the delivery will be retried. */
  onTrouble?: (queue: string, err: unknown) => void;
  /** Every troubled delivery of the subscription finished. */
  onRecovered?: (queue: string) => void;
}

/**
 * A consumer that survives reconnects: re-attached to every new connection, pausable, and
 * applying the poison/trouble rule. While any delivery is in trouble the consumer stops taking
 * new ones (its consumer is cancelled; what it holds stays unacked), retries the troubled ones
 * with capped, jittered backoff, and resumes once they all went through.
 */
export class Subscription {
  private conn?: amqp.ChannelModel;
  private ch?: amqp.Channel;
  private tag?: string;
  private paused: boolean;
  private acks?: { channel: amqp.Channel; batcher: AckBatcher };
  private readonly troubleLog = new RateLimitedLog(5000);
  /** A channel the broker keeps closing (a declaration it refuses) is told once per 30 s. */
  private readonly channelLog = new RateLimitedLog(30_000);
  private readonly holds = new Set<string>();
  private consumingWaiters: (() => void)[] = [];
  /** Deliveries read but not started yet (with `yieldEvery`), oldest first from `waitingHead`. */
  private waiting: (Delivery | undefined)[] = [];
  private waitingHead = 0;
  private draining = false;
  /** Deliveries read and not finished (waiting ones included). */
  inFlight = 0;
  /** Deliveries currently being retried because of trouble. */
  troubled = 0;
  /** Total retries since start (for metrics and tests). */
  retries = 0;

  constructor(
    private readonly spec: SubscriptionSpec,
    private readonly log: LoggerLike,
    private readonly events: SubscriptionEvents = {},
  ) {
    this.paused = spec.paused ?? false;
  }

  get consuming(): boolean {
    return this.tag !== undefined;
  }

  /**
   * Resolves once the queue is declared and consumed (at once if it is); with `timeoutMs`,
   * rejects if that has not happened by then.
   */
  whenConsuming(timeoutMs?: number): Promise<void> {
    if (this.consuming) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = timeoutMs === undefined ? undefined : setTimeout(() => {
        this.consumingWaiters = this.consumingWaiters.filter((w) => w !== waiter);
        reject(new Error(`${this.spec.queue}: not consuming after ${timeoutMs} ms`));
      }, timeoutMs);
      this.consumingWaiters.push(waiter);
    });
  }

  get queue(): string {
    return this.spec.queue;
  }

  async attach(conn: amqp.ChannelModel): Promise<void> {
    this.conn = conn;
    const ch = await conn.createChannel();
    ch.on('error', (err: Error) => {
      const line = this.channelLog.next(`channel of ${this.spec.queue}: ${err.message}`);
      if (line) this.log.warn(line);
    });
    ch.on('close', () => {
      if (this.ch !== ch) return;
      this.ch = undefined;
      this.tag = undefined;
      // Closed by the broker while the connection lives on: open a new channel.
      if (this.conn === conn) setTimeout(() => this.conn === conn && !this.ch && void this.attach(conn).catch(() => undefined), 200);
    });
    await ch.prefetch(this.spec.prefetch);
    if (this.spec.assert) await this.spec.assert(ch, conn);
    this.ch = ch;
    if (this.wantsDeliveries) await this.startConsuming();
  }

  detach(): void {
    this.conn = undefined;
    this.ch = undefined;
    this.tag = undefined;
  }

  private get wantsDeliveries(): boolean {
    return !this.paused && this.troubled === 0 && this.holds.size === 0;
  }

  /** Reasons the consumer is held (e.g. `redis` while the store cannot write); see hold(). */
  get heldFor(): string[] {
    return [...this.holds];
  }

  /**
   * Stops taking new deliveries because a dependency is known to fail (what is in hand goes on
   * being retried); release() with the same reason resumes once nothing else holds it.
   */
  async hold(reason: string): Promise<void> {
    if (this.holds.has(reason)) return;
    this.holds.add(reason);
    await this.stopConsuming();
  }

  async release(reason: string): Promise<void> {
    if (!this.holds.delete(reason)) return;
    if (this.ch && !this.tag && this.wantsDeliveries) await this.startConsuming();
  }

  async pause(): Promise<void> {
    this.paused = true;
    await this.stopConsuming();
  }

  async resume(): Promise<void> {
    this.paused = false;
    if (this.ch && !this.tag && this.wantsDeliveries) await this.startConsuming();
  }

  private async stopConsuming(): Promise<void> {
    const { ch, tag } = this;
    this.tag = undefined;
    if (ch && tag) await ch.cancel(tag).catch(() => undefined);
  }

  private async startConsuming(): Promise<void> {
    const ch = this.ch;
    if (!ch) return;
    const isCurrent = (c: amqp.Channel): boolean => this.ch === c;
    const acks = (this.acks = this.acks?.channel === ch ? this.acks : { channel: ch, batcher: new AckBatcher(ch) }).batcher;
    const { consumerTag } = await ch.consume(
      this.spec.queue,
      (msg) => {
        if (msg === null) return; // consumer cancelled by the broker (queue deleted)
        acks.track(msg.fields.deliveryTag);
        this.inFlight++;
        const d = new Delivery(msg, ch, acks, isCurrent);
        if (this.spec.yieldEvery === undefined) this.start(d);
        else {
          this.waiting.push(d);
          if (!this.draining) {
            this.draining = true;
            setImmediate(this.drain);
          }
        }
      },
      { noAck: false, exclusive: this.spec.exclusive ?? false },
    );
    // Trouble or a pause may have come while consume() was on its way.
    if (this.ch !== ch || !this.wantsDeliveries) await ch.cancel(consumerTag).catch(() => undefined);
    else {
      this.tag = consumerTag;
      const waiters = this.consumingWaiters;
      this.consumingWaiters = [];
      for (const w of waiters) w();
    }
  }

  private start(d: Delivery): void {
    void withLogContext(logContextOf(d.msg), () => this.handle(d)).finally(() => this.inFlight--);
  }

  /** Starts the next `yieldEvery` waiting deliveries, and comes back next turn for more. */
  private readonly drain = (): void => {
    const n = Math.max(1, this.spec.yieldEvery ?? 1);
    for (let i = 0; i < n && this.waitingHead < this.waiting.length; i++) {
      const d = this.waiting[this.waitingHead] as Delivery;
      this.waiting[this.waitingHead++] = undefined;
      // Its channel is gone: the broker has put it back already, and will deliver it again.
      if (d.alive) this.start(d);
      else this.inFlight--;
    }
    if (this.waitingHead < this.waiting.length) {
      setImmediate(this.drain);
      return;
    }
    this.waiting = [];
    this.waitingHead = 0;
    this.draining = false;
  };

  /** Runs the handler until it settles the delivery: done, refused as poison, or moot (its channel is gone). */
  private async handle(d: Delivery): Promise<void> {
    let troubled = false;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          await this.spec.handler(d);
          d.ack();
          return;
        } catch (err) {
          if (isPoison(err)) {
            await this.refusePoison(d, err.message);
            return;
          }
          if (!troubled) {
            troubled = true;
            if (this.troubled++ === 0) void this.stopConsuming();
          }
          this.retries++;
          this.events.onTrouble?.(this.spec.queue, err);
          const line = this.troubleLog.next(`handler for ${this.spec.queue} is in trouble, retrying (not a bad message): ${(err as Error)?.message ?? String(err)}`);
          if (line) this.log.warn(line);
          // Its channel is gone: the broker has already put the message back for another consumer.
          if (!d.alive) return;
          await sleep(backoffDelay(attempt, this.spec.backoff));
          if (!d.alive) return;
        }
      }
    } finally {
      if (troubled && --this.troubled === 0) {
        this.events.onRecovered?.(this.spec.queue);
        this.log.log(`${this.spec.queue}: trouble is over; consuming again`);
        if (this.ch && !this.tag && this.wantsDeliveries) void this.startConsuming().catch(() => undefined);
      }
    }
  }

  /** Poison: dead-lettered with its reason; the refusal itself is retried on trouble (its confirm). */
  private async refusePoison(d: Delivery, reason: string): Promise<void> {
    const refuse = this.spec.refuse;
    if (!refuse) {
      d.nack(false);
      return;
    }
    await retryTrouble(() => refuse(d, reason), { backoff: this.spec.backoff, keepGoing: () => d.alive }).catch(() => undefined);
  }
}

/** Whether a `reply_to` is RabbitMQ's direct reply-to pseudo-queue (as the broker rewrites it: `amq.rabbitmq.reply-to.<token>`). */
export function isDirectReplyTo(replyTo: string): boolean {
  return replyTo === 'amq.rabbitmq.reply-to' || replyTo.startsWith('amq.rabbitmq.reply-to.');
}
