import { readFileSync } from 'node:fs';
import { serializeEntry, canonicalEntry, keyOf, Entry } from '../libs/common/src/domain/notification';
import { TestFarm } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(90_000);
/** A node's first handshake ends before it is ready: peers agree with it at once, give or take a read. */
const READY_MS = 1000;
/** A process may take this long to listen at all on a loaded machine (as AppProcess.ready allows). */
const STARTUP_MS = 20_000;

function entry(target: string, i: number): Entry {
  return canonicalEntry({ targetType: 'application', target, kind: '*', available: false, reason: 'outage', source: 'operator', timestamp: new Date(Date.now() - 3_600_000 + i).toISOString(), id: `${target}-${i}`, priority: 0 });
}

interface Report {
  peers: { peer: string; ok: boolean; learned: number; sent: number }[];
  followUps: { peer: string; ok: boolean }[];
  learned: number;
}

describe('union-merge handshake', () => {
  const farm = new TestFarm('handshake');
  /** Writes entries straight into a (stopped) node's Redis state, as if it had learned them earlier. */
  const seed = (node: string, entries: Entry[]): Promise<unknown> =>
    farm.redis.hset(`${farm.ns}:node:${node}:entries`, ...entries.flatMap((e) => [keyOf(e), serializeEntry(e)]));

  afterAll(() => farm.cleanup());

  it('the first node of a farm starts alone', async () => {
    await seed('a', [entry('only-a', 1)]);
    const a = await farm.startNode('a', { SYNC_PEER_COUNT: '0' });
    const h = await a.get<{ entries: number; restored: number }>('/v1/health');
    expect(h).toMatchObject({ entries: 1, restored: 1 });
  });

  it('peers learn from a starting node, and it learns from them', async () => {
    await seed('b', [entry('only-b', 2), entry('only-b2', 3)]);
    await farm.startNode('b', { SYNC_PEERS: 'a' });
    const [a, b] = await farm.converged(3, ['a', 'b'], READY_MS);
    expect(a.entries.map((e) => e.target).sort()).toEqual(['only-a', 'only-b', 'only-b2']);
    expect(b.digest).toBe(a.digest);
  });

  it('gives a follow-up to a peer that answered before news was found elsewhere (serial mode)', async () => {
    // c holds news that neither a nor b has, and starts without talking to anyone.
    await seed('c', [entry('only-c', 4)]);
    await farm.startNode('c', { SYNC_PEER_COUNT: '0' });
    expect((await farm.snapshot('c')).count).toBe(1);
    // d asks a first, then c: a answered before c's news was found, so a gets a follow-up.
    await seed('d', [entry('only-d', 5)]);
    const d = await farm.startNode('d', { SYNC_PEERS: 'a,c', SYNC_MODE: 'serial' });
    // The follow-up is part of d's first handshake, which ends before d is ready: a has c's news now.
    expect((await farm.snapshot('a')).entries.map((e) => e.target).sort()).toEqual(['only-a', 'only-b', 'only-b2', 'only-c', 'only-d']);
    const firstHandshake = /handshake with (.*): learned (\d+), (\d+) follow-up\(s\)/.exec(readFileSync(d.logFile, 'utf8'));
    expect(firstHandshake?.slice(1)).toEqual(['a, c', '4', '1']);
    await farm.converged(5, ['a', 'c', 'd'], READY_MS);
    const report = await farm.node('d').post('/v1/sync');
    expect(report.status).toBe(200);
    expect((report.body as Report).learned).toBe(0);
  });

  it('reports what it learned on demand, and skips a peer that does not answer', async () => {
    await farm.node('c').stop();
    await seed('c', [entry('late-c', 6)]);
    await farm.startNode('c', { SYNC_PEER_COUNT: '0' });
    await farm.node('b').signal('SIGSTOP');
    try {
      const res = await farm.node('a').post('/v1/sync?peers=b,c');
      const report = res.body as Report;
      expect(res.status).toBe(200);
      expect(report.learned).toBe(1);
      expect(report.peers.find((p) => p.peer === 'b')?.ok ?? false).toBe(false);
    } finally {
      farm.node('b').signal('SIGCONT');
    }
  });

  it('keeps a starting node syncing (503, ingress paused) until its first handshake is done or timed out', async () => {
    await farm.node('b').signal('SIGSTOP');
    try {
      const e = await farm.startNode('e', { SYNC_PEERS: 'b', SYNC_TIMEOUT_MS: '2500' }, false);
      const syncing = await waitFor('e answers syncing', async () => {
        const r = await fetch(`${e.url}/v1/health`).catch(() => undefined);
        return r?.status === 503 ? ((await r.json()) as { status: string }) : undefined;
      }, STARTUP_MS);
      expect(syncing.status).toBe('syncing');
      const consumers = await (await farm.channel()).checkQueue(farm.t.ingressQueue);
      expect(consumers.consumerCount).toBe(4); // a, b (stopped, still registered), c, d: not e yet
      await e.ready();
      expect((await (await farm.channel()).checkQueue(farm.t.ingressQueue)).consumerCount).toBe(5);
    } finally {
      farm.node('b').signal('SIGCONT');
    }
  });
});
