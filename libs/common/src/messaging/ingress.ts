import type { Notification } from '../domain/notification';
import { INGRESS_ROUTING_KEY } from '../contracts/topology';
import type { AmqpClient } from './amqp-client';

/**
 * Publishes a validated notification to `<ns>.ingress` as every producer of the farm does (the
 * notifier, the poller): persistent, its priority and id as AMQP properties, resolved only on
 * the broker's confirm.
 */
export function publishToIngress(amqp: AmqpClient, exchange: string, n: Notification): Promise<void> {
  return amqp.publish(exchange, INGRESS_ROUTING_KEY, Buffer.from(JSON.stringify(n)), {
    priority: n.priority,
    messageId: n.id,
    timestamp: Math.floor(Date.parse(n.timestamp) / 1000),
    contentType: 'application/json',
  });
}
