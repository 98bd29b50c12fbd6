import type * as amqp from 'amqplib';
import { INGRESS_ROUTING_KEY, INGRESS_URGENT_ROUTING_KEY, Topology } from '../contracts/topology';
import { parseDeclarationConflict } from './declaration-conflict';

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

/**
 * A queue of ours as the broker holds it: `current` (this version's arguments), or `legacy`:
 * declared by a version before the lanes, with `x-max-priority`, which RabbitMQ will not let us
 * re-declare without it. A legacy queue is kept and consumed until it is empty, then replaced
 * (see QueueUpgradeService); its urgent twin takes its traffic meanwhile.
 */
export type QueueForm = 'current' | 'legacy';

/** Whether the broker refused a declaration only because the queue has the priorities of an earlier version. */
export function isLegacyPriorityConflict(message: string): boolean {
  const c = parseDeclarationConflict(message);
  return c !== undefined && c.kind === 'queue' && c.argument === 'x-max-priority' && c.ours === 'none';
}

/**
 * Declares a queue in its current form on a throwaway channel (a refusal closes the channel it
 * happens on). A legacy queue is reported, not declared; any other refusal is thrown as the
 * broker worded it (AmqpClient names it and retries slowly).
 */
export async function declareQueueForm(conn: amqp.ChannelModel, queue: string, options: amqp.Options.AssertQueue): Promise<QueueForm> {
  const probe = await conn.createChannel();
  probe.on('error', () => undefined);
  try {
    await probe.assertQueue(queue, options);
  } catch (err) {
    if (isLegacyPriorityConflict((err as Error).message)) return 'legacy';
    throw err;
  }
  await probe.close().catch(() => undefined);
  return 'current';
}

/** Arguments of `<ns>.ingress` and its urgent twin. */
export function ingressQueueOptions(t: Topology): amqp.Options.AssertQueue {
  return { durable: true, arguments: { 'x-dead-letter-exchange': t.deadLetterExchange } };
}

/** Arguments of a node's queue and its urgent twin: kept while the node is down, deleted after `expiresMs` unused. */
export function nodeQueueOptions(t: Topology, expiresMs: number): amqp.Options.AssertQueue {
  return { durable: true, arguments: { 'x-dead-letter-exchange': t.deadLetterExchange, 'x-expires': expiresMs } };
}

/**
 * Shared declarations: dead-letter, ingress (its ordinary queue and its urgent twin), and the
 * two fanout exchanges. Idempotent; run on every (re)connect by every producer and node. Returns
 * the form of `<ns>.ingress`: a legacy one is left as it is (the nodes replace it once drained).
 */
export async function assertSharedTopology(ch: amqp.Channel, t: Topology, conn?: amqp.ChannelModel, warn: (m: string) => void = () => undefined): Promise<QueueForm> {
  await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
  await assertDeadQueue(conn, ch, t, warn);
  await ch.bindQueue(t.deadQueue, t.deadLetterExchange, '');
  await ch.assertExchange(t.ingressExchange, 'direct', { durable: true });
  await ch.assertQueue(t.ingressUrgentQueue, ingressQueueOptions(t));
  await ch.bindQueue(t.ingressUrgentQueue, t.ingressExchange, INGRESS_URGENT_ROUTING_KEY);
  let form: QueueForm = 'current';
  if (conn) form = await declareQueueForm(conn, t.ingressQueue, ingressQueueOptions(t));
  else await ch.assertQueue(t.ingressQueue, ingressQueueOptions(t));
  if (form === 'current') await ch.bindQueue(t.ingressQueue, t.ingressExchange, INGRESS_ROUTING_KEY);
  await ch.assertExchange(t.fanoutExchange, 'fanout', { durable: true });
  await ch.assertExchange(t.fanoutUrgentExchange, 'fanout', { durable: true });
  return form;
}

/**
 * A node's share of the ingress (after assertSharedTopology): while `<ns>.ingress` is legacy,
 * the urgent twin also takes ordinary notifications and the legacy queue gets no new ones, so
 * it can drain; once it is current, the twin takes urgent ones only. Both orders bind before
 * they unbind, so every notification always has a queue.
 */
export async function routeIngressForNode(ch: amqp.Channel, t: Topology, form: QueueForm): Promise<void> {
  if (form === 'legacy') {
    await ch.bindQueue(t.ingressUrgentQueue, t.ingressExchange, INGRESS_ROUTING_KEY);
    await ch.unbindQueue(t.ingressQueue, t.ingressExchange, INGRESS_ROUTING_KEY);
  } else {
    await ch.unbindQueue(t.ingressUrgentQueue, t.ingressExchange, INGRESS_ROUTING_KEY);
  }
}

/**
 * A node's two queues, fed by the two fanout exchanges. Urgent re-broadcasts also reach
 * `<ns>.fanout` (an exchange binding), so the ordinary queue alone carries everything: a node of
 * an earlier version, or one whose urgent queue is gone, misses nothing. A legacy ordinary queue
 * is unbound so it can drain, its urgent twin taking its traffic meanwhile; bind before unbind,
 * as for the ingress. Returns the ordinary queue's form.
 */
export async function assertNodeQueues(ch: amqp.Channel, conn: amqp.ChannelModel, t: Topology, nodeId: string, expiresMs: number): Promise<QueueForm> {
  const q = t.nodeQueue(nodeId);
  const urgent = t.nodeUrgentQueue(nodeId);
  await ch.assertQueue(urgent, nodeQueueOptions(t, expiresMs));
  await ch.bindQueue(urgent, t.fanoutUrgentExchange, '');
  await ch.bindExchange(t.fanoutExchange, t.fanoutUrgentExchange, '');
  const form = await declareQueueForm(conn, q, nodeQueueOptions(t, expiresMs));
  if (form === 'current') {
    await ch.bindQueue(q, t.fanoutExchange, '');
    await ch.unbindQueue(urgent, t.fanoutExchange, '');
  } else {
    await ch.bindQueue(urgent, t.fanoutExchange, '');
    await ch.unbindQueue(q, t.fanoutExchange, '');
  }
  return form;
}

/** A node's handshake queue: lives with the node's connection. */
export async function assertRpcQueue(ch: amqp.Channel, t: Topology, nodeId: string): Promise<void> {
  await ch.assertQueue(t.rpcQueue(nodeId), { durable: false, exclusive: true, autoDelete: true });
}
