import fc from 'fast-check';
import { arbEntry, arbValidNotification } from '../testing/arbitraries';
import { parseNotification } from '../contracts/validation';
import { AvailabilityState, LEAVES, StoredEntry } from './availability-state';
import { Entry, canonicalEntry, serializeEntry, toEntries } from './notification';
import { foldEntries } from './order';

const T0 = Date.UTC(2026, 0, 1);
const iso = (ms: number): string => new Date(ms).toISOString();
let seq = 0;
function entry(over: Partial<Entry>): Entry {
  seq++;
  return { targetType: 'application', target: 'mail', kind: '*', available: false, reason: 'maintenance', source: 'operator', timestamp: iso(T0 + seq), id: `n${String(seq).padStart(4, '0')}`, priority: 0, ...over };
}
function stateOf(entries: Entry[], deps: Record<string, string[]> = {}): AvailabilityState {
  const s = new AvailabilityState(deps);
  for (const e of entries) s.apply(e);
  return s;
}

/** Lists of entries, the second often folding to the same state as the first or to one entry more. */
const arbStatePair: fc.Arbitrary<[Entry[], Entry[]]> = fc.array(arbEntry, { maxLength: 20 }).chain((x) => {
  const reordered = fc.shuffledSubarray(x, { minLength: x.length, maxLength: x.length });
  return fc.tuple(
    fc.constant(x),
    fc.oneof(
      fc.array(arbEntry, { maxLength: 20 }),
      reordered,
      fc.tuple(reordered, arbEntry).map(([ys, e]) => [...ys, e]),
    ),
  );
});

/** An entry that brings its target back up, later than any arbEntry, so that it overrides some. */
const arbLateUp: fc.Arbitrary<Entry> = arbEntry.map((e) => {
  const up: Entry = { ...e, available: true, timestamp: new Date(Date.parse(e.timestamp) + 30_000).toISOString() };
  delete up.reason;
  return up;
});

describe('AvailabilityState', () => {
  it('holds the same entries and digest whatever the arrival order, and matches the pure fold', () => {
    const seen = { samples: 0, reordered: 0 };
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 40 }).chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length, maxLength: es.length }))), ([es, shuffled]) => {
        seen.samples++;
        const a = stateOf(es);
        const b = stateOf(shuffled);
        // The interesting case: one key met twice with different entries, in another order.
        if (a.count < new Set(es.map(serializeEntry)).size && es.some((e, i) => e !== shuffled[i])) seen.reordered++;
        expect(b.digest()).toBe(a.digest());
        expect(b.entries()).toEqual(a.entries());
        expect(a.entries()).toEqual([...foldEntries(es).entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, e]) => e));
      }),
      { numRuns: 200 },
    );
    expect(seen.reordered / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('gives different digests to different states, and the same digest to the same state', () => {
    const seen = { samples: 0, same: 0, different: 0 };
    fc.assert(
      fc.property(arbStatePair, ([x, y]) => {
        seen.samples++;
        const a = stateOf(x);
        const b = stateOf(y);
        const sameEntries = JSON.stringify(a.entries()) === JSON.stringify(b.entries());
        if (sameEntries) seen.same++;
        else seen.different++;
        expect(a.digest() === b.digest()).toBe(sameEntries);
      }),
      { numRuns: 200 },
    );
    expect(seen.same / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.different / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('reports a change only for a newer entry; the same entry twice is one entry', () => {
    const s = new AvailabilityState();
    const e = entry({});
    expect(s.apply(e)).toBeDefined();
    expect(s.apply({ ...e })).toBeUndefined();
    expect(s.count).toBe(1);
    expect(s.apply({ ...e, timestamp: iso(T0 - 1), id: 'zzz' })).toBeUndefined();
    expect(s.apply({ ...e, timestamp: iso(T0 + 100000), available: true })).toBeDefined();
    expect(s.count).toBe(1);
  });
});

describe('lookup', () => {
  const now = T0 + 10_000_000;

  it('is available with no entries', () => {
    expect(new AvailabilityState().check('mail', 'send', now)).toEqual({ available: true });
  });

  it('reports the reason, message and expected return of the deciding entry', () => {
    const e = entry({ reason: 'outage', message: 'disk full', expectedUpAt: iso(now + 60_000), component: 'smtp' });
    const d = stateOf([e]).check('mail', '*', now);
    expect(d).toEqual({ available: false, reason: 'outage', message: 'disk full', component: 'smtp', expectedUpAt: iso(now + 60_000), decidedBy: { key: 'application|mail|*', id: e.id } });
  });

  it('takes the greatest entry among the application, its resources and the whole system', () => {
    const deps = { mail: ['db', 'smtp'] };
    const appUp = entry({ available: true });
    const dbDown = entry({ targetType: 'resource', target: 'db', reason: 'outage' });
    expect(stateOf([appUp, dbDown], deps).check('mail', '*', now)).toMatchObject({ available: false, reason: 'outage' });
    expect(stateOf([appUp, dbDown], deps).check('web', '*', now)).toEqual({ available: true });
    const systemDown = entry({ target: '*', reason: 'maintenance' });
    expect(stateOf([appUp, dbDown, systemDown], deps).check('web', '*', now)).toMatchObject({ available: false, reason: 'maintenance' });
    const appUpLater = entry({ available: true });
    expect(stateOf([dbDown, systemDown, appUpLater], deps).check('mail', '*', now)).toEqual({ available: true });
  });

  it('applies kind-specific entries only to that kind; all-kinds entries to every kind', () => {
    const sendDown = entry({ kind: 'send' });
    const s = stateOf([sendDown]);
    expect(s.check('mail', 'send', now).available).toBe(false);
    expect(s.check('mail', 'read', now).available).toBe(true);
    expect(s.check('mail', '*', now).available).toBe(true);
    const allUpLater = entry({ available: true });
    s.apply(allUpLater);
    expect(s.check('mail', 'send', now).available).toBe(true);
    s.apply(entry({ kind: 'send' }));
    expect(s.check('mail', 'send', now).available).toBe(false);
  });

  it('leaves a scheduled outage available until downAt, then unavailable', () => {
    const e = entry({ downAt: iso(now + 1000), expectedUpAt: iso(now + 5000) });
    const s = stateOf([e]);
    expect(s.check('mail', '*', now)).toMatchObject({ available: true, scheduled: true, downAt: iso(now + 1000) });
    expect(s.check('mail', '*', now + 1000)).toMatchObject({ available: false });
  });

  it('restores automatically once expectedUpAt passes when autoRestore is set', () => {
    const s = stateOf([entry({ autoRestore: true, expectedUpAt: iso(now + 1000) })]);
    expect(s.check('mail', '*', now).available).toBe(false);
    expect(s.check('mail', '*', now + 1000)).toEqual({ available: true });
    const t = stateOf([entry({ expectedUpAt: iso(now + 1000) })]);
    expect(t.check('mail', '*', now + 2000).available).toBe(false);
  });

  it('agrees with a brute-force reading of the rule', () => {
    const deps = { mail: ['db'], web: [] };
    const seen = { samples: 0, down: 0, upOverDown: 0 };
    fc.assert(
      fc.property(fc.tuple(fc.array(arbEntry, { maxLength: 30, size: 'medium' }), fc.oneof(fc.constant([]), fc.array(arbLateUp, { minLength: 1, maxLength: 3 }))).map(([xs, ups]) => [...xs, ...ups]), fc.constantFrom('mail', 'web'), fc.constantFrom('*', 'send', 'read'), (es, app, kind) => {
        const s = stateOf(es, deps);
        const state = [...foldEntries(es).values()];
        const relevant = state.filter((e) => {
          const targetOk = (e.targetType === 'application' && (e.target === app || e.target === '*')) || (e.targetType === 'resource' && (deps[app as 'mail'] ?? []).includes(e.target));
          const kindOk = e.kind === '*' || (kind !== '*' && e.kind === kind);
          return targetOk && kindOk;
        });
        const best = relevant.sort((a, b) => (a.timestamp !== b.timestamp ? (a.timestamp < b.timestamp ? 1 : -1) : a.id < b.id ? 1 : a.id > b.id ? -1 : JSON.stringify(a) < JSON.stringify(b) ? 1 : -1))[0];
        const d = s.check(app, kind, T0 + 10_000_000);
        seen.samples++;
        expect(d.available).toBe(best === undefined || best.available);
        if (best && !best.available) {
          seen.down++;
          expect(d.decidedBy?.id).toBe(best.id);
        } else if (relevant.some((e) => !e.available)) seen.upOverDown++;
      }),
      { numRuns: 500 },
    );
    expect(seen.down / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.upOverDown / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});

describe('StoredEntry', () => {
  it('property: gives back the entry it holds, field for field and in the same order, with the same canonical bytes (it keeps the fields, not the object)', () => {
    const seen = { parsed: 0, autoRestore: 0, downAt: 0, component: 0, operatorId: 0, unavailable: 0 };
    fc.assert(
      fc.property(arbValidNotification, (value) => {
        let n;
        try {
          n = parseNotification(value, {});
        } catch {
          return; // a date outside what the contract takes (the arbitrary's edges)
        }
        seen.parsed++;
        // Built from the raw notification of each kind, it holds what canonicalEntry makes of it.
        for (const kind of n.requestKinds?.length ? n.requestKinds : ['*']) {
          const raw = { ...n, kind };
          const s = new StoredEntry(raw);
          expect(s.entry).toStrictEqual(canonicalEntry(raw));
          expect(s.json).toBe(serializeEntry(canonicalEntry(raw)));
        }
        for (const e of toEntries(n)) {
          const s = new StoredEntry(e);
          expect(JSON.stringify(s.entry)).toBe(JSON.stringify(e));
          expect(s.entry).toStrictEqual(e);
          expect(s.json).toBe(serializeEntry(e));
          expect(s.autoRestore).toBe(e.autoRestore);
          if (e.autoRestore !== undefined) seen.autoRestore++;
          if (e.downAt !== undefined) seen.downAt++;
          if (e.component !== undefined) seen.component++;
          if (e.operatorId !== undefined) seen.operatorId++;
          if (!e.available) seen.unavailable++;
        }
      }),
      { numRuns: 300 },
    );
    // About half of the arbitrary's notifications parse (150 ± 9 of 300): far below that, the
    // arbitrary has changed and the property no longer covers what it says (not a random miss).
    expect(seen.parsed).toBeGreaterThan(90);
    for (const [field, n] of Object.entries(seen)) expect([field, n > 0]).toEqual([field, true]);
  });
});

describe('AvailabilityState index', () => {
  it('property: finds every entry it holds by key, and exactly those of the asked leaves, with no index by key of its own', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 60 }), fc.array(fc.nat(LEAVES - 1), { maxLength: 8 }), (entries, asked) => {
        const state = new AvailabilityState();
        for (const e of entries) state.apply(e);
        const all = [...state.stored()];
        expect(all).toHaveLength(state.count);
        expect(new Set(all.map((s) => s.key)).size).toBe(all.length);
        for (const s of all) expect(state.get(s.key)).toBe(s);
        expect(state.get('application|no-such-target|*')).toBeUndefined();
        // Ask for the leaves of some held entries too, so that the answer is not always empty.
        const leaves = [...asked, ...all.slice(0, 2).map((s) => s.leaf)];
        const want = new Set(leaves);
        const got = state.inLeaves(leaves);
        expect(got.map((s) => s.key).sort()).toEqual(all.filter((s) => want.has(s.leaf)).map((s) => s.key).sort());
      }),
      { numRuns: 200 },
    );
  });

  it('property: after any mix of applies and removals, each leaf lists exactly the entries a model of last-writer-wins holds there', () => {
    const ran = { replaced: 0, removed: 0, refused: 0, leafShared: 0 };
    // Targets whose all-kinds keys fall into one leaf with mail's, so that leaf lists hold several entries.
    const leafOf = (target: string): number => new StoredEntry(entry({ target })).leaf;
    const sameLeaf: string[] = [];
    for (let i = 0; sameLeaf.length < 3; i++) if (leafOf(`x${i}`) === leafOf('mail')) sameLeaf.push(`x${i}`);
    const arbSharing = fc.tuple(arbEntry, fc.constantFrom(...sameLeaf, undefined)).map(([e, t]) => (t === undefined || e.target === '*' ? e : { ...e, target: t, targetType: 'application' as const, kind: '*' }));
    const arbOp = fc.oneof(
      { weight: 4, arbitrary: arbSharing.map((e) => ({ apply: e })) },
      { weight: 1, arbitrary: fc.nat(100).map((i) => ({ remove: i })) },
    );
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 80 }), (ops) => {
        const state = new AvailabilityState();
        const model = new Map<string, StoredEntry>();
        for (const op of ops) {
          if ('apply' in op) {
            const had = model.get(new StoredEntry(op.apply).key);
            const s = state.apply(op.apply);
            if (s === undefined) {
              ran.refused++;
              continue;
            }
            if (had !== undefined) ran.replaced++;
            model.set(s.key, s);
          } else {
            const held = [...model.values()];
            if (held.length === 0) continue;
            const victim = held[op.remove % held.length];
            expect(state.remove(victim)).toBe(true);
            expect(state.remove(victim)).toBe(false);
            model.delete(victim.key);
            ran.removed++;
          }
        }
        expect(state.count).toBe(model.size);
        const byLeaf = new Map<number, StoredEntry[]>();
        for (const s of model.values()) byLeaf.set(s.leaf, [...(byLeaf.get(s.leaf) ?? []), s]);
        for (const [leaf, want] of byLeaf) {
          if (want.length > 1) ran.leafShared++;
          const got = state.inLeaves([leaf, leaf]);
          expect(new Set(got)).toEqual(new Set(want));
          expect(got).toHaveLength(want.length);
        }
        // All leaves at once, and leaves that hold nothing or are not leaves at all.
        const empty = [...Array(LEAVES).keys()].find((l) => !byLeaf.has(l)) as number;
        expect(new Set(state.inLeaves([...byLeaf.keys(), empty, -1, LEAVES, 1.5]))).toEqual(new Set(model.values()));
        expect(state.inLeaves([empty])).toEqual([]);
        expect(new Set(state.stored())).toEqual(new Set(model.values()));
      }),
      { numRuns: 300 },
    );
    // The branches that move entries within a leaf list all ran, many times (about 100 replacements,
    // 200 removals and 100 shared leaves a run; the bounds are far below, so a miss means the
    // arbitraries changed, not bad luck).
    expect(ran.replaced).toBeGreaterThan(25);
    expect(ran.removed).toBeGreaterThan(50);
    expect(ran.refused).toBeGreaterThan(0);
    expect(ran.leafShared).toBeGreaterThan(25);
  });
});
