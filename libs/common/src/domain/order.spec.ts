import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { Entry, keyOf, serializeEntry } from './notification';
import { compareEntries, foldEntries, mergeStates, newer } from './order';

const arbState = fc.array(arbEntry, { maxLength: 30, size: 'medium' }).map((es) => foldEntries(es));
const same = (a: Map<string, Entry>, b: Map<string, Entry>): void => {
  expect([...a.entries()].sort()).toEqual([...b.entries()].sort());
};
/** Whether two states hold different entries under one key, so that a merge has to choose. */
const conflicts = (a: Map<string, Entry>, b: Map<string, Entry>): boolean =>
  [...a].some(([k, e]) => b.has(k) && serializeEntry(b.get(k)!) !== serializeEntry(e));

/** `a` with other content but the same timestamp and id. */
const tweakOf = (a: Entry): fc.Arbitrary<Entry> =>
  fc.constantFrom<Partial<Entry>>({ available: !a.available }, { message: `${a.message ?? ''}!` }, { priority: a.priority + 1 }, { kind: a.kind === 'send' ? 'read' : 'send' }).map((change) => ({ ...a, ...change }));
/** An entry derived from `a`: a copy of it, or a tweak of it. */
const derivedFrom = (a: Entry): fc.Arbitrary<Entry> => fc.oneof(fc.constant({ ...a }), tweakOf(a));
/** Pairs of entries: independent one time in five, else sharing (timestamp, id): equal, or differing in content. */
const arbEntryPair: fc.Arbitrary<[Entry, Entry]> = fc.oneof(
  { weight: 1, arbitrary: fc.tuple(arbEntry, arbEntry) },
  { weight: 2, arbitrary: arbEntry.map((a): [Entry, Entry] => [a, { ...a }]) },
  { weight: 2, arbitrary: arbEntry.chain((a) => fc.tuple(fc.constant(a), tweakOf(a))) },
);

describe('order', () => {
  it('is a total order: antisymmetric and consistent with equality', () => {
    const seen = { samples: 0, equal: 0, tieBroken: 0 };
    fc.assert(
      fc.property(arbEntryPair, ([a, b]) => {
        seen.samples++;
        expect(Math.sign(compareEntries(a, b)) + Math.sign(compareEntries(b, a))).toBe(0);
        const sameIdentity = a.timestamp === b.timestamp && a.id === b.id;
        if (compareEntries(a, b) === 0) {
          seen.equal++;
          expect(a).toEqual(b);
        } else if (sameIdentity) {
          // Same timestamp and id, different content: the canonical bytes decide, never a tie.
          seen.tieBroken++;
          expect(serializeEntry(a)).not.toBe(serializeEntry(b));
        }
      }),
      { numRuns: 1000 },
    );
    expect(seen.equal / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.tieBroken / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('is transitive, also among entries that share timestamp and id', () => {
    const seen = { samples: 0, allShareIdentity: 0 };
    fc.assert(
      fc.property(arbEntryPair.chain(([a, b]) => fc.tuple(fc.constant(a), fc.constant(b), derivedFrom(b))), (triple) => {
        seen.samples++;
        if (triple.every((e) => e.timestamp === triple[0].timestamp && e.id === triple[0].id)) seen.allShareIdentity++;
        const transitive = triple.every((p) => triple.every((q) => triple.every((r) => !(compareEntries(p, q) <= 0 && compareEntries(q, r) <= 0) || compareEntries(p, r) <= 0)));
        expect(transitive).toBe(true);
      }),
      { numRuns: 1000 },
    );
    expect(seen.allShareIdentity / seen.samples).toBeGreaterThanOrEqual(0.2);
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
    const seen = { samples: 0, conflicting: 0 };
    fc.assert(
      fc.property(arbState, arbState, (a, b) => {
        seen.samples++;
        if (conflicts(a, b)) seen.conflicting++;
        same(mergeStates(a, b), mergeStates(b, a));
      }),
      { numRuns: 300 },
    );
    expect(seen.conflicting / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('merge is associative', () => {
    const seen = { samples: 0, conflicting: 0 };
    fc.assert(
      fc.property(arbState, arbState, arbState, (a, b, c) => {
        seen.samples++;
        if (conflicts(a, b) && conflicts(b, c)) seen.conflicting++;
        same(mergeStates(mergeStates(a, b), c), mergeStates(a, mergeStates(b, c)));
      }),
      { numRuns: 300 },
    );
    expect(seen.conflicting / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('merge is idempotent', () => {
    const seen = { samples: 0, nonEmpty: 0 };
    fc.assert(
      fc.property(arbState, (a) => {
        seen.samples++;
        if (a.size > 0) seen.nonEmpty++;
        same(mergeStates(a, a), a);
      }),
    );
    expect(seen.nonEmpty / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('folding in any order gives the same state, keyed by (targetType, target, kind)', () => {
    const seen = { samples: 0, reordered: 0 };
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 40 }).chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length, maxLength: es.length }))), ([es, shuffled]) => {
        seen.samples++;
        const a = foldEntries(es);
        // The interesting case: one key met twice with different entries, in another order.
        if (a.size < new Set(es.map(serializeEntry)).size && es.some((e, i) => e !== shuffled[i])) seen.reordered++;
        same(a, foldEntries(shuffled));
        for (const [k, e] of a) expect(keyOf(e)).toBe(k);
      }),
      { numRuns: 300 },
    );
    expect(seen.reordered / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
