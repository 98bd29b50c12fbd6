import { TestFarm, notification } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(60_000);
/** Every running node holds a notification within this (README: p99 160 ms from publish to all nodes). */
const PROPAGATION_MS = 2000;
/** A guarded route of an unavailable application answers within this (it does not try the work). */
const FAIL_FAST_MS = 500;

describe('propagation through the notifier, ingress and fanout', () => {
  const farm = new TestFarm('propagation');

  beforeAll(async () => {
    await Promise.all(['a', 'b', 'c'].map((id) => farm.startNode(id)));
    await farm.startNotifier();
  });
  afterAll(() => farm.cleanup());

  it('takes a notification over HTTP to all three nodes, and the guarded routes fail fast', async () => {
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const res = await farm.notifier!.post('/v1/notifications', { target: 'db-main', targetType: 'resource', available: false, reason: 'maintenance', message: 'disk swap', expectedUpAt: until, operatorId: 'op1' });
    expect(res.status).toBe(202);
    const { id } = res.body as { id: string; timestamp: string };
    const snaps = await farm.converged(1, undefined, PROPAGATION_MS);
    for (const s of snaps) expect(s.entries[0]).toMatchObject({ id, target: 'db-main', available: false });

    const lookup = await farm.node('b').get('/v1/availability/mail?kind=send');
    expect(lookup).toMatchObject({ target: 'mail', kind: 'send', available: false, reason: 'maintenance', message: 'disk swap', expectedUpAt: until });
    const askedAt = Date.now();
    const r = await fetch(`${farm.node('c').url}/apps/web/read`);
    expect(r.status).toBe(503);
    expect(Date.now() - askedAt).toBeLessThan(FAIL_FAST_MS);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(3500);
    expect(await r.json()).toMatchObject({ available: false, reason: 'maintenance' });
    expect((await fetch(`${farm.node('c').url}/apps/search/read`)).status).toBe(200);
    expect(await farm.node('a').get('/v1/availability/db-main?targetType=resource')).toMatchObject({ available: false, reason: 'maintenance' });
    const metrics = await (await fetch(`${farm.node('a').url}/metrics`, { headers: farm.auth() })).text();
    expect(metrics).toMatch(/farm_entries_applied_total\{via="(ingress|fanout)"\} [1-9]/);
    expect(metrics).toMatch(/farm_entries 1/);

    const up = await farm.notifier!.post('/v1/notifications', { target: 'db-main', targetType: 'resource', available: true });
    expect(up.status).toBe(202);
    await waitFor('web back on every node', async () => {
      const codes = await Promise.all(['a', 'b', 'c'].map(async (n) => (await fetch(`${farm.node(n).url}/apps/web/read`)).status));
      return codes.every((c) => c === 200);
    }, PROPAGATION_MS);
    const audit = await farm.redis.lrange(`${farm.ns}:node:a:audit`, 0, -1);
    expect(audit.map((l) => JSON.parse(l))).toEqual(expect.arrayContaining([expect.objectContaining({ id, operatorId: 'op1', available: false, node: 'a' })]));
  });

  it('answers 400 with field errors and 413 for an oversized body', async () => {
    const bad = await farm.notifier!.post('/v1/notifications', { target: 'mail', available: 'no', colour: 'red' });
    expect(bad.status).toBe(400);
    expect((bad.body as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual(['available', 'colour']);
    const malformed = await farm.notifier!.post('/v1/notifications', undefined, '{"target":');
    expect(malformed.status).toBe(400);
    const big = await farm.notifier!.post('/v1/notifications', undefined, JSON.stringify({ target: 'mail', available: true, message: 'x'.repeat(70_000) }));
    expect(big.status).toBe(413);
  });

  it('ends 50 notifications to one key, published in shuffled order, in the same entry on every node', async () => {
    const before = (await farm.snapshot('a')).count;
    const items = Array.from({ length: 50 }, (_, i) => notification(i, { target: 'shuffled', available: i % 2 === 0, id: `s-${String(i).padStart(3, '0')}` }));
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    await Promise.all(items.map((n) => farm.publish(n)));
    const snaps = await farm.converged(before + 1, undefined, PROPAGATION_MS);
    for (const s of snaps) {
      const e = s.entries.find((x) => x.target === 'shuffled');
      expect(e).toMatchObject({ id: 's-049', timestamp: notification(49).timestamp, available: false });
    }
  });

  it('lets an urgent notification (routing key notification.urgent) overtake a backlog of ordinary ones waiting in ingress', async () => {
    // Stop consuming on every node, queue a backlog, then one urgent message on the urgent lane.
    await Promise.all(['a', 'b', 'c'].map((id) => farm.node(id).stop()));
    for (let i = 0; i < 300; i++) await farm.publishRaw(JSON.stringify(notification(1000 + i, { target: `backlog${i}` })), { priority: 0 });
    await farm.publishRaw(JSON.stringify(notification(5000, { target: 'urgent' })), { priority: 9 }, 'notification.urgent');
    await farm.startNode('a', {}, false);
    await waitFor('urgent applied', async () => (await farm.redis.llen(`${farm.ns}:node:a:audit`)) > 0 && (await farm.redis.lrange(`${farm.ns}:node:a:audit`, 0, -1)).some((l) => l.includes('|urgent|')), 20_000);
    const order = (await farm.redis.lrange(`${farm.ns}:node:a:audit`, 0, -1)).map((l) => JSON.parse(l) as { key: string; via: string }).filter((l) => l.via === 'ingress').reverse();
    const pos = order.findIndex((l) => l.key.includes('|urgent|'));
    expect(pos).toBeGreaterThanOrEqual(0);
    expect(pos).toBeLessThan(50);
    await Promise.all(['b', 'c'].map((id) => farm.startNode(id)));
    await farm.node('a').ready();
    const count = (await farm.snapshot('a')).count;
    await farm.converged(count);
  });
});
