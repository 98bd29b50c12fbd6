import fc from 'fast-check';
import { RingTable, announce, cycleOrder, isValidRing, remove, replace } from './ring';

const row = (a: string | null, b: string | null) => ({ address: '', buddyA: a, buddyB: b });
const pairs = (t: RingTable): Record<string, [string | null, string | null]> => Object.fromEntries(Object.entries(t).map(([id, r]) => [id, [r.buddyA, r.buddyB]]));

describe('buddy ring', () => {
  it('inserts server 4 next to server 2 exactly as the issue describes', () => {
    const before: RingTable = { '1': row('2', '3'), '2': row('3', '1'), '3': row('1', '2') };
    expect(isValidRing(before)).toBe(true);
    const after = announce(before, '4', '', '2');
    expect(pairs(after)).toEqual({ '1': ['2', '3'], '2': ['4', '1'], '3': ['1', '4'], '4': ['2', '3'] });
    expect(isValidRing(after)).toBe(true);
    expect(cycleOrder(after)).toEqual(['1', '2', '4', '3']);
  });

  it('gives a lone node no buddies and makes two nodes each other\'s', () => {
    const one = announce({}, 'a', 'http://a', undefined);
    expect(pairs(one)).toEqual({ a: [null, null] });
    const two = announce(one, 'b', 'http://b', 'a');
    expect(pairs(two)).toEqual({ a: ['b', 'b'], b: ['a', 'a'] });
    const three = announce(two, 'c', 'http://c', 'a');
    expect(isValidRing(three)).toBe(true);
    expect(pairs(remove(three, 'c').table)).toEqual({ a: ['b', 'b'], b: ['a', 'a'] });
    expect(pairs(remove(two, 'b').table)).toEqual({ a: [null, null] });
  });

  it('cuts a dead node out, links its buddies and tells the caller who they were', () => {
    const t: RingTable = { '1': row('2', '4'), '2': row('3', '1'), '3': row('4', '2'), '4': row('1', '3') };
    const { table, buddies } = remove(t, '2');
    expect(buddies).toEqual(['3', '1']);
    expect(pairs(table)).toEqual({ '1': ['3', '4'], '3': ['4', '1'], '4': ['1', '3'] });
    expect(isValidRing(table)).toBe(true);
    expect(remove(t, 'nobody').buddies).toBeUndefined();
  });

  it('replaces one buddy in a node\'s own row', () => {
    const t: RingTable = { '1': row('2', '3'), '2': row('3', '1'), '3': row('1', '2') };
    expect(pairs(replace(t, '1', '3', '9'))['1']).toEqual(['2', '9']);
    expect(replace(t, '1', 'x', '9')).toEqual(t);
  });

  it('rejects broken tables', () => {
    expect(isValidRing({ '1': row('2', '3'), '2': row('3', '1'), '3': row('1', '1') })).toBe(false);
    expect(isValidRing({ '1': row('2', '2'), '2': row('1', '1'), '3': row('4', '4'), '4': row('3', '3') })).toBe(false);
    expect(isValidRing({ '1': row('1', '2'), '2': row('1', '1') })).toBe(false);
  });

  it('keeps a single valid cycle through any sequence of announces and deletes', () => {
    const seen = { samples: 0, cutFromThree: 0 };
    const op = fc.oneof(
      fc.record({ kind: fc.constant('announce' as const), id: fc.integer({ min: 0, max: 30 }), pick: fc.nat() }),
      fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'medium' }), (ops) => {
        let t: RingTable = {};
        let cutFromThree = false;
        for (const o of ops) {
          const ids = Object.keys(t).sort();
          if (o.kind === 'announce') t = announce(t, `n${o.id}`, `http://n${o.id}`, ids.length ? ids[o.pick % ids.length] : undefined);
          else if (ids.length) {
            // A cut from a ring of three or more must relink two live buddies.
            if (ids.length >= 3) cutFromThree = true;
            t = remove(t, ids[o.pick % ids.length]).table;
          }
          expect(isValidRing(t)).toBe(true);
        }
        seen.samples++;
        if (cutFromThree) seen.cutFromThree++;
      }),
      { numRuns: 300 },
    );
    expect(seen.cutFromThree / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
