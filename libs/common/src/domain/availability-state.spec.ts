import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { AvailabilityState } from './availability-state';
import { Entry } from './notification';
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

describe('AvailabilityState', () => {
  it('holds the same entries and digest whatever the arrival order, and matches the pure fold', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 40 }).chain((es) => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length, maxLength: es.length }))), ([es, shuffled]) => {
        const a = stateOf(es);
        const b = stateOf(shuffled);
        expect(b.digest()).toBe(a.digest());
        expect(b.entries()).toEqual(a.entries());
        expect(a.entries()).toEqual([...foldEntries(es).entries()].sort(([x], [y]) => (x < y ? -1 : 1)).map(([, e]) => e));
      }),
    );
  });

  it('gives different digests to different states', () => {
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 20 }), fc.array(arbEntry, { maxLength: 20 }), (x, y) => {
        const a = stateOf(x);
        const b = stateOf(y);
        const sameEntries = JSON.stringify(a.entries()) === JSON.stringify(b.entries());
        expect(a.digest() === b.digest()).toBe(sameEntries);
      }),
    );
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
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 30 }), fc.constantFrom('mail', 'web'), fc.constantFrom('*', 'send', 'read'), (es, app, kind) => {
        const s = stateOf(es, deps);
        const state = [...foldEntries(es).values()];
        const relevant = state.filter((e) => {
          const targetOk = (e.targetType === 'application' && (e.target === app || e.target === '*')) || (e.targetType === 'resource' && (deps[app as 'mail'] ?? []).includes(e.target));
          const kindOk = e.kind === '*' || (kind !== '*' && e.kind === kind);
          return targetOk && kindOk;
        });
        const best = relevant.sort((a, b) => (a.timestamp !== b.timestamp ? (a.timestamp < b.timestamp ? 1 : -1) : a.id < b.id ? 1 : a.id > b.id ? -1 : JSON.stringify(a) < JSON.stringify(b) ? 1 : -1))[0];
        const d = s.check(app, kind, T0 + 10_000_000);
        expect(d.available).toBe(best === undefined || best.available);
        if (best && !best.available) expect(d.decidedBy?.id).toBe(best.id);
      }),
    );
  });
});
