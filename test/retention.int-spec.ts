import { TestFarm } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(60_000);

const DAY = 24 * 3600 * 1000;

function entry(target: string, available: boolean, ageMs: number): Record<string, unknown> {
  const e: Record<string, unknown> = { targetType: 'application', target, kind: '*', available };
  if (!available) e.reason = 'outage';
  return { ...e, source: 'operator', timestamp: new Date(Date.now() - ageMs).toISOString(), id: `${target}-id`, priority: 0 };
}

describe('retention: the state stays bounded over years', () => {
  const farm = new TestFarm('retention');
  afterAll(() => farm.cleanup());

  it('drops "available" entries older than RETENTION_MS and entries dated far ahead at start (audited as expire), keeps outages, refuses stale notifications', async () => {
    // what an older version left in Redis: an old "up" (dropped), an old "down" (kept, still an outage), a recent "up" (kept)
    const key = `${farm.ns}:node:a:entries`;
    const olds = [entry('old-up', true, 40 * DAY), entry('old-down', false, 40 * DAY), entry('new-up', true, DAY), entry('year-9999', true, -(Date.UTC(9999, 0, 1) - Date.now()))];
    for (const e of olds) await farm.redis.hset(key, `application|${e.target as string}|*`, JSON.stringify(e));
    await farm.redis.set(`${farm.ns}:node:a:marker`, 'x');
    await farm.startNode('a', { RETENTION_MS: String(30 * DAY) });
    const snap = await farm.snapshot('a');
    expect(snap.entries.map((e) => e.target).sort()).toEqual(['new-up', 'old-down']);
    expect(await farm.redis.hexists(key, 'application|old-up|*')).toBe(0);
    const audit = (await farm.redis.lrange(`${farm.ns}:node:a:audit`, 0, -1)).map((l) => JSON.parse(l) as { via: string; key: string });
    expect(audit.filter((l) => l.via === 'expire').map((l) => l.key).sort()).toEqual(['application|old-up|*', 'application|year-9999|*']);

    await farm.publish({ target: 'ancient', available: false, timestamp: new Date(Date.now() - 31 * DAY).toISOString() });
    const dead = await waitFor('stale notification dead-lettered', async () => {
      const d = await farm.deadLetters();
      return d.length > 0 ? d : undefined;
    });
    expect(dead[0].reason).toMatch(/stale/);
    expect((await farm.snapshot('a')).entries.map((e) => e.target)).not.toContain('ancient');
  });
});
