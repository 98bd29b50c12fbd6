import fc from 'fast-check';
import { Arrangement, Thresholds, ZONE_RANK, Zone, ZoneSettings, arrangementOf, decideConnect, nextZone, nextZones, thresholdsFor, zoneActions, zoneOf } from './zones';

const HOLD: Thresholds = { connection: 60, failover: 80 };
const TWO: Thresholds = { connection: 70, failover: 70 };
const BRIEF: Thresholds = { connection: 80, failover: 60 };
const ZONES: Zone[] = ['accept', 'hold', 'brief', 'defer'];
const alternates = [{ id: 'b', address: 'http://b', score: 12 }];

describe('arrangements and zones', () => {
  it('names the arrangement by where the connection threshold sits against the failover one', () => {
    expect(arrangementOf(HOLD)).toBe('hold-middle');
    expect(arrangementOf(TWO)).toBe('two-zones');
    expect(arrangementOf(BRIEF)).toBe('brief-middle');
  });

  it('connection better than failover: accept below C, hold from C, defer from F', () => {
    expect([0, 59.9, 60, 79.9, 80, 100].map((s) => zoneOf(s, HOLD))).toEqual(['accept', 'accept', 'hold', 'hold', 'defer', 'defer']);
  });

  it('equal thresholds: accept below, defer from the threshold, no middle zone', () => {
    expect([0, 69.9, 70, 100].map((s) => zoneOf(s, TWO))).toEqual(['accept', 'accept', 'defer', 'defer']);
  });

  it('connection worse than failover: accept below F, brief from F, defer from C', () => {
    expect([0, 59.9, 60, 79.9, 80, 100].map((s) => zoneOf(s, BRIEF))).toEqual(['accept', 'accept', 'brief', 'brief', 'defer', 'defer']);
  });

  it('says what each zone does to current and new clients', () => {
    expect(Object.fromEntries(ZONES.map((z) => [z, zoneActions(z)]))).toEqual({
      accept: { acceptNew: true, deferCurrent: false, deferNewLater: false },
      hold: { acceptNew: false, deferCurrent: false, deferNewLater: false },
      brief: { acceptNew: true, deferCurrent: true, deferNewLater: true },
      defer: { acceptNew: false, deferCurrent: true, deferNewLater: false },
    });
  });

  it('answers a connect request: accept; refuse with the alternates in hold and defer; accept then defer after briefMs in brief', () => {
    expect(decideConnect('accept', 30_000, alternates)).toEqual({ kind: 'accept' });
    expect(decideConnect('hold', 30_000, alternates)).toEqual({ kind: 'refuse', zone: 'hold', alternates });
    expect(decideConnect('defer', 30_000, [])).toEqual({ kind: 'refuse', zone: 'defer', alternates: [] });
    expect(decideConnect('brief', 30_000, alternates)).toEqual({ kind: 'accept-then-defer', afterMs: 30_000 });
  });
});

describe('hysteresis', () => {
  it('enters a worse zone at its threshold and leaves it only below the better zone’s bound by the margin', () => {
    const scores = [50, 60, 58, 55, 54.9, 80, 76, 75, 74.9, 100, 10];
    const zones: Zone[] = [];
    let z: Zone | undefined;
    for (const s of scores) zones.push((z = nextZone(z, s, HOLD, 5)));
    expect(zones).toEqual(['accept', 'hold', 'hold', 'hold', 'accept', 'defer', 'defer', 'defer', 'hold', 'defer', 'accept']);
  });

  it('starts from the plain zone and, with no margin, is the plain zone', () => {
    expect(nextZone(undefined, 79, HOLD, 5)).toBe('hold');
    expect(nextZone('defer', 79.99, HOLD, 0)).toBe('hold');
  });
});

describe('thresholds per group and for returning clients', () => {
  const settings: ZoneSettings = {
    thresholds: { failover: 80, connection: 60, reconnection: 50 },
    groups: { gold: { failover: 60, connection: 40 }, silver: { reconnection: 30 } },
    margin: 5,
    briefMs: 30_000,
  };

  it('takes the group’s thresholds where it sets them and the defaults elsewhere; a returning client uses the reconnection threshold', () => {
    expect(thresholdsFor(settings)).toEqual({ failover: 80, connection: 60 });
    expect(thresholdsFor(settings, undefined, true)).toEqual({ failover: 80, connection: 50 });
    expect(thresholdsFor(settings, 'gold')).toEqual({ failover: 60, connection: 40 });
    expect(thresholdsFor(settings, 'gold', true)).toEqual({ failover: 60, connection: 50 });
    expect(thresholdsFor(settings, 'silver', true)).toEqual({ failover: 80, connection: 30 });
    expect(thresholdsFor(settings, 'bronze')).toEqual({ failover: 80, connection: 60 });
    expect(thresholdsFor(settings, '__proto__')).toEqual({ failover: 80, connection: 60 });
    expect(thresholdsFor({ ...settings, thresholds: { failover: 80, connection: 60 } }, undefined, true)).toEqual({ failover: 80, connection: 60 });
  });

  it('moves a group promised better service earlier: at 65 the defaults hold while gold defers', () => {
    const zones = nextZones({}, 65, settings);
    expect(zones).toEqual({ '*': 'hold', '*:returning': 'hold', gold: 'defer', 'gold:returning': 'defer', silver: 'hold', 'silver:returning': 'hold' });
    expect(nextZones(zones, 58, settings)).toMatchObject({ '*': 'hold', gold: 'defer' });
    expect(nextZones(zones, 54, settings)).toMatchObject({ '*': 'accept', '*:returning': 'hold', gold: 'hold' });
  });
});

/** Thresholds of the given arrangement, on a grid of whole scores. */
function thresholdsOf(arrangement: Arrangement): fc.Arbitrary<Thresholds> {
  switch (arrangement) {
    case 'hold-middle': return fc.integer({ min: 2, max: 100 }).chain((failover) => fc.integer({ min: 1, max: failover - 1 }).map((connection) => ({ failover, connection })));
    case 'two-zones': return fc.integer({ min: 1, max: 100 }).map((t) => ({ failover: t, connection: t }));
    case 'brief-middle': return fc.integer({ min: 1, max: 99 }).chain((failover) => fc.integer({ min: failover + 1, max: 100 }).map((connection) => ({ failover, connection })));
  }
}
const arrangements = fc.constantFrom<Arrangement>('hold-middle', 'two-zones', 'brief-middle');
const withThresholds = arrangements.chain((a) => thresholdsOf(a).map((t) => ({ a, t })));
const score = fc.integer({ min: 0, max: 1000 }).map((x) => x / 10);
const zone = fc.constantFrom(...ZONES);

describe('zone properties', () => {
  it('property: for each arrangement, a worse score never gives a better zone, with or without hysteresis from the same previous zone', () => {
    const seen = { samples: 0, differ: 0, hold: 0, two: 0, brief: 0 };
    fc.assert(
      fc.property(withThresholds, score, score, zone, fc.integer({ min: 0, max: 20 }), ({ a, t }, x, y, prev, margin) => {
        const [lo, hi] = x <= y ? [x, y] : [y, x];
        seen.samples++;
        seen[a === 'hold-middle' ? 'hold' : a === 'two-zones' ? 'two' : 'brief']++;
        if (zoneOf(lo, t) !== zoneOf(hi, t)) seen.differ++;
        expect(arrangementOf(t)).toBe(a);
        expect(ZONE_RANK[zoneOf(lo, t)]).toBeLessThanOrEqual(ZONE_RANK[zoneOf(hi, t)]);
        expect(ZONE_RANK[nextZone(prev, lo, t, margin)]).toBeLessThanOrEqual(ZONE_RANK[nextZone(prev, hi, t, margin)]);
        // Only the arrangement's own middle zone ever appears.
        expect([zoneOf(lo, t), zoneOf(hi, t)]).not.toContain(a === 'hold-middle' ? 'brief' : 'hold');
      }),
      { numRuns: 1000 },
    );
    for (const k of ['differ', 'hold', 'two', 'brief'] as const) expect(seen[k] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: a score wavering within less than the margin moves the zone in one direction only, where the plain zone would flap', () => {
    const seen = { samples: 0, plainFlaps: 0, changed: 0 };
    const case_ = fc.record({
      at: withThresholds,
      margin: fc.integer({ min: 2, max: 20 }),
      which: fc.constantFrom<'failover' | 'connection'>('failover', 'connection'),
      centre: fc.integer({ min: -60, max: 60 }).map((x) => x / 100),
      wave: fc.array(fc.integer({ min: 0, max: 999 }).map((x) => x / 1000), { minLength: 2, maxLength: 30 }),
      prev: fc.option(zone, { nil: undefined }),
    });
    fc.assert(
      fc.property(case_, ({ at: { t }, margin, which, centre, wave, prev }) => {
        // A window of width < margin near one threshold (centre shifts it by up to 0.6 margin either way).
        const lo = t[which] + centre * margin - margin / 2;
        const scores = wave.map((w) => Math.min(100, Math.max(0, lo + w * margin)));
        const ranks: number[] = [];
        const plain: number[] = [];
        let z = prev;
        for (const s of scores) {
          z = nextZone(z, s, t, margin);
          ranks.push(ZONE_RANK[z]);
          plain.push(ZONE_RANK[zoneOf(s, t)]);
        }
        const oneWay = (xs: number[]): boolean => xs.every((x, i) => i === 0 || x >= xs[i - 1]) || xs.every((x, i) => i === 0 || x <= xs[i - 1]);
        seen.samples++;
        if (!oneWay(plain)) seen.plainFlaps++;
        if (new Set(ranks).size > 1 || (prev !== undefined && ZONE_RANK[prev] !== ranks[0])) seen.changed++;
        expect(oneWay(prev === undefined ? ranks : [ZONE_RANK[prev], ...ranks])).toBe(true);
      }),
      { numRuns: 1000 },
    );
    expect(seen.plainFlaps / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.changed / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: hysteresis agrees with the plain zone whenever the margin cannot matter (no margin, or the score well inside its zone)', () => {
    const seen = { samples: 0, noMargin: 0, inside: 0 };
    fc.assert(
      fc.property(withThresholds, score, zone, fc.integer({ min: 0, max: 20 }), ({ t }, s, prev, margin) => {
        seen.samples++;
        if (margin === 0) {
          seen.noMargin++;
          expect(nextZone(prev, s, t, 0)).toBe(zoneOf(s, t));
        }
        if (zoneOf(s + margin, t) === zoneOf(s, t)) {
          seen.inside++;
          expect(nextZone(prev, s, t, margin)).toBe(zoneOf(s, t));
        }
      }),
      { numRuns: 500 },
    );
    expect(seen.inside / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.noMargin).toBeGreaterThan(0);
  });
});
