import fc from 'fast-check';
import { KIND_ARRAY_MAX, KindTable, kindCount, kindDelete, kindGet, kindSet } from './kind-table';

interface Item {
  kind: string;
  n: number;
}

describe('kind table', () => {
  it('property: behaves as a Map from kind to its latest entry, through sets and deletes, on either side of the array limit', () => {
    const kinds = fc.constantFrom(...Array.from({ length: 2 * KIND_ARRAY_MAX }, (_, i) => `k${i}`));
    // One operation in five a delete: enough sets that many runs pass the array limit.
    const op = fc.record({ del: fc.nat(4).map((x) => x === 0), kind: kinds, n: fc.nat() });
    let becameMap = 0;
    let shrankAsArray = 0;
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80, size: 'max' }), (ops) => {
        let wasMap = false;
        const model = new Map<string, Item>();
        let table: KindTable<Item> | undefined;
        for (const o of ops) {
          if (o.del) {
            const held = model.get(o.kind);
            // Deleting an entry that is not the one held (an older version) changes nothing.
            const stranger: Item = { kind: o.kind, n: -1 };
            if (table !== undefined) expect(kindDelete(table, stranger)).toBe(false);
            if (held !== undefined && table !== undefined) {
              expect(kindDelete(table, held)).toBe(true);
              model.delete(o.kind);
              if (Array.isArray(table)) shrankAsArray++;
            }
          } else {
            const item = { kind: o.kind, n: o.n };
            table = kindSet(table, item);
            model.set(o.kind, item);
          }
          wasMap ||= table instanceof Map;
          if (table !== undefined) {
            expect(kindCount(table)).toBe(model.size);
            for (const k of ['k0', 'k3', `k${KIND_ARRAY_MAX}`, `k${2 * KIND_ARRAY_MAX - 1}`, 'other']) expect(kindGet(table, k)).toBe(model.get(k));
            if (Array.isArray(table)) expect(table.length).toBeLessThanOrEqual(KIND_ARRAY_MAX);
          }
        }
        if (wasMap) becameMap++;
      }),
      { numRuns: 300 },
    );
    // Both representations were exercised (the Map in at least a fifth of the runs), and deletes from the array form happened.
    expect(becameMap).toBeGreaterThan(300 * 0.2);
    expect(shrankAsArray).toBeGreaterThan(0);
  });

  it('stays an array up to the limit and becomes a Map past it, keeping every entry', () => {
    let t: KindTable<Item> | undefined;
    for (let i = 0; i < KIND_ARRAY_MAX; i++) t = kindSet(t, { kind: `k${i}`, n: i });
    expect(Array.isArray(t)).toBe(true);
    t = kindSet(t, { kind: 'k0', n: 100 });
    expect(Array.isArray(t)).toBe(true);
    t = kindSet(t, { kind: 'extra', n: 9 });
    expect(t).toBeInstanceOf(Map);
    expect(kindCount(t)).toBe(KIND_ARRAY_MAX + 1);
    expect(kindGet(t, 'k0')?.n).toBe(100);
  });
});
