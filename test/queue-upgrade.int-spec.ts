import * as amqp from 'amqplib';
import { ORIGIN_HEADER } from '../libs/common/src/contracts/topology';
import { ingressUpgradeKey } from '../libs/common/src/availability/queue-upgrade.service';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { RABBITMQ_URL, TestFarm, notification } from './support/test-farm';

jest.setTimeout(120_000);

const EXPIRES_MS = 7 * 24 * 3600 * 1000; // the nodes' default NODE_QUEUE_EXPIRES_MS
const IN_INGRESS = 200;
const IN_NODE_QUEUES = 100;
const DURING = 100;

/**
 * A farm upgrading from the version whose queues had ten priority levels (`x-max-priority` 9,
 * which RabbitMQ will not re-declare without): messages wait in the old `<ns>.ingress` and in
 * each node's old queue when the new nodes start, and more arrive while they upgrade. Nothing
 * may be lost, and the old queues must end replaced by this version's.
 */
describe('upgrading from the priority-queue topology', () => {
  const farm = new TestFarm('upgrade');
  let probes: amqp.ChannelModel;
  beforeAll(async () => {
    probes = await amqp.connect(RABBITMQ_URL());
    probes.on('error', () => undefined);
  });
  afterAll(async () => {
    await probes.close().catch(() => undefined);
    await farm.cleanup();
  });

  /** Whether the broker takes this version's declaration of a queue (it refuses while the old one is there). */
  const isCurrent = async (queue: string, args: Record<string, unknown>): Promise<boolean> => {
    const ch = await probes.createChannel();
    ch.on('error', () => undefined);
    try {
      await ch.assertQueue(queue, { durable: true, arguments: args });
      await ch.close();
      return true;
    } catch {
      return false;
    }
  };
  const depth = async (queue: string): Promise<number> => (await (await farm.channel()).checkQueue(queue)).messageCount;

  it('drains the old queues into the nodes, replaces them, and loses nothing published before or during the upgrade', async () => {
    const { t } = farm;
    const ch = await farm.channel();
    // The earlier version's topology, with messages waiting in it.
    await ch.assertExchange(t.deadLetterExchange, 'fanout', { durable: true });
    await ch.assertExchange(t.ingressExchange, 'direct', { durable: true });
    await ch.assertExchange(t.fanoutExchange, 'fanout', { durable: true });
    await ch.assertQueue(t.ingressQueue, { durable: true, arguments: { 'x-max-priority': 9, 'x-dead-letter-exchange': t.deadLetterExchange } });
    await ch.bindQueue(t.ingressQueue, t.ingressExchange, 'notification');
    for (const id of ['a', 'b']) {
      await ch.assertQueue(t.nodeQueue(id), { durable: true, arguments: { 'x-max-priority': 9, 'x-dead-letter-exchange': t.deadLetterExchange, 'x-expires': EXPIRES_MS } });
      await ch.bindQueue(t.nodeQueue(id), t.fanoutExchange, '');
    }
    for (let i = 0; i < IN_INGRESS; i++) ch.publish(t.ingressExchange, 'notification', Buffer.from(JSON.stringify(notification(i))), { persistent: true, priority: i % 10 });
    // Re-broadcasts of notifications the old farm had taken: in both nodes' queues, as the fanout left them.
    for (let i = 0; i < IN_NODE_QUEUES; i++) {
      ch.publish(t.fanoutExchange, '', Buffer.from(JSON.stringify({ ...notification(1000 + i), priority: i % 10 })), { persistent: true, priority: i % 10, headers: { [ORIGIN_HEADER]: 'old' } });
    }
    await ch.waitForConfirms();
    expect(await depth(t.ingressQueue)).toBe(IN_INGRESS);
    expect(await depth(t.nodeQueue('a'))).toBe(IN_NODE_QUEUES);

    // A node of the earlier version still consumes the old ingress, holding one message unacknowledged.
    const oldNode = await probes.createChannel();
    await oldNode.prefetch(1);
    let held = 0;
    await oldNode.consume(t.ingressQueue, () => held++, { noAck: false });
    await waitFor('the old node holds a message', () => held === 1, 5000, 20);

    // Upgraded producers first: the notifier takes the old ingress as it is and declares the urgent lane's queue.
    await farm.startNotifier();
    expect(await isCurrent(t.ingressQueue, { 'x-dead-letter-exchange': t.deadLetterExchange })).toBe(false);
    const nodes = ['a', 'b'].map((id) => farm.startNode(id, {}, false));
    // More notifications, ordinary and urgent, while the nodes start and upgrade.
    for (let i = 0; i < DURING; i++) {
      await farm.publishRaw(JSON.stringify(notification(2000 + i, { priority: i % 10 })), {}, i % 10 >= 5 ? 'notification.urgent' : 'notification');
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(nodes);
    const total = IN_INGRESS + IN_NODE_QUEUES + DURING;
    await farm.converged(total - 1, ['a', 'b'], 60_000);
    // While it consumes, the old ingress stays (the broker refuses to delete a queue in use), drained but not replaced.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await isCurrent(t.ingressQueue, { 'x-dead-letter-exchange': t.deadLetterExchange })).toBe(false);
    expect(await farm.redis.exists(ingressUpgradeKey(farm.ns))).toBe(1);
    const upgrading = await Promise.all(['a', 'b'].map(async (id) => (await farm.node(id).get<{ upgrading: string[] }>('/v1/health')).upgrading));
    expect(upgrading.flat()).toContain(t.ingressQueue);
    // It stops: its message goes back to the old queue, and the nodes take it from there.
    await oldNode.close();
    await farm.converged(total, ['a', 'b'], 30_000);

    // Replaced: this version's declarations are taken (the old queues are gone), and the nodes consume the new ones.
    const nodeArgs = { 'x-dead-letter-exchange': t.deadLetterExchange, 'x-expires': EXPIRES_MS };
    await waitFor('every old queue replaced', async () => (await isCurrent(t.ingressQueue, { 'x-dead-letter-exchange': t.deadLetterExchange }))
      && (await isCurrent(t.nodeQueue('a'), nodeArgs)) && (await isCurrent(t.nodeQueue('b'), nodeArgs)), 30_000, 200);
    await waitFor('both nodes consume the new ingress, each its own new queue', async () => {
      const c = await farm.channel();
      const [ingress, qa, qb] = await Promise.all([c.checkQueue(t.ingressQueue), c.checkQueue(t.nodeQueue('a')), c.checkQueue(t.nodeQueue('b'))]);
      return ingress.consumerCount === 2 && qa.consumerCount === 1 && qb.consumerCount === 1;
    }, 15_000, 200);
    expect(await farm.redis.exists(ingressUpgradeKey(farm.ns))).toBe(0);
    for (const id of ['a', 'b']) expect(await farm.node(id).get('/v1/health')).toMatchObject({ upgrading: [] });
    expect(await depth(t.deadQueue)).toBe(0);
    const told = farm.logLines(/is an earlier version's queue \(with priorities\): draining it/).length;
    expect(told).toBeGreaterThanOrEqual(3); // each node's own queue, and the ingress by at least one node

    // The new bindings: an ordinary notification waits in the new `<ns>.ingress`, not in the urgent twin; then both nodes take it.
    await Promise.all(['a', 'b'].map((id) => farm.node(id).stop()));
    await farm.publishRaw(JSON.stringify(notification(5000)));
    expect(await depth(t.ingressQueue)).toBe(1);
    expect(await depth(t.ingressUrgentQueue)).toBe(0);
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
    await farm.converged(total + 1, ['a', 'b'], 30_000);
    // A restart finds nothing to upgrade.
    expect(farm.logLines(/is an earlier version's queue/)).toHaveLength(told);
  });
});
