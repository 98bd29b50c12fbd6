import { REJECT_REASON_HEADER } from '../contracts/topology';
import { AmqpClient } from './amqp-client';
import { Delivery } from './subscription';

/**
 * Refuses a message for good: republishes it to the dead-letter exchange with the reason in
 * `x-reject-reason` (confirmed, unlike broker dead-lettering), then acks the original. If the
 * republish fails the original stays unacked and comes back, so nothing is lost either way.
 */
export async function deadLetter(client: AmqpClient, exchange: string, d: Delivery, queue: string, reason: string): Promise<void> {
  await client.publish(exchange, '', d.content, {
    headers: { ...(d.msg.properties.headers ?? {}), [REJECT_REASON_HEADER]: reason.slice(0, 1000), 'x-original-queue': queue },
    contentType: d.msg.properties.contentType,
    messageId: d.msg.properties.messageId,
    timestamp: Math.floor(Date.now() / 1000),
  });
  d.ack();
}
