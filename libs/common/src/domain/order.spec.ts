import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { Entry, keyOf } from './notification';
import { compareEntries, foldEntries, mergeStates, newer } from './order';

const arbState = fc.array(arbEntry, { maxLength: 30 }).map((es) => foldEntries(es));
const same = (a: Map<string, Entry>, b: Map<string, Entry>): void => {
  expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
};

describe('order', () => {
  it('is a total order: antisymmetric and consistent with equality', () => {
    fc.assert(
      fc.property(arbEntry, arbEntry, (a, b) => {
        expect(Math.sign(compareEntries(a, b))).toBe(-Math.sign(compareEntries(b, a)));
        if (compareEntries(a, b) === 0) expect(a).toEqual(b);
      }),
    );
  });

  it('lets the later timestamp win, then the greater id', () => {
    const base: Entry = { targetType: 'application', target: 'mail', kind: '*', available: false, reason: 'outage', source: 'operator', timestamp: '2026-01-01T00:00:00.000Z', id: 'b', priority: 0 };
    const later = { ...base, available: true, timestamp: '2026-01-01T00:00:00.001Z', id: 'a' };
    const greaterId = { ...base, id: 'c' };
    expect(newer(later, base)).toBe(later);
    expect(newer(base, later)).toBe(later);
    expect(newer(base, greaterId)).toBe(greaterId);
    expect(newer(greaterId, base)).toBe(greaterId);
  });

  it('merge is commutative', () => {
    fc.assert(fc.property(arbState, arbState, (a, b) => same(mergeStates(a, b), mergeStates(b, a))));
  });

  it('merge is associative', () => {
    fc.assert(
      fc.property(arbState, arbState, arbState, (a, b, c) =>
        same(mergeStates(mergeStates(a, b), c), mergeStates(a, mergeStates(b, c))),
      ),
    );
  });

  it('merge is idempotent', () => {
    fc.assert(fc.property(arbState, (a) => same(mergeStates(a, a), a)));
  });

  it('folding in any order gives the same state, keyed by (targetType, target, kind)', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 40 }).chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length, maxLength: es.length }))), ([es, shuffled]) => {
        const a = foldEntries(es);
        same(a, foldEntries(shuffled));
        for (const [k, e] of a) expect(keyOf(e)).toBe(k);
      }),
    );
  });
});
