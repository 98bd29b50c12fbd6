import { createConnection, createServer, Server, Socket } from 'node:net';
import { RingRepository } from '../libs/common/src/redis/ring.repository';
import { RingView } from '../libs/common/src/availability/ring.service';
import { freePort } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { REDIS_URL, TestFarm } from './support/test-farm';
import { holdsFor } from './support/holds-for';

jest.setTimeout(120_000);

const INTERVAL = 500;
const MISSES = 3;
/** The bound on detection and relink: PING_INTERVAL_MS x (PING_MISSES + 2). */
const WINDOW = INTERVAL * (MISSES + 2);
/** How long a paused node stays stopped: half the window, too short to be declared dead. */
const PAUSE_MS = WINDOW / 2;
/** How long the others are watched after the pause: a wrong declaration would come within a window of it. */
const QUIET_MS = 2 * WINDOW;

/** A TCP proxy to Redis that a test can cut, to make Redis unreachable for one node only. */
async function redisProxy(): Promise<{ url: string; cut: () => void }> {
  const target = new URL(REDIS_URL());
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 6379) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { url: `redis://127.0.0.1:${port}`, cut: () => { server.close(); sockets.forEach((s) => s.destroy()); } };
}

describe('buddy ring', () => {
  const farm = new TestFarm('ring', { PING_INTERVAL_MS: String(INTERVAL), PING_MISSES: String(MISSES) });
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const view = (id = 'n1'): Promise<RingView> => farm.node(id).get<RingView>('/v1/ring');
  const stats = (id: string): Promise<{ declaredDead: number; suspectingSelf: boolean }> => farm.node(id).get('/v1/ring/stats');

  afterAll(() => farm.cleanup());

  it('forms one valid cycle when five nodes start at the same moment', async () => {
    await Promise.all(ids.map((id) => farm.startNode(id)));
    const v = await view();
    expect(v.servers.map((s) => s.id).sort()).toEqual(ids);
    expect(v.consistent).toBe(true);
    expect([...v.ring].sort()).toEqual(ids);
    for (const s of v.servers) expect(new Set([s.buddyA, s.buddyB]).size).toBe(2);
  });

  it('reads its table only with reason: idle for 10 s, a node reads its rows at most once (its 30 s refresh), never the whole table, where it used to read it every round', async () => {
    const key = `${farm.ns}:ring`;
    const monitor = await farm.redis.monitor(); // a connection of its own, closed below
    const reads: string[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      // Commands a script runs show up as source "lua": the script call itself is the read.
      if (source === 'lua') return;
      const [cmd, ...rest] = args.map(String);
      const c = cmd.toLowerCase();
      const keyArg = c === 'eval' || c === 'evalsha' ? rest[2] : rest[0];
      if (keyArg === key && ['hgetall', 'hget', 'hmget', 'eval', 'evalsha', 'hkeys', 'hvals', 'hscan'].includes(c)) reads.push(c);
    });
    try {
      await new Promise((r) => setTimeout(r, 500));
      const before = await Promise.all(ids.map((id) => farm.node(id).get<{ rounds: number }>('/v1/ring/stats')));
      reads.length = 0;
      const SECONDS = 10;
      await new Promise((r) => setTimeout(r, SECONDS * 1000));
      const idle = [...reads];
      const after = await Promise.all(ids.map((id) => farm.node(id).get<{ rounds: number }>('/v1/ring/stats')));
      // The nodes were watching all along (two rounds a second each)...
      for (let i = 0; i < ids.length; i++) expect(after[i].rounds - before[i].rounds).toBeGreaterThanOrEqual(SECONDS);
      // ...and read the table at most once each (a refresh every 30 s can fall in a 10 s window once), never whole.
      expect(idle.length).toBeLessThanOrEqual(ids.length);
      expect(idle.filter((c) => c === 'hgetall')).toEqual([]);
      // The count sees reads: the ring's view reads the whole table once.
      await view();
      await waitFor('the view\'s read counted', () => reads.length > idle.length, 5000, 20);
      expect(reads.slice(idle.length)).toContain('hgetall');
    } finally {
      monitor.disconnect();
    }
  });

  it('cuts a node killed with -9 out and relinks its buddies within the detection window', async () => {
    const t0 = Date.now();
    await farm.node('n3').stop('SIGKILL');
    const v = await waitFor('n3 cut out', async () => {
      const r = await view();
      return !r.servers.some((s) => s.id === 'n3') && r.consistent ? r : undefined;
    }, 3 * WINDOW, 25);
    const took = Date.now() - t0;
    expect(took).toBeLessThanOrEqual(WINDOW);
    expect(v.servers).toHaveLength(4);
  });

  it('cuts a node out at once on a normal shutdown', async () => {
    await farm.startNode('n3');
    await waitFor('n3 back in', async () => (await view()).servers.length === 5);
    const t0 = Date.now();
    await farm.node('n3').stop('SIGTERM');
    const v = await view();
    expect(v.servers.map((s) => s.id)).not.toContain('n3');
    expect(v.consistent).toBe(true);
    expect(Date.now() - t0).toBeLessThan(WINDOW);
  });

  it('declares no node dead that was paused (SIGSTOP) for half the window', async () => {
    await farm.startNode('n3');
    await waitFor('n3 back in', async () => (await view()).servers.length === 5);
    const others = ['n1', 'n2', 'n4', 'n5'];
    const deaths = async () => (await Promise.all(others.map((id) => stats(id)))).map((s) => s.declaredDead);
    const before = await deaths();
    const untouched = async () => (await view()).servers.length === 5 && JSON.stringify(await deaths()) === JSON.stringify(before);
    farm.node('n3').signal('SIGSTOP');
    try {
      await holdsFor('five nodes and no death declared while n3 is paused', untouched, PAUSE_MS);
    } finally {
      farm.node('n3').signal('SIGCONT');
    }
    await waitFor('n3 answering again', async () => (await fetch(`${farm.node('n3').url}/v1/health`)).status === 200, WINDOW);
    await holdsFor('five nodes and no death declared after the pause', untouched, QUIET_MS);
  });

  it('brings a node that was wrongly removed back by itself', async () => {
    const conn = farm.redis.duplicate();
    try {
      expect(await new RingRepository(conn, `${farm.ns}:ring`).remove('n4')).toBeDefined();
      await waitFor('n4 announced itself again', async () => {
        const v = await view();
        return v.servers.some((s) => s.id === 'n4') && v.consistent;
      }, 3 * WINDOW);
    } finally {
      conn.disconnect();
    }
  });

  it('lets a node that cannot reach Redis declare nobody dead', async () => {
    const proxy = await redisProxy();
    await farm.startNode('n6', { REDIS_URL: proxy.url });
    await waitFor('n6 in the ring', async () => (await view()).servers.some((s) => s.id === 'n6'));
    const n6 = (await view()).servers.find((s) => s.id === 'n6')!;
    proxy.cut();
    const victim = n6.buddyA!;
    const observer = ['n1', 'n2', 'n5'].find((id) => id !== victim)!;
    await farm.node(victim).stop('SIGKILL');
    await waitFor(`${victim} cut out by its other buddy`, async () => {
      const v = await view(observer);
      return !v.servers.some((s) => s.id === victim) && v.consistent;
    }, 3 * WINDOW);
    const s = await stats('n6');
    expect(s.declaredDead).toBe(0);
    expect(s.suspectingSelf).toBe(true);
  });
});
