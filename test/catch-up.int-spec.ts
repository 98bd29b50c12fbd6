import { TestFarm, notification } from './support/test-farm';

jest.setTimeout(90_000);

describe('a node that was away catches up', () => {
  const farm = new TestFarm('catchup');

  beforeAll(async () => {
    await Promise.all(['a', 'b', 'c'].map((id) => farm.startNode(id)));
  });
  afterAll(() => farm.cleanup());

  it('from its own queue, after being stopped while notifications flowed', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => farm.publish(notification(i))));
    await farm.converged(20);
    await farm.node('c').stop();
    await Promise.all(Array.from({ length: 100 }, (_, i) => farm.publish(notification(100 + i))));
    await farm.converged(120, ['a', 'b']);
    const depth = await (await farm.channel()).checkQueue(farm.t.nodeQueue('c'));
    // re-broadcasts may carry several notifications each: what matters is that they waited
    expect(depth.messageCount).toBeGreaterThan(0);
    await farm.startNode('c');
    // Ready means the backlog was taken before the handshake: nothing left to learn from peers.
    const health = await farm.node('c').get<{ entries: number }>('/v1/health');
    expect(health.entries).toBe(120);
    await farm.converged(120);
  });

  it('through the handshake alone, when its queue was deleted while it was away', async () => {
    await farm.node('c').stop();
    await (await farm.channel()).deleteQueue(farm.t.nodeQueue('c'));
    await Promise.all(Array.from({ length: 30 }, (_, i) => farm.publish(notification(300 + i))));
    await farm.converged(150, ['a', 'b']);
    await farm.startNode('c');
    const health = await farm.node('c').get<{ entries: number; restored: number }>('/v1/health');
    expect(health.restored).toBe(120);
    expect(health.entries).toBe(150);
    await farm.converged(150);
  });

  it('from Redis alone after a crash (kill -9), with nothing applied twice in effect', async () => {
    const before = await farm.snapshot('b');
    await farm.node('b').stop('SIGKILL');
    await farm.startNode('b');
    const after = await farm.snapshot('b');
    expect(after.digest).toBe(before.digest);
  });
});
