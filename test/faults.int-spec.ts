import { assertLocalBroker, startLocalBroker, stopLocalBroker } from './support/local-broker';
import { TestFarm, notification } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(180_000);

/** Kills this farm's Redis connections, as a Redis restart would. */
async function dropRedisClients(farm: TestFarm): Promise<number> {
  const list = (await farm.redis.call('CLIENT', 'LIST')) as string;
  const ids = list.split('\n').filter((l) => l.includes(`name=${farm.ns}.`)).map((l) => /id=(\d+)/.exec(l)?.[1]).filter(Boolean) as string[];
  for (const id of ids) await farm.redis.call('CLIENT', 'KILL', 'ID', id).catch(() => undefined);
  return ids.length;
}

describe('faults', () => {
  const farm = new TestFarm('faults');
  const ids = ['a', 'b', 'c'];

  beforeAll(async () => {
    await Promise.all(ids.map((id) => farm.startNode(id)));
  });
  afterAll(() => farm.cleanup());

  it('kill -9 of a node mid-stream loses nothing, and applies each notification once in effect', async () => {
    const stream = (async () => {
      for (let i = 0; i < 600; i++) await farm.publish(notification(i));
    })();
    await waitFor('stream under way on b', async () => (await farm.snapshot('b')).count > 150);
    await farm.node('b').stop('SIGKILL');
    await stream;
    await farm.startNode('b');
    const snaps = await farm.converged(600);
    for (const s of snaps) expect(new Set(s.entries.map((e) => e.id)).size).toBe(600);
    const perKey = await farm.auditWhen('b', 'b\'s audit names all 600 keys', (lines) => {
      const counts = new Map<string, number>();
      for (const l of lines) {
        const key = (JSON.parse(l) as { key: string }).key;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      return counts.size >= 600 ? counts : undefined;
    });
    expect(perKey.size).toBe(600);
    expect([...perKey.values()].filter((n) => n !== 1)).toEqual([]);
  });

  it('Redis wiped under the nodes (their keys deleted, their connections dropped): nodes keep serving, notice the loss and write their state back', async () => {
    const before = await farm.snapshot('a');
    const keys = await farm.redis.keys(`${farm.ns}:node:*`);
    await farm.redis.del(...keys);
    expect(await dropRedisClients(farm)).toBeGreaterThan(0);
    // lookups keep working from the caches meanwhile
    expect((await farm.node('a').get<{ available: boolean }>('/v1/availability/app1')).available).toBe(false);
    for (const id of ids) {
      await waitFor(`${id} wrote its state back`, async () => (await farm.redis.hlen(`${farm.ns}:node:${id}:entries`)) === before.count, 15_000, 100);
    }
    // a node restarted afterwards recovers everything, here from Redis
    await farm.node('c').stop('SIGKILL');
    await farm.startNode('c');
    expect((await farm.node('c').get<{ restored: number }>('/v1/health')).restored).toBe(before.count);
    // and a node whose Redis state is gone for good recovers everything through the handshake
    await farm.node('c').stop('SIGKILL');
    await farm.redis.del(`${farm.ns}:node:c:entries`, `${farm.ns}:node:c:marker`);
    await farm.startNode('c');
    expect((await farm.node('c').get<{ restored: number }>('/v1/health')).restored).toBe(0);
    const snaps = await farm.converged(before.count);
    expect(snaps[0].digest).toBe(before.digest);
  });

  it('a broker restart during a stream loses no confirmed notification; 503 while it is down', async () => {
    assertLocalBroker();
    const notifier = await farm.startNotifier();
    const before = new Set((await farm.snapshot('a')).entries.map((e) => e.id));
    const accepted = new Set<string>();
    // A 503 means "not confirmed", not "not delivered": a publish whose confirm was lost when the
    // broker went down may still be in the queue. Such a notification may appear; none accepted may go missing.
    const unconfirmed = new Set<string>();
    let refused = 0;
    const unexpected: number[] = [];
    let stop = false;
    const stream = (async () => {
      for (let i = 0; !stop; i++) {
        const n = notification(10_000 + i);
        const r = await notifier.post('/v1/notifications', n).catch(() => ({ status: 0 }));
        if (r.status === 202) accepted.add(n.id as string);
        else {
          refused++;
          unconfirmed.add(n.id as string);
          // collected, not asserted here: an assertion in this loop would surface later as a timeout
          if (r.status !== 0 && r.status !== 503) unexpected.push(r.status);
          await new Promise((res) => setTimeout(res, 50));
        }
      }
    })();
    try {
      await waitFor('some accepted', () => accepted.size > 100);
      await waitFor('the first accepted applied on b', async () => (await farm.node('b').get<{ available: boolean }>('/v1/availability/app10000')).available === false);
      await stopLocalBroker();
      try {
        // while the broker is away: lookups still answer from the caches, the notifier refuses, health says why
        expect((await farm.node('b').get<{ available: boolean }>('/v1/availability/app10000')).available).toBe(false);
        expect((await notifier.post('/v1/notifications', { target: 'x', available: true })).status).toBe(503);
        const h = await fetch(`${farm.node('b').url}/v1/health`);
        expect({ status: h.status, degraded: ((await h.json()) as { degraded?: string }).degraded }).toEqual({ status: 503, degraded: 'broker' });
        await new Promise((r) => setTimeout(r, 1500));
      } finally {
        await startLocalBroker();
      }
      await waitFor('accepted again after the restart', async () => (await fetch(`${notifier.url}/v1/health`)).status === 200, 60_000, 200);
      const after = accepted.size;
      await waitFor('more accepted', () => accepted.size > after + 100, 30_000);
    } finally {
      // the stream stops whatever happened, so a failure surfaces here and not as a timeout later
      stop = true;
      await stream;
    }
    expect(refused).toBeGreaterThan(0);
    expect(unexpected).toEqual([]);
    for (const id of ids) await farm.node(id).ready(60_000);
    const snaps = await waitFor('every node holds every accepted notification, digests equal', async () => {
      const all = await Promise.all(ids.map((id) => farm.snapshot(id)));
      const complete = all.every((snap) => {
        const held = new Set(snap.entries.map((e) => e.id));
        return [...accepted].every((id) => held.has(id)) && snap.digest === all[0].digest;
      });
      return complete ? all : undefined;
    }, 60_000, 200);
    for (const snap of snaps) {
      const held = snap.entries.map((e) => e.id);
      expect([...accepted].filter((id) => !held.includes(id))).toEqual([]);
      // nothing but what was there, accepted, or sent without a confirm
      expect(held.filter((id) => !before.has(id) && !accepted.has(id) && !unconfirmed.has(id))).toEqual([]);
    }
    expect(await farm.deadLetters()).toEqual([]);
    expect(farm.logLines(/unknown delivery tag|PRECONDITION_FAILED/)).toEqual([]);
  });
});
