import { lastValueFrom } from 'rxjs';
import type { Notification } from '../domain/notification';
import { INGRESS_ROUTING_KEY, topology } from '../contracts/topology';
import { FarmClient } from '../transport/farm-client';
import { FarmRecord } from '../transport/farm-record';
import type { AmqpClient } from './amqp-client';

/** The farm-transport pattern of a notification for the farm: it goes to `<ns>.ingress`. */
export const INGRESS = 'notification.ingress';

/** The client every producer of the farm (the notifier, the poller) publishes notifications with. */
export function ingressClient(amqp: AmqpClient, namespace: string): FarmClient {
  const exchange = topology(namespace).ingressExchange;
  return new FarmClient(amqp, {
    route: (pattern) => {
      if (pattern !== INGRESS) throw new Error(`the ingress client has no route for ${pattern}`);
      return { exchange, routingKey: INGRESS_ROUTING_KEY };
    },
    timeoutMs: 10_000,
    properties: { contentType: 'application/json' },
  });
}

/**
 * Publishes a validated notification to `<ns>.ingress` as every producer of the farm does:
 * persistent, its priority, id and time as AMQP properties; resolves only on the broker's
 * confirm (BrokerUnavailableError otherwise).
 */
export function publishToIngress(client: FarmClient, n: Notification): Promise<void> {
  const record = new FarmRecord(n, { priority: n.priority, messageId: n.id, timestamp: Math.floor(Date.parse(n.timestamp) / 1000) });
  return lastValueFrom(client.emit(INGRESS, record), { defaultValue: undefined });
}
