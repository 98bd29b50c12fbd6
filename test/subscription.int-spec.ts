import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { RABBITMQ_URL } from './support/test-farm';

jest.setTimeout(30_000);

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** A subscription says when it consumes its queue, so callers wait for it instead of polling. */
describe('Subscription.whenConsuming', () => {
  const queue = `${uniqueNamespace('subscription')}.q`;
  const amqp = new AmqpClient({ url: RABBITMQ_URL(), name: 'subscription test', logger: quiet });

  beforeAll(() => amqp.start());
  afterAll(() => amqp.stop());

  it('rejects after its timeout while the subscription is paused, and resolves once it consumes', async () => {
    const sub = amqp.subscribe({ queue, prefetch: 1, paused: true, assert: (ch) => ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true }), handler: async () => undefined });
    await expect(sub.whenConsuming(300)).rejects.toThrow(`${queue}: not consuming after 300 ms`);
    expect(sub.consuming).toBe(false);
    const waiting = sub.whenConsuming(10_000);
    await sub.resume();
    await waiting;
    expect(sub.consuming).toBe(true);
    await expect(sub.whenConsuming(1)).resolves.toBeUndefined(); // at once when it already does
    await sub.pause();
  });
});
