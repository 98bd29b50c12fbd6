import fc from 'fast-check';
import { backoffDelay } from '../messaging/retry';
import { DeferredClient, ReconnectState, addDeferred, dropWaiting, planInvitations } from './reconnection';
import type { Zone } from './zones';

const settings = { setSize: 2, intervalMs: 1000 };
const deferred = (id: string, deferredAt: number): DeferredClient => ({ id, deferredAt });
const start: ReconnectState = addDeferred({ waiting: [] }, [deferred('c', 20), deferred('a', 10), deferred('b', 20), deferred('d', 30), deferred('e', 40)]);

describe('the set of deferred clients', () => {
  it('keeps them longest-deferred first, ties by id; one already waiting keeps its place', () => {
    expect(start.waiting.map((c) => c.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(addDeferred(start, [deferred('a', 99), deferred('f', 0)]).waiting.map((c) => `${c.id}@${c.deferredAt}`)).toEqual(['f@0', 'a@10', 'b@20', 'c@20', 'd@30', 'e@40']);
  });

  it('drops clients that came back on their own', () => {
    expect(dropWaiting(start, ['b', 'x']).waiting.map((c) => c.id)).toEqual(['a', 'c', 'd', 'e']);
  });
});

describe('planInvitations', () => {
  it('invites a set at once in accept, the next only an interval later, until none wait', () => {
    const first = planInvitations(start, 5000, 'accept', settings);
    expect(first).toMatchObject({ invite: ['a', 'b'], nextAt: 6000 });
    expect(planInvitations(first.state, 5999, 'accept', settings)).toMatchObject({ invite: [], nextAt: 6000 });
    const second = planInvitations(first.state, 6000, 'accept', settings);
    expect(second.invite).toEqual(['c', 'd']);
    const third = planInvitations(second.state, 7500, 'accept', settings);
    expect(third).toMatchObject({ invite: ['e'], nextAt: undefined });
    expect(third.state.waiting).toEqual([]);
    expect(planInvitations(third.state, 9000, 'accept', settings).invite).toEqual([]);
  });

  it('invites nobody outside the accept zone and leaves the state as it was', () => {
    for (const zone of ['hold', 'brief', 'defer'] as Zone[]) expect(planInvitations(start, 5000, zone, settings)).toEqual({ invite: [], state: start });
  });

  it('invites at least one client per set even when the set size is below one', () => {
    expect(planInvitations(start, 0, 'accept', { setSize: 0, intervalMs: 10 }).invite).toEqual(['a']);
  });
});

describe('a client that hears nothing', () => {
  it('waits the farm’s jittered backoff: between half the ceiling and the ceiling, doubling from baseMs up to capMs', () => {
    const s = { baseMs: 500, capMs: 30_000 };
    expect([0, 1, 2, 6, 20].map((a) => backoffDelay(a, s, () => 0))).toEqual([250, 500, 1000, 15_000, 15_000]);
    expect([0, 1, 2, 6, 20].map((a) => backoffDelay(a, s, () => 0.999_999))).toEqual([500, 1000, 2000, 30_000, 30_000]);
  });
});

const clientsArb = fc.uniqueArray(fc.record({ id: fc.integer({ min: 0, max: 60 }).map((n) => `c${n}`), deferredAt: fc.integer({ min: 0, max: 50 }) }), { selector: (c) => c.id, minLength: 1, maxLength: 30 });
const settingsArb = fc.record({ setSize: fc.integer({ min: 1, max: 8 }), intervalMs: fc.integer({ min: 1, max: 500 }) });

describe('reconnection properties', () => {
  it('property: never invites outside accept, never more than the set size within any interval, and each client at most once', () => {
    const seen = { samples: 0, zoneBlocked: 0, tooSoon: 0, severalSets: 0 };
    // Steps of 0 to 120% of the interval: some ticks come too soon, some after a gap.
    const ticks = fc.array(fc.record({ step: fc.integer({ min: 0, max: 120 }).map((p) => p / 100), zone: fc.constantFrom<Zone>('accept', 'accept', 'accept', 'hold', 'brief', 'defer') }), { minLength: 3, maxLength: 40 });
    fc.assert(
      fc.property(clientsArb, settingsArb, ticks, (cs, s, steps) => {
        let state = addDeferred({ waiting: [] }, cs);
        let now = 0;
        const sets: { at: number; ids: string[] }[] = [];
        const flags = { zoneBlocked: false, tooSoon: false };
        for (const { step, zone } of steps) {
          now += Math.round(step * s.intervalMs);
          const plan = planInvitations(state, now, zone, s);
          if (zone !== 'accept') {
            expect(plan.invite).toEqual([]);
            if (state.waiting.length > 0) flags.zoneBlocked = true;
          } else if (plan.invite.length === 0 && state.waiting.length > 0) flags.tooSoon = true;
          if (plan.invite.length > 0) sets.push({ at: now, ids: plan.invite });
          state = plan.state;
        }
        seen.samples++;
        if (flags.zoneBlocked) seen.zoneBlocked++;
        if (flags.tooSoon) seen.tooSoon++;
        if (sets.length > 1) seen.severalSets++;
        for (const { at } of sets) {
          const within = sets.filter((x) => x.at >= at && x.at < at + s.intervalMs).reduce((n, x) => n + x.ids.length, 0);
          expect(within).toBeLessThanOrEqual(s.setSize);
        }
        const all = sets.flatMap((x) => x.ids);
        expect(new Set(all).size).toBe(all.length);
        expect(all.length + state.waiting.length).toBe(cs.length);
      }),
      { numRuns: 500 },
    );
    for (const k of ['zoneBlocked', 'tooSoon', 'severalSets'] as const) expect(seen[k] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: while the zone stays accept, every deferred client is invited, longest-deferred first, in ceil(n / set size) sets', () => {
    const seen = { samples: 0, severalSets: 0 };
    fc.assert(
      fc.property(clientsArb, settingsArb, fc.array(fc.integer({ min: 1, max: 150 }).map((p) => p / 100), { minLength: 1, maxLength: 20 }), (cs, s, steps) => {
        let state = addDeferred({ waiting: [] }, cs);
        let now = 0;
        const invited: string[] = [];
        let sets = 0;
        // Ticks of 1% to 150% of the interval, cycling through the steps, until nobody waits (bounded, to fail rather than hang).
        for (let i = 0; state.waiting.length > 0 && i < 10_000; i++) {
          now += Math.ceil(steps[i % steps.length] * s.intervalMs);
          const plan = planInvitations(state, now, 'accept', s);
          if (plan.invite.length > 0) sets++;
          invited.push(...plan.invite);
          state = plan.state;
        }
        seen.samples++;
        if (sets > 1) seen.severalSets++;
        expect(state.waiting).toEqual([]);
        expect(invited).toEqual([...cs].sort((a, b) => a.deferredAt - b.deferredAt || (a.id < b.id ? -1 : 1)).map((c) => c.id));
        expect(sets).toBe(Math.ceil(cs.length / s.setSize));
      }),
      { numRuns: 300 },
    );
    expect(seen.severalSets / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: the backoff stays within half the ceiling and the ceiling, and never beyond the cap', () => {
    const seen = { samples: 0, capped: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 60_000 }), fc.integer({ min: 0, max: 999 }), (attempt, baseMs, extra, r) => {
        const capMs = baseMs + extra;
        const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
        const wait = backoffDelay(attempt, { baseMs, capMs }, () => r / 1000);
        seen.samples++;
        if (ceiling === capMs) seen.capped++;
        expect(wait).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(wait).toBeLessThanOrEqual(ceiling);
      }),
      { numRuns: 300 },
    );
    expect(seen.capped / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
