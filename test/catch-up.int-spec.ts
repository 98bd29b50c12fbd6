import { TestFarm, notification } from './support/test-farm';

jest.setTimeout(90_000);

/** Live nodes hold a burst of notifications within this; a node back up holds everything once ready. */
const PROPAGATION_MS = 3000;

/** Entries that changed a node's state since it started, by path, from its `farm_entries_applied_total` metric. */
function appliedVia(metrics: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics.matchAll(/^farm_entries_applied_total\{via="(\w+)"\} (\d+)$/gm)) if (Number(m[2]) > 0) out[m[1]] = Number(m[2]);
  return out;
}

describe('a node that was away catches up', () => {
  const farm = new TestFarm('catchup');

  beforeAll(async () => {
    await Promise.all(['a', 'b', 'c'].map((id) => farm.startNode(id)));
  });
  afterAll(() => farm.cleanup());
  const metricsOf = async (id: string): Promise<string> => (await fetch(`${farm.node(id).url}/metrics`, { headers: farm.auth() })).text();

  it('from its own queue, after being stopped while notifications flowed', async () => {
    await Promise.all(Array.from({ length: 20 }, (_, i) => farm.publish(notification(i))));
    await farm.converged(20, undefined, PROPAGATION_MS);
    await farm.node('c').stop();
    await Promise.all(Array.from({ length: 100 }, (_, i) => farm.publish(notification(100 + i))));
    await farm.converged(120, ['a', 'b'], PROPAGATION_MS);
    const depth = await (await farm.channel()).checkQueue(farm.t.nodeQueue('c'));
    // re-broadcasts may carry several notifications each: what matters is that they waited
    expect(depth.messageCount).toBeGreaterThan(0);
    await farm.startNode('c');
    // Ready means the backlog was taken before the handshake: nothing left to learn from peers.
    const health = await farm.node('c').get<{ entries: number; restored: number }>('/v1/health');
    expect(health).toMatchObject({ restored: 20, entries: 120 });
    // The 100 it missed came from its own queue, none from a peer.
    expect(appliedVia(await metricsOf('c'))).toEqual({ fanout: 100 });
    await farm.converged(120, undefined, PROPAGATION_MS);
  });

  it('through the handshake alone, when its queue was deleted while it was away', async () => {
    await farm.node('c').stop();
    await (await farm.channel()).deleteQueue(farm.t.nodeQueue('c'));
    await Promise.all(Array.from({ length: 30 }, (_, i) => farm.publish(notification(300 + i))));
    await farm.converged(150, ['a', 'b'], PROPAGATION_MS);
    await farm.startNode('c');
    const health = await farm.node('c').get<{ entries: number; restored: number }>('/v1/health');
    expect(health.restored).toBe(120);
    expect(health.entries).toBe(150);
    // The 30 it missed came from its peers, through the handshake.
    expect(appliedVia(await metricsOf('c'))).toEqual({ sync: 30 });
    await farm.converged(150, undefined, PROPAGATION_MS);
  });

  it('from Redis alone after a crash (kill -9), with nothing applied twice in effect', async () => {
    const before = await farm.snapshot('b');
    expect(before.count).toBe(150);
    await farm.node('b').stop('SIGKILL');
    await farm.startNode('b');
    // Everything it holds was read back from its own Redis state ...
    const health = await farm.node('b').get<{ entries: number; restored: number }>('/v1/health');
    expect(health).toMatchObject({ restored: 150, entries: 150 });
    // ... and neither its queue nor the handshake with its peers changed a single entry.
    expect(appliedVia(await metricsOf('b'))).toEqual({});
    const after = await farm.snapshot('b');
    expect(after.digest).toBe(before.digest);
  });
});
