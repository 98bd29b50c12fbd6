import fc from 'fast-check';
import type * as amqp from 'amqplib';
import { AckBatcher, AckChannel } from './subscription';

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
