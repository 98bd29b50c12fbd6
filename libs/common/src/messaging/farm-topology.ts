import type * as amqp from 'amqplib';
import { MAX_PRIORITY, INGRESS_ROUTING_KEY, Topology } from '../contracts/topology';

/**
 * Most messages `<ns>.dead` keeps. Beyond it the broker drops the oldest (RabbitMQ's default
 * `drop-head`); repeaters watch its depth, export it as `farm_dead_letters` and warn from 80 %
 * on, so nothing is lost silently. (`reject-publish` would refuse our confirmed dead-lettering
 * and turn poison into endless trouble.)
 */
export const DEAD_QUEUE_MAX_LENGTH = 100_000;

/** The dead-letter queue with its limit; a queue declared by an older version without one is kept as it is, with a warning. */
async function assertDeadQueue(conn: amqp.ChannelModel | undefined, ch: amqp.Channel, t: Topology, warn: (m: string) => void): Promise<void> {
  if (!conn) {
    await ch.assertQueue(t.deadQueue, { durable: true, arguments: { 'x-max-length': DEAD_QUEUE_MAX_LENGTH } });
    return;
  }
  const probe = await conn.createChannel();
  probe.on('error', () => undefined);
  try {
    await probe.assertQueue(t.deadQueue, { durable: true, arguments: { 'x-max-length': DEAD_QUEUE_MAX_LENGTH } });
    await probe.close().catch(() => undefined);
  } catch (err) {
    warn(`${t.deadQueue} exists without the ${DEAD_QUEUE_MAX_LENGTH}-message limit (${(err as Error).message.split(';')[0]}); keeping it as it is: apply a max-length policy or delete it while empty`);
  }
}

/** Shared declarations: ingress, fanout, dead-letter. Idempotent; run on every (re)connect. */
export async function assertSharedTopology(ch: amqp.Channel, t: Topology, conn?: amqp.ChannelModel, warn: (m: string) => void = () => undefined): Promise<void> {
  await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
  await assertDeadQueue(conn, ch, t, warn);
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
