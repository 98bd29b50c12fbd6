import { TestFarm, notification } from './support/test-farm';
import { TestRedis } from './support/redis-server';
import { waitFor } from '../libs/common/src/testing/wait-for';

/**
 * Faults of Redis under a stream of notifications, on a redis-server the suite starts on a free
 * port (never the shared one): refusing writes (maxmemory reached) for 5 s and for 60 s, stopped for
 * 30 s and started again with and without its data. After each: nothing valid dead-lettered, every
 * notification applied on every node and stored in its Redis state, every node restarted alone
 * still has all of them, no channel error in any log, health 503 during the outage and 200 after.
 */
jest.setTimeout(300_000);

const NODES = ['a', 'b', 'c'];
const TOTAL = 1000;
/** Every 100th message of the stream is poison (malformed JSON), mixed in to exercise acks and rejections together. */
const POISON_EVERY = 100;

interface Scenario {
  farm: TestFarm;
  redis: TestRedis;
  validIds: string[];
  poison: number;
  /** Dead letters read so far (reading takes them off the queue). */
  dead: { reason: string; body: string }[];
}

async function readDead(s: Scenario): Promise<{ reason: string; body: string }[]> {
  s.dead.push(...(await s.farm.deadLetters()));
  return s.dead;
}

async function startScenario(name: string): Promise<Scenario> {
  const redis = await new TestRedis(true).start();
  const farm = new TestFarm(name, { REDIS_URL: redis.url });
  await Promise.all(NODES.map((id) => farm.startNode(id)));
  return { farm, redis, validIds: [], poison: 0, dead: [] };
}

async function endScenario(s: Scenario): Promise<void> {
  await s.farm.cleanup();
  await s.redis.destroy();
}

/** Publishes notifications `from` .. `to`-1 with a confirm each, a poison message every POISON_EVERY. */
async function stream(s: Scenario, from: number, to: number, offset: number): Promise<void> {
  for (let i = from; i < to; i++) {
    if (i % POISON_EVERY === POISON_EVERY - 1) {
      await s.farm.publishRaw(`{"target":"poison-${i}","available":fal`);
      s.poison++;
    }
    const n = notification(offset + i);
    await s.farm.publish(n);
    s.validIds.push(n.id as string);
  }
}

async function health(s: Scenario, id: string): Promise<{ status: number; body: { status: string; degraded?: string } }> {
  const r = await fetch(`${s.farm.node(id).url}/v1/health`);
  return { status: r.status, body: (await r.json()) as { status: string; degraded?: string } };
}

/** Waits until every node answers 503 naming redis among what it cannot use. */
async function everyNodeDegraded(s: Scenario): Promise<void> {
  await waitFor('every node reports redis degraded', async () => {
    const hs = await Promise.all(NODES.map((id) => health(s, id)));
    return hs.every((h) => h.status === 503 && h.body.degraded?.split(',').includes('redis'));
  }, 15_000, 100);
}

/** Everything the issue asks after a fault. */
async function assertNothingLost(s: Scenario): Promise<void> {
  const { farm } = s;
  const snaps = await farm.converged(s.validIds.length, NODES, 60_000);
  for (const snap of snaps) expect(snap.entries.map((e) => e.id).sort()).toEqual([...s.validIds].sort());
  // health back to 200 on every node
  for (const id of NODES) await waitFor(`${id} healthy again`, async () => (await health(s, id)).status === 200, 30_000, 100);
  // in Redis, for every node
  for (const id of NODES) {
    const stored = await waitFor(`${id}'s Redis state complete`, async () => {
      const ids = await farm.storedIds(id);
      return ids.size === s.validIds.length ? ids : undefined;
    }, 30_000, 200);
    expect(s.validIds.filter((v) => !stored.has(v))).toEqual([]);
  }
  // only the poison in the dead letters, each with its reason
  const dead = await waitFor('poison dead-lettered', async () => ((await readDead(s)).length >= s.poison ? s.dead : undefined), 30_000, 200);
  expect(dead).toHaveLength(s.poison);
  expect(dead.every((d) => /malformed JSON/.test(d.reason))).toBe(true);
  expect(farm.logLines(/unknown delivery tag|PRECONDITION_FAILED/)).toEqual([]);
}

/** Stops every node, then starts each one alone: it must restore every notification from Redis. */
async function assertEachNodeAloneHasAll(s: Scenario): Promise<void> {
  const { farm } = s;
  await Promise.all(NODES.map((id) => farm.node(id).stop('SIGTERM')));
  for (const id of NODES) {
    await farm.startNode(id);
    const h = await farm.node(id).get<{ restored: number }>('/v1/health');
    expect({ id, restored: h.restored }).toEqual({ id, restored: s.validIds.length });
    expect((await farm.snapshot(id)).count).toBe(s.validIds.length);
    await farm.node(id).stop('SIGTERM');
  }
}

/** Lets the outage last `ms` from `since`, ends it, then checks nothing was lost, also by each node alone. */
async function endOutage(s: Scenario, since: number, ms: number, recover: () => Promise<unknown>): Promise<void> {
  await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - since))));
  await recover();
  await assertNothingLost(s);
  await assertEachNodeAloneHasAll(s);
}

async function refusingWritesFor(ms: number, name: string): Promise<void> {
  const s = await startScenario(name);
  try {
    await stream(s, 0, 200, 0);
    await s.redis.refuseWrites();
    const since = Date.now();
    await stream(s, 200, TOTAL, 0);
    // During the outage: health 503 naming redis, lookups still answer from the cache.
    await everyNodeDegraded(s);
    // The consumers stopped taking deliveries: what arrived meanwhile waits in the ingress queue, and health says which queues wait.
    const waiting = await (await s.farm.channel()).checkQueue(s.farm.t.ingressQueue);
    expect(waiting.messageCount).toBeGreaterThan(0);
    const h = await s.farm.node('a').get<{ pausedByTrouble: string[] }>('/v1/health');
    expect(h.pausedByTrouble).toEqual(expect.arrayContaining([s.farm.t.ingressQueue]));
    const lookup = await s.farm.node('b').get<{ available: boolean }>('/v1/availability/app5');
    expect(lookup.available).toBe(false);
    // Nothing valid has been dead-lettered while Redis refuses (only poison may be there).
    expect((await readDead(s)).every((d) => /malformed JSON/.test(d.reason))).toBe(true);
    await endOutage(s, since, ms, () => s.redis.acceptWrites());
  } finally {
    await endScenario(s);
  }
}

async function stoppedFor(ms: number, keepData: boolean, name: string): Promise<void> {
  const s = await startScenario(name);
  try {
    await stream(s, 0, 300, 0);
    await s.farm.converged(s.validIds.length, NODES, 30_000);
    await s.redis.stop(!keepData);
    const since = Date.now();
    await stream(s, 300, TOTAL, 0);
    await everyNodeDegraded(s);
    // Lookups answer from the cache while Redis is away.
    expect((await s.farm.node('c').get<{ available: boolean }>('/v1/availability/app5')).available).toBe(false);
    await endOutage(s, since, ms, () => s.redis.start());
  } finally {
    await endScenario(s);
  }
}

describe('Redis faults under a stream of 1,000 notifications to three nodes', () => {
  it('Redis refusing writes for 5 s: nothing dead-lettered, all applied and durable on every node', () => refusingWritesFor(5_000, 'oom5'));

  it('Redis refusing writes for 60 s: nothing dead-lettered, all applied and durable on every node', () => refusingWritesFor(60_000, 'oom60'), 400_000);

  it('Redis stopped for 30 s and started again with its data: nothing lost', () => stoppedFor(30_000, true, 'stop-keep'));

  it('Redis stopped for 30 s and started again empty: nodes write their state back, nothing lost', () => stoppedFor(30_000, false, 'stop-empty'));
});
