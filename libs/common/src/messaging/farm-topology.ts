import type * as amqp from 'amqplib';
import { MAX_PRIORITY, INGRESS_ROUTING_KEY, Topology } from '../contracts/topology';

/** Shared declarations: ingress, fanout, dead-letter. Idempotent; run on every (re)connect. */
export async function assertSharedTopology(ch: amqp.Channel, t: Topology): Promise<void> {
  await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
  await ch.assertQueue(t.deadQueue, { durable: true });
  await ch.bindQueue(t.deadQueue, t.deadLetterExchange, '');
  await ch.assertExchange(t.ingressExchange, 'direct', { durable: true });
  await ch.assertQueue(t.ingressQueue, {
    durable: true,
    arguments: { 'x-max-priority': MAX_PRIORITY, 'x-dead-letter-exchange': t.deadLetterExchange },
  });
  await ch.bindQueue(t.ingressQueue, t.ingressExchange, INGRESS_ROUTING_KEY);
  await ch.assertExchange(t.fanoutExchange, 'fanout', { durable: true });
}

/** A node's durable fanout queue: kept while the node is down, deleted after `expiresMs` unused. */
export async function assertNodeQueue(ch: amqp.Channel, t: Topology, nodeId: string, expiresMs: number): Promise<void> {
  const q = t.nodeQueue(nodeId);
  await ch.assertQueue(q, {
    durable: true,
    arguments: { 'x-max-priority': MAX_PRIORITY, 'x-dead-letter-exchange': t.deadLetterExchange, 'x-expires': expiresMs },
  });
  await ch.bindQueue(q, t.fanoutExchange, '');
}

/** A node's handshake queue: lives with the node's connection. */
export async function assertRpcQueue(ch: amqp.Channel, t: Topology, nodeId: string): Promise<void> {
  await ch.assertQueue(t.rpcQueue(nodeId), { durable: false, exclusive: true, autoDelete: true });
}
