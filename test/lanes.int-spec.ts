import { TestFarm, notification } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(120_000);

const BACKLOG = 3000;

/**
 * Priority without priority queues: an urgent notification (priority 5-9) travels its own lane,
 * `<ns>.fanout.urgent` into each node's `<ns>.node.<id>.urgent`, which the node consumes beside
 * its ordinary queue; urgent re-broadcasts also reach the ordinary lane, which alone carries
 * everything.
 */
describe('lanes: urgent notifications beside ordinary ones', () => {
  const farm = new TestFarm('lanes');

  beforeAll(async () => {
    await Promise.all(['a', 'b', 'c'].map((id) => farm.startNode(id)));
    await farm.startNotifier();
  });
  afterAll(() => farm.cleanup());

  const depth = async (queue: string): Promise<number> => (await (await farm.channel()).checkQueue(queue)).messageCount;
  type AuditLine = { key: string; via: string };
  const auditOf = async (id: string): Promise<AuditLine[]> => (await farm.redis.lrange(`${farm.ns}:node:${id}:audit`, 0, -1)).map((l) => JSON.parse(l) as AuditLine).reverse();

  it('re-broadcasts an urgent notification on the urgent lane and copies it to the ordinary one; an ordinary one takes the ordinary lane only', async () => {
    await farm.node('c').stop();
    // Priority 9 in the body, published on the contract's routing key (as any AMQP client may).
    await farm.publishRaw(JSON.stringify(notification(1, { target: 'lane-urgent', priority: 9 })));
    await farm.converged(1, ['a', 'b']);
    expect(await depth(farm.t.nodeUrgentQueue('c'))).toBe(1);
    expect(await depth(farm.t.nodeQueue('c'))).toBe(1);
    await farm.publishRaw(JSON.stringify(notification(2, { target: 'lane-ordinary', priority: 4 })));
    await farm.converged(2, ['a', 'b']);
    expect(await depth(farm.t.nodeUrgentQueue('c'))).toBe(1);
    expect(await depth(farm.t.nodeQueue('c'))).toBe(2);
    await farm.startNode('c');
    await farm.converged(2);
    expect(await depth(farm.t.nodeUrgentQueue('c'))).toBe(0);
    expect(await depth(farm.t.nodeQueue('c'))).toBe(0);
  });

  it(`lets an urgent notification overtake a backlog of ${BACKLOG} ordinary ones waiting in every other node's queue`, async () => {
    await Promise.all(['b', 'c'].map((id) => farm.node(id).stop()));
    const before = (await farm.snapshot('a')).count;
    for (let i = 0; i < BACKLOG; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => farm.publishRaw(JSON.stringify(notification(10_000 + i + j, { target: `backlog${i + j}` })))));
    }
    const res = await farm.notifier!.post('/v1/notifications', { target: 'urgent-app', available: false, reason: 'outage', priority: 9 });
    expect(res.status).toBe(202);
    await farm.converged(before + BACKLOG + 1, ['a'], 60_000);
    // The backlog waits in b's and c's ordinary queues (re-broadcasts carry one or more notifications each).
    for (const id of ['b', 'c']) expect(await depth(farm.t.nodeQueue(id))).toBeGreaterThan(0);
    await Promise.all(['b', 'c'].map((id) => farm.startNode(id)));
    await farm.converged(before + BACKLOG + 1, undefined, 60_000);
    for (const id of ['b', 'c']) {
      // A node's cache converges before its last writes, audit lines included, reach Redis: wait for them.
      const fromFanout = await waitFor(`${id}'s audit trail to hold the backlog and the urgent one`, async () => {
        const lines = (await auditOf(id)).filter((l) => l.via === 'fanout');
        return lines.length >= BACKLOG + 1 ? lines : undefined;
      }, 20_000, 50);
      const pos = fromFanout.findIndex((l) => l.key.includes('|urgent-app|'));
      expect(pos).toBeGreaterThanOrEqual(0);
      // Applied among the first tenth: it did not wait for the backlog.
      expect(pos).toBeLessThan(BACKLOG / 10);
    }
  });
});
