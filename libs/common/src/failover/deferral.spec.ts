import fc from 'fast-check';
import { ClientInfo, DeferralAmount, DeferralStrategy, chooseDeferred, deferralCount, deferralOrder } from './deferral';

const client = (id: string, group?: string, latencyMs?: number): ClientInfo => ({ id, group, latencyMs, address: `10.0.0.${id.length}` });
const clients = [client('c3', 'gold', 40), client('c1', 'bronze', 120), client('c2', 'silver'), client('c4', 'gold', 120), client('c5', undefined, 5)];
const idsOf = (cs: ClientInfo[]): string[] => cs.map((c) => c.id);

describe('deferral order', () => {
  it('by list: the listed clients in the list’s order, then the others by id', () => {
    expect(idsOf(deferralOrder(clients, { by: 'list', list: ['c4', 'c9', 'c2', 'c4'] }))).toEqual(['c4', 'c2', 'c1', 'c3', 'c5']);
  });

  it('by group: by the order of the groups, unlisted groups and no group last, ties by id', () => {
    expect(idsOf(deferralOrder(clients, { by: 'group', groups: ['bronze', 'gold'] }))).toEqual(['c1', 'c3', 'c4', 'c2', 'c5']);
  });

  it('by latency: highest first, ties by id, unknown latency last', () => {
    expect(idsOf(deferralOrder(clients, { by: 'latency' }))).toEqual(['c1', 'c4', 'c3', 'c5', 'c2']);
  });
});

describe('how many', () => {
  it('takes a count, capped at the clients there are, or a fraction rounded up', () => {
    expect(deferralCount({ count: 2 }, 5)).toBe(2);
    expect(deferralCount({ count: 9 }, 5)).toBe(5);
    expect(deferralCount({ fraction: 0.5 }, 5)).toBe(3);
    expect(deferralCount({ fraction: 0.01 }, 5)).toBe(1);
    expect(deferralCount({ fraction: 1 }, 0)).toBe(0);
  });

  it('defers the first ones of the order, or every client when a mandatory service is down', () => {
    const settings = { strategy: { by: 'latency' } as const, amount: { count: 2 } };
    expect(idsOf(chooseDeferred(clients, settings))).toEqual(['c1', 'c4']);
    expect(idsOf(chooseDeferred(clients, settings, true))).toEqual(['c1', 'c4', 'c3', 'c5', 'c2']);
  });
});

const groups = ['gold', 'silver', 'bronze', 'tin'];
const clientsArb = fc.uniqueArray(
  fc.record({
    id: fc.integer({ min: 0, max: 40 }).map((n) => `c${n}`),
    group: fc.option(fc.constantFrom(...groups), { nil: undefined }),
    latencyMs: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
    address: fc.constant('10.0.0.1'),
  }),
  { selector: (c) => c.id, maxLength: 20 },
);
const strategyArb: fc.Arbitrary<DeferralStrategy> = fc.oneof(
  fc.record({ by: fc.constant('list' as const), list: fc.array(fc.integer({ min: 0, max: 40 }).map((n) => `c${n}`), { maxLength: 10 }) }),
  fc.record({ by: fc.constant('group' as const), groups: fc.subarray(groups) }),
  fc.record({ by: fc.constant('latency' as const) }),
);
const amountArb: fc.Arbitrary<DeferralAmount> = fc.oneof(
  fc.integer({ min: 0, max: 25 }).map((count) => ({ count })),
  fc.integer({ min: 1, max: 100 }).map((p) => ({ fraction: p / 100 })),
);

/** The strategy's sort key of a client, compared element by element (smaller defers first). */
function keyOf(c: ClientInfo, s: DeferralStrategy): [number, string] {
  if (s.by === 'list') return [s.list.includes(c.id) ? s.list.indexOf(c.id) : s.list.length, c.id];
  if (s.by === 'group') return [c.group !== undefined && s.groups.includes(c.group) ? s.groups.indexOf(c.group) : s.groups.length, c.id];
  return [c.latencyMs === undefined ? Infinity : -c.latencyMs, c.id];
}
const before = (a: [number, string], b: [number, string]): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

describe('deferral properties', () => {
  it('property: picks exactly min(count, clients) distinct clients, every one ahead of every client left in the configured order, whatever the input order', () => {
    const seen = { samples: 0, some: 0, all: 0, list: 0, group: 0, latency: 0 };
    fc.assert(
      fc.property(clientsArb, strategyArb, amountArb, fc.integer(), (cs, strategy, amount, seed) => {
        const picked = chooseDeferred(cs, { strategy, amount });
        const want = 'count' in amount ? Math.min(amount.count, cs.length) : Math.ceil(amount.fraction * cs.length);
        seen.samples++;
        seen[strategy.by]++;
        if (want < cs.length) seen.some++;
        else seen.all++;
        expect(picked).toHaveLength(want);
        expect(new Set(idsOf(picked)).size).toBe(picked.length);
        const left = cs.filter((c) => !picked.includes(c));
        for (const p of picked) for (const q of left) expect(before(keyOf(p, strategy), keyOf(q, strategy))).toBe(true);
        picked.forEach((p, i) => i === 0 || expect(before(keyOf(picked[i - 1], strategy), keyOf(p, strategy))).toBe(true));
        const shuffled = [...cs].sort((a, b) => Math.sin(seed + a.id.length * 7 + Number(a.id.slice(1))) - Math.sin(seed + b.id.length * 7 + Number(b.id.slice(1))));
        expect(idsOf(chooseDeferred(shuffled, { strategy, amount }))).toEqual(idsOf(picked));
      }),
      { numRuns: 600 },
    );
    for (const k of ['some', 'all', 'list', 'group', 'latency'] as const) expect(seen[k] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
