import fc from 'fast-check';
import { FarmClock, estimateOffset, formatLocal } from './clock';

describe('FarmClock', () => {
  it('adds the skew and the correction to the system clock', () => {
    const clock = new FarmClock(-4000, 5000, () => 1_000_000);
    expect(clock.now()).toBe(1_001_000);
    clock.correctionMs = -5000;
    expect(clock.stamp()).toBe(new Date(1_000_000).toISOString());
    const r = clock.reading();
    expect(Date.parse(r.local)).toBe(r.epochMs);
    expect(r.correctionMs).toBe(-5000);
  });

  it('formats local time with the zone offset', () => {
    expect(formatLocal(Date.UTC(2026, 10, 24, 10, 0, 0, 5), 330)).toBe('2026-11-24T15:30:00.005+05:30');
    expect(formatLocal(Date.UTC(2026, 0, 1, 1, 0, 0, 0), -300)).toBe('2025-12-31T20:00:00.000-05:00');
    expect(formatLocal(0, 0)).toBe('1970-01-01T00:00:00.000+00:00');
  });

  it('property: a local reading parses back to the same instant in any zone', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000_000 }), fc.integer({ min: -14 * 60, max: 14 * 60 }), (t, off) => {
        expect(Date.parse(formatLocal(t, off))).toBe(t);
      }),
    );
  });
});

describe('estimateOffset', () => {
  it('compensates the round trip and the compile time', () => {
    // Sent at 1000, compiled for 300 ms, answered at 1500: 200 ms of network, 100 each way.
    // The server read its clock at master 1400; it said 6400, so it runs 5 s ahead.
    const e = estimateOffset(1000, 1500, new Date(6400).toISOString(), 300);
    expect(e).toEqual({ offsetMs: 5000, networkRttMs: 200 });
  });

  it('reads the zone from the reading, so another zone is no drift', () => {
    const e = estimateOffset(0, 20, formatLocal(10, 330), 0);
    expect(e.offsetMs).toBe(0);
  });

  it('property: with symmetric delays the estimate is exact', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: -1e7, max: 1e7 }), (t0, oneWay, compile, offset) => {
        const readAt = t0 + oneWay + compile;
        const e = estimateOffset(t0, readAt + oneWay, new Date(readAt + offset).toISOString(), compile);
        expect(e.offsetMs).toBe(offset);
      }),
    );
  });
});
