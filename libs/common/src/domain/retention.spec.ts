import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { AvailabilityState, storeEntry } from './availability-state';
import { Entry } from './notification';
import { expiredOf, isAdmissible, isExpired } from './retention';

const DAY = 24 * 3600 * 1000;

describe('retention', () => {
  it('only "available" entries older than the window expire', () => {
    expect(isExpired({ available: true, ts: 0 }, 10 * DAY, DAY)).toBe(true);
    expect(isExpired({ available: false, ts: 0 }, 10 * DAY, DAY)).toBe(false);
    expect(isExpired({ available: true, ts: 9.5 * DAY }, 10 * DAY, DAY)).toBe(false);
  });

  it('entries dated beyond the drop bound expire whatever they say; entries inside it never do for being ahead', () => {
    expect(isExpired({ available: false, ts: 10 * DAY + 2 * DAY }, 10 * DAY, DAY, DAY)).toBe(true);
    expect(isExpired({ available: true, ts: 10 * DAY + 2 * DAY }, 10 * DAY, DAY, DAY)).toBe(true);
    fc.assert(
      fc.property(fc.boolean(), fc.integer({ min: 0, max: DAY }), (available, ahead) => {
        expect(isExpired({ available, ts: 10 * DAY + ahead }, 10 * DAY, DAY, DAY)).toBe(false);
      }),
    );
  });

  it('entries from peers are admitted unless expired or too far ahead', () => {
    expect(isAdmissible({ available: false, ts: 10 * DAY + 1000 }, 10 * DAY, DAY, 5000)).toBe(true);
    expect(isAdmissible({ available: false, ts: 10 * DAY + 6000 }, 10 * DAY, DAY, 5000)).toBe(false);
    expect(isAdmissible({ available: true, ts: 0 }, 10 * DAY, DAY, 5000)).toBe(false);
  });

  it('dropping the expired entries leaves exactly the state built from the others (digest, count, lookups)', () => {
    let dropped = 0;
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 40 }), fc.integer({ min: 0, max: 20 }), (entries, cutSeconds) => {
        const full = new AvailabilityState();
        for (const e of entries) full.apply(e);
        const now = Date.UTC(2026, 0, 1) + cutSeconds * 1000 + DAY;
        const gone = expiredOf(full.stored(), now, DAY);
        if (gone.length > 0) dropped++;
        // lookups cached before the sweep must not survive it
        for (const app of ['mail', 'web', 'db']) full.check(app, 'send', 0);
        for (const s of gone) expect(full.remove(s)).toBe(true);
        const kept = new AvailabilityState();
        for (const s of [...full.stored()]) kept.apply(s.entry as Entry);
        expect(full.count).toBe(kept.count);
        expect(full.digest()).toBe(kept.digest());
        for (const app of ['mail', 'web', 'db']) for (const kind of ['*', 'send']) expect(full.check(app, kind, 0)).toEqual(kept.check(app, kind, 0));
        // a later entry for a dropped key is seen by lookups again
        for (const s of gone) {
          const again = { ...s.entry, timestamp: new Date(now).toISOString(), available: false, reason: 'outage' as const };
          full.apply(again);
          kept.apply(again);
        }
        expect(full.digest()).toBe(kept.digest());
        for (const app of ['mail', 'web', 'db']) expect(full.check(app, '*', 0)).toEqual(kept.check(app, '*', 0));
      }),
      { numRuns: 300 },
    );
    expect(dropped).toBeGreaterThan(60);
  });

  it('removing an entry that is not held in that exact version changes nothing', () => {
    const st = new AvailabilityState();
    const e: Entry = { targetType: 'application', target: 'mail', kind: '*', available: true, source: 'operator', timestamp: '2026-01-01T00:00:00.000Z', id: 'a', priority: 0 };
    st.apply(e);
    const digest = st.digest();
    expect(st.remove(storeEntry({ ...e, id: 'b' }))).toBe(false);
    expect(st.digest()).toBe(digest);
  });
});
