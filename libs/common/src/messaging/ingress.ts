import { lastValueFrom } from 'rxjs';
import type { Notification } from '../domain/notification';
import { INGRESS_ROUTING_KEY, INGRESS_URGENT_ROUTING_KEY, laneOf, topology } from '../contracts/topology';
import { FarmClient } from '../transport/farm-client';
import { FarmRecord } from '../transport/farm-record';
import type { AmqpClient } from './amqp-client';

/** The farm-transport pattern of a notification for the farm: it goes to `<ns>.ingress`. */
export const INGRESS = 'notification.ingress';
/** An urgent one (priority 5-9): it goes to `<ns>.ingress.urgent`, which nodes take beside the ordinary queue. */
export const INGRESS_URGENT = 'notification.ingress.urgent';

/** The client every producer of the farm (the notifier, the poller) publishes notifications with. */
export function ingressClient(amqp: AmqpClient, namespace: string): FarmClient {
  const exchange = topology(namespace).ingressExchange;
  return new FarmClient(amqp, {
    route: (pattern) => {
      if (pattern === INGRESS) return { exchange, routingKey: INGRESS_ROUTING_KEY };
      if (pattern === INGRESS_URGENT) return { exchange, routingKey: INGRESS_URGENT_ROUTING_KEY };
      throw new Error(`the ingress client has no route for ${pattern}`);
    },
    timeoutMs: 10_000,
    properties: { contentType: 'application/json' },
  });
}

/**
 * Publishes a validated notification to `<ns>.ingress` as every producer of the farm does:
 * persistent, its priority, id and time as AMQP properties, on its lane's routing key (urgent
 * from priority 5); resolves only on the broker's confirm (BrokerUnavailableError otherwise).
 */
export function publishToIngress(client: FarmClient, n: Notification): Promise<void> {
  const record = new FarmRecord(n, { priority: n.priority, messageId: n.id, timestamp: Math.floor(Date.parse(n.timestamp) / 1000) });
  return lastValueFrom(client.emit(laneOf(n.priority) === 'urgent' ? INGRESS_URGENT : INGRESS, record), { defaultValue: undefined });
}
