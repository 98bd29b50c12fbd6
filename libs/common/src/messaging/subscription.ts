import type * as amqp from 'amqplib';
import { LoggerLike } from '../logging';

/**
 * Acks of one channel, coalesced: a delivery that is done waits until every earlier one is
 * done too, then one `ack(multiple)` covers the whole run, once per event-loop turn. Nacks go out
 * at once, one by one. Fewer frames for the broker and fewer writes for us.
 */
export class AckBatcher {
  private readonly outstanding: number[] = [];
  private head = 0;
  private readonly done = new Set<number>();
  private scheduled = false;

  constructor(private readonly channel: amqp.Channel) {}

  track(tag: number): void {
    this.outstanding.push(tag);
  }

  ack(tag: number): void {
    this.done.add(tag);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  nack(msg: amqp.Message, requeue: boolean): void {
    this.channel.nack(msg, false, requeue);
    this.ack(msg.fields.deliveryTag);
  }

  flush(): void {
    this.scheduled = false;
    let last = -1;
    while (this.head < this.outstanding.length && this.done.has(this.outstanding[this.head])) {
      last = this.outstanding[this.head++];
      this.done.delete(last);
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
export class Delivery {
  private settled = false;

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

  ack(): void {
    this.settle(() => this.acks.ack(this.msg.fields.deliveryTag));
  }

  /**
   * Sends a reply to this delivery's `reply_to` on the channel it came on, without a publisher
   * confirm: a lost reply is a caller's timeout, and direct reply-to keeps nothing anyway.
   * Returns false when there is nobody to reply to or the channel is gone.
   */
  reply(content: Buffer, options: amqp.Options.Publish = {}): boolean {
    const to = this.msg.properties.replyTo as string | undefined;
    if (!to || !this.isCurrent(this.channel)) return false;
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
    if (this.settled) return;
    this.settled = true;
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
  /** Declarations for this queue, run on the subscription's channel before consuming. */
  assert?: (ch: amqp.Channel) => Promise<unknown>;
  exclusive?: boolean;
  /** Start without consuming until resume() (e.g. until restore and handshake are done). */
  paused?: boolean;
  handler: (d: Delivery) => Promise<void>;
}

/**
 * Policy for a handler that threw instead of settling: retry once (requeue), and dead-letter a
 * message that already failed once, so nothing loops forever.
 */
export function settleAfterError(d: Delivery): void {
  d.nack(!d.redelivered);
}

/** A consumer that survives reconnects: re-attached to every new connection, pausable. */
export class Subscription {
  private conn?: amqp.ChannelModel;
  private ch?: amqp.Channel;
  private tag?: string;
  private paused: boolean;
  private acks?: { channel: amqp.Channel; batcher: AckBatcher };
  inFlight = 0;

  constructor(
    private readonly spec: SubscriptionSpec,
    private readonly log: LoggerLike,
  ) {
    this.paused = spec.paused ?? false;
  }

  get consuming(): boolean {
    return this.tag !== undefined;
  }

  async attach(conn: amqp.ChannelModel): Promise<void> {
    this.conn = conn;
    const ch = await conn.createChannel();
    ch.on('error', (err: Error) => this.log.warn(`channel of ${this.spec.queue}: ${err.message}`));
    ch.on('close', () => {
      if (this.ch !== ch) return;
      this.ch = undefined;
      this.tag = undefined;
      // Closed by the broker while the connection lives on: open a new channel.
      if (this.conn === conn) setTimeout(() => this.conn === conn && !this.ch && void this.attach(conn).catch(() => undefined), 200);
    });
    await ch.prefetch(this.spec.prefetch);
    if (this.spec.assert) await this.spec.assert(ch);
    this.ch = ch;
    if (!this.paused) await this.startConsuming();
  }

  detach(): void {
    this.conn = undefined;
    this.ch = undefined;
    this.tag = undefined;
  }

  async pause(): Promise<void> {
    this.paused = true;
    const { ch, tag } = this;
    this.tag = undefined;
    if (ch && tag) await ch.cancel(tag).catch(() => undefined);
  }

  async resume(): Promise<void> {
    this.paused = false;
    if (this.ch && !this.tag) await this.startConsuming();
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
        const d = new Delivery(msg, ch, acks, isCurrent);
        this.inFlight++;
        this.spec
          .handler(d)
          .catch((err: Error) => {
            this.log.error(`handler for ${this.spec.queue} failed: ${err.message}`);
            settleAfterError(d);
          })
          .finally(() => this.inFlight--);
      },
      { noAck: false, exclusive: this.spec.exclusive ?? false },
    );
    this.tag = consumerTag;
  }
}
