import fc from 'fast-check';
import type * as amqp from 'amqplib';
import { AckBatcher, AckChannel, Delivery, Subscription } from './subscription';

/**
 * A channel that keeps the broker's view of outstanding delivery tags and records every frame,
 * failing the way RabbitMQ does: an ack or nack naming a tag that is not outstanding closes the
 * channel with PRECONDITION_FAILED "unknown delivery tag".
 */
class RecordingChannel implements AckChannel {
  readonly frames: string[] = [];
  readonly outstanding = new Set<number>();
  closedWith?: string;

  deliver(tag: number): void {
    this.outstanding.add(tag);
  }

  private check(tag: number): void {
    if (this.closedWith) throw new Error('channel closed');
    if (!this.outstanding.has(tag)) {
      this.closedWith = `PRECONDITION_FAILED - unknown delivery tag ${tag}`;
      throw new Error(this.closedWith);
    }
  }

  ack(msg: amqp.Message, allUpTo = false): void {
    const tag = msg.fields.deliveryTag;
    this.frames.push(`ack ${tag}${allUpTo ? ' multiple' : ''}`);
    this.check(tag);
    if (allUpTo) for (const t of [...this.outstanding]) if (t <= tag) this.outstanding.delete(t);
    else this.outstanding.delete(tag);
  }

  nack(msg: amqp.Message, _allUpTo = false, requeue = true): void {
    const tag = msg.fields.deliveryTag;
    this.frames.push(`nack ${tag}${requeue ? ' requeue' : ''}`);
    this.check(tag);
    this.outstanding.delete(tag);
  }
}

const msg = (tag: number): amqp.Message => ({ fields: { deliveryTag: tag } }) as amqp.Message;

describe('AckBatcher', () => {
  it('never names a rejected tag in a later ack (nack then ack(multiple) closed the channel before)', () => {
    const ch = new RecordingChannel();
    const b = new AckBatcher(ch);
    for (const t of [1, 2, 3]) {
      ch.deliver(t);
      b.track(t);
    }
    b.ack(1);
    b.nack(msg(2), true);
    b.flush();
    expect(ch.closedWith).toBeUndefined();
    expect(ch.frames).toEqual(['nack 2 requeue', 'ack 1 multiple']);
    b.ack(3);
    b.flush();
    expect(ch.closedWith).toBeUndefined();
    expect(ch.frames).toEqual(['nack 2 requeue', 'ack 1 multiple', 'ack 3 multiple']);
    expect(ch.outstanding.size).toBe(0);
  });

  it('a stream ending in a rejection sends no ack for it', () => {
    const ch = new RecordingChannel();
    const b = new AckBatcher(ch);
    ch.deliver(1);
    b.track(1);
    b.nack(msg(1), false);
    b.flush();
    expect(ch.frames).toEqual(['nack 1']);
    expect(ch.closedWith).toBeUndefined();
  });

  it('holds acks behind an unsettled earlier delivery, then covers the run with one ack', () => {
    const ch = new RecordingChannel();
    const b = new AckBatcher(ch);
    for (const t of [1, 2, 3]) {
      ch.deliver(t);
      b.track(t);
    }
    b.ack(2);
    b.ack(3);
    b.flush();
    expect(ch.frames).toEqual([]);
    b.ack(1);
    b.flush();
    expect(ch.frames).toEqual(['ack 3 multiple']);
    expect(ch.outstanding.size).toBe(0);
  });

  it('any order of acks, rejections and flushes settles every delivery exactly once and never closes the channel', () => {
    let withRejections = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).chain((n) =>
          fc.record({
            n: fc.constant(n),
            outcomes: fc.array(fc.constantFrom('ack', 'nack', 'requeue'), { minLength: n, maxLength: n }),
            order: fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            flushes: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
          }),
        ),
        ({ n, outcomes, order, flushes }) => {
          const ch = new RecordingChannel();
          const b = new AckBatcher(ch);
          for (let t = 1; t <= n; t++) {
            ch.deliver(t);
            b.track(t);
          }
          if (outcomes.some((o) => o !== 'ack')) withRejections++;
          order.forEach((i, k) => {
            const tag = i + 1;
            if (outcomes[i] === 'ack') b.ack(tag);
            else b.nack(msg(tag), outcomes[i] === 'requeue');
            if (flushes[k]) b.flush();
          });
          b.flush();
          expect(ch.closedWith).toBeUndefined();
          expect(ch.outstanding.size).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
    // the interesting case, rejections mixed into the stream, is most of the samples
    expect(withRejections).toBeGreaterThan(100);
  });
});

/** A consuming channel on top of the recording one: the test pushes deliveries through `consume`'s callback. */
class ConsumingChannel extends RecordingChannel {
  private onMessage?: (m: amqp.ConsumeMessage | null) => void;
  private nextTag = 1;
  on(): this {
    return this;
  }
  async prefetch(): Promise<void> {}
  async cancel(): Promise<void> {}
  async consume(_queue: string, cb: (m: amqp.ConsumeMessage | null) => void): Promise<{ consumerTag: string }> {
    this.onMessage = cb;
    return { consumerTag: 'c1' };
  }
  /** Delivers one message with body `id`, as one frame of a socket read. */
  push(id: string): void {
    const tag = this.nextTag++;
    this.deliver(tag);
    this.onMessage?.({ content: Buffer.from(id), fields: { deliveryTag: tag, redelivered: false }, properties: { headers: {} } } as unknown as amqp.ConsumeMessage);
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('Subscription lanes (yieldEvery)', () => {
  const quietLog = { log: () => undefined, warn: () => undefined, error: () => undefined };

  async function consumer(handled: string[], yieldEvery?: number): Promise<{ sub: Subscription; ch: ConsumingChannel }> {
    const ch = new ConsumingChannel();
    const conn = { createChannel: async () => ch } as unknown as amqp.ChannelModel;
    const sub = new Subscription({ queue: 'q', prefetch: 200, yieldEvery, handler: async (d: Delivery) => void handled.push(d.content.toString()) }, quietLog);
    await sub.attach(conn);
    return { sub, ch };
  }

  it('an urgent delivery read behind a held batch of ordinary ones is handled first; the ordinary ones follow in order, a slice per turn, all acked', async () => {
    const handled: string[] = [];
    const ordinary = await consumer(handled, 16);
    const urgent = await consumer(handled);
    // One socket read: 40 ordinary deliveries, then the urgent one.
    for (let i = 0; i < 40; i++) ordinary.ch.push(`o${i}`);
    urgent.ch.push('urgent');
    expect(ordinary.sub.inFlight).toBe(40);
    await Promise.resolve();
    expect(handled).toEqual(['urgent']);
    await turn();
    expect(handled).toHaveLength(1 + 16);
    await turn();
    expect(handled).toHaveLength(1 + 32);
    await turn();
    await turn();
    expect(handled).toEqual(['urgent', ...Array.from({ length: 40 }, (_, i) => `o${i}`)]);
    expect(ordinary.sub.inFlight).toBe(0);
    expect(ordinary.ch.outstanding.size).toBe(0);
    expect(urgent.ch.outstanding.size).toBe(0);
  });

  it('does not start a waiting delivery whose channel is gone (the broker delivers it again), and counts it out of flight', async () => {
    const handled: string[] = [];
    const ch = new ConsumingChannel();
    const conn = { createChannel: async () => ch } as unknown as amqp.ChannelModel;
    const sub = new Subscription({ queue: 'q', prefetch: 200, yieldEvery: 16, handler: async (d: Delivery) => void handled.push(d.content.toString()) }, quietLog);
    await sub.attach(conn);
    for (let i = 0; i < 20; i++) ch.push(`o${i}`);
    await turn();
    expect(handled).toHaveLength(16);
    // The connection drops: the four still waiting belong to a channel that is no longer the consumer's.
    sub.detach();
    await turn();
    await turn();
    expect(handled).toHaveLength(16);
    expect(sub.inFlight).toBe(0);
  });

  it('without yieldEvery, deliveries are handled in the order read (the urgent one after the batch)', async () => {
    const handled: string[] = [];
    const ordinary = await consumer(handled);
    const urgent = await consumer(handled);
    for (let i = 0; i < 40; i++) ordinary.ch.push(`o${i}`);
    urgent.ch.push('urgent');
    await turn();
    expect(handled.indexOf('urgent')).toBe(40);
  });
});
