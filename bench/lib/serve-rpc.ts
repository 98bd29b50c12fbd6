import type * as amqp from 'amqplib';
import { AmqpClient } from '../../libs/common/src/messaging/amqp-client';
import { Delivery, Subscription } from '../../libs/common/src/messaging/subscription';

/**
 * A bare request/reply server for the benchmarks: the farm's `Subscription` (the layer the farm
 * transport consumes through) with the handler's answer sent to the caller's reply-to, then the
 * ack. The apps serve requests through the farm transport (`FarmServer`), which adds Nest's
 * dispatch on top; a benchmark that simulates hundreds of attendants in one process uses this
 * instead of one Nest application per attendant.
 */
export function serveRpc(client: AmqpClient, spec: { queue: string; prefetch: number; assert?: (ch: amqp.Channel) => Promise<unknown>; handler: (body: Buffer) => Promise<Buffer> }): Subscription {
  return client.subscribe({
    queue: spec.queue,
    prefetch: spec.prefetch,
    assert: spec.assert,
    handler: async (d: Delivery) => {
      d.reply(await spec.handler(d.content));
    },
  });
}
