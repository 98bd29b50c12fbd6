import Redis from 'ioredis';
import { isValidRing } from '../libs/common/src/domain/ring';
import { RingRepository } from '../libs/common/src/redis/ring.repository';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REDIS_URL } from './support/test-farm';

jest.setTimeout(30_000);

describe('ring table in Redis', () => {
  const key = `${uniqueNamespace('ring')}:ring`;
  const conns: Redis[] = [];
  /** One repository per node, each on its own connection, as separate processes would have. */
  const node = (): RingRepository => {
    const r = new Redis(REDIS_URL());
    conns.push(r);
    return new RingRepository(r, key);
  };

  afterAll(async () => {
    await conns[0]?.del(key);
    conns.forEach((c) => c.disconnect());
  });

  it('applies the issue example exactly', async () => {
    const repo = node();
    const rows = { '1': ['2', '3'], '2': ['3', '1'], '3': ['1', '2'] };
    for (const [id, [a, b]] of Object.entries(rows)) await conns[0].hset(key, id, JSON.stringify({ address: `http://${id}`, buddyA: a, buddyB: b }));
    const t0 = await repo.read();
    expect(Object.fromEntries(Object.entries(t0).map(([id, r]) => [id, [r.buddyA, r.buddyB]]))).toEqual({ '1': ['2', '3'], '2': ['3', '1'], '3': ['1', '2'] });
    await repo.announce('4', 'http://4', () => '2');
    const t1 = await repo.read();
    expect(Object.fromEntries(Object.entries(t1).map(([id, r]) => [id, [r.buddyA, r.buddyB]]))).toEqual({ '1': ['2', '3'], '2': ['4', '1'], '3': ['1', '4'], '4': ['2', '3'] });
    expect(await repo.remove('4')).toEqual(['2', '3']);
    expect(Object.fromEntries(Object.entries(await repo.read()).map(([id, r]) => [id, [r.buddyA, r.buddyB]]))).toEqual({ '1': ['2', '3'], '2': ['3', '1'], '3': ['1', '2'] });
  });

  afterEach(() => conns[0]?.del(key));

  it('stays one valid cycle when twelve nodes join at once and four die at once', async () => {
    const repos = Array.from({ length: 12 }, () => node());
    await Promise.all(repos.map((r, i) => r.announce(`n${i}`, `http://n${i}`)));
    const joined = await repos[0].read();
    expect(Object.keys(joined)).toHaveLength(12);
    expect(isValidRing(joined)).toBe(true);
    await Promise.all([1, 4, 7, 10].map((i) => repos[(i + 1) % 12].remove(`n${i}`)));
    const after = await repos[0].read();
    expect(Object.keys(after)).toHaveLength(8);
    expect(isValidRing(after)).toBe(true);
  });
});
