import fc from 'fast-check';
import { validateSync } from 'class-validator';
import { plainToInstance } from 'class-transformer';
import { MAX_CLOCK_CORRECTION_MS, MAX_SET_CLOCK_MS, boundedCorrection, estimateOffset, judgeClock, restoredCorrection } from './clock';
import { AttendantRequestDto } from './compilation';

const HOUR = 3_600_000;
const DAY = 86_400_000;

describe('boundedCorrection', () => {
  it('three set-clock of a day each leave the correction at the bound, not three days ahead', () => {
    let c = 0;
    const clamps: boolean[] = [];
    for (let i = 0; i < 3; i++) {
      const r = boundedCorrection(c, DAY, HOUR);
      c = r.correctionMs;
      clamps.push(r.clamped);
    }
    expect(c).toBe(HOUR);
    expect(clamps).toEqual([true, true, true]);
  });

  it('applies a command within the bound exactly, rounded', () => {
    expect(boundedCorrection(1000, -2500.4, HOUR)).toEqual({ correctionMs: -1500, clamped: false });
    expect(boundedCorrection(HOUR, -HOUR, HOUR)).toEqual({ correctionMs: 0, clamped: false });
    expect(Object.is(boundedCorrection(0.2, -0.4, HOUR).correctionMs, 0)).toBe(true);
  });

  it('property: the total stays within ±max whatever the commands', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_CLOCK_CORRECTION_MS }), fc.array(fc.integer({ min: -MAX_SET_CLOCK_MS, max: MAX_SET_CLOCK_MS }), { maxLength: 20 }), (max, commands) => {
        let c = 0;
        for (const a of commands) {
          c = boundedCorrection(c, a, max).correctionMs;
          expect(Math.abs(c)).toBeLessThanOrEqual(max);
        }
      }),
    );
  });

  it('property: from any allowed correction, one command the DTO accepts reaches any other allowed one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_CLOCK_CORRECTION_MS }).chain((max) => fc.tuple(fc.constant(max), fc.integer({ min: -max, max }), fc.integer({ min: -max, max }))), ([max, from, to]) => {
        const adjustMs = to - from;
        const dto = plainToInstance(AttendantRequestDto, { op: 'set-clock', adjustMs, by: 'test' });
        expect(validateSync(dto)).toEqual([]);
        expect(boundedCorrection(from, adjustMs, max)).toEqual({ correctionMs: to, clamped: false });
      }),
    );
  });

  it('the request DTO refuses one command beyond MAX_SET_CLOCK_MS', () => {
    const dto = plainToInstance(AttendantRequestDto, { op: 'set-clock', adjustMs: MAX_SET_CLOCK_MS + 1 });
    expect(validateSync(dto).map((e) => e.property)).toEqual(['adjustMs']);
  });
});

describe('restoredCorrection', () => {
  it('cuts a stored correction beyond the bound and reads garbage as none', () => {
    expect(restoredCorrection(String(3 * DAY), HOUR)).toEqual({ correctionMs: HOUR, clamped: true });
    expect(restoredCorrection('-2500', HOUR)).toEqual({ correctionMs: -2500, clamped: false });
    expect(restoredCorrection(null, HOUR)).toEqual({ correctionMs: 0, clamped: false });
    expect(restoredCorrection('not a number', HOUR)).toEqual({ correctionMs: 0, clamped: true });
  });
});

describe('judgeClock', () => {
  const limits = { maxDiffMs: 1000, maxRttMs: 1000 };

  it('corrects a clock beyond maxDiff measured with a short round trip', () => {
    expect(judgeClock({ offsetMs: 5000, networkRttMs: 20 }, limits)).toEqual({ action: 'correct', adjustMs: -5000 });
    expect(judgeClock({ offsetMs: -1500.6, networkRttMs: 20 }, limits)).toEqual({ action: 'correct', adjustMs: 1501 });
  });

  it('leaves a clock within maxDiff alone', () => {
    expect(judgeClock({ offsetMs: 999, networkRttMs: 20 }, limits)).toEqual({ action: 'ok' });
  });

  it('does not read a queue wait as drift: 2.8 s in a backlog looks like 1.4 s ahead', () => {
    // Sent at 0; waited 2800 ms in the attendant's queue, compiled in 5 ms and read its (correct) clock at 2805; answered at 2806.
    const e = estimateOffset(0, 2806, new Date(2805).toISOString(), 5);
    expect(e.offsetMs).toBeGreaterThan(1000);
    const v = judgeClock(e, limits);
    expect(v.action).toBe('uncertain');
    expect(v).toMatchObject({ reason: expect.stringContaining('CLOCK_MAX_RTT_MS') });
  });

  it('does not correct an offset within half the round trip, even under the rtt bound', () => {
    expect(judgeClock({ offsetMs: 1400, networkRttMs: 2900 }, { maxDiffMs: 1000, maxRttMs: 5000 })).toMatchObject({ action: 'uncertain', reason: expect.stringContaining('measurement error') });
    expect(judgeClock({ offsetMs: 1600, networkRttMs: 2900 }, { maxDiffMs: 1000, maxRttMs: 5000 })).toEqual({ action: 'correct', adjustMs: -1600 });
  });

  it('keeps one command within the DTO range, however far the clock is', () => {
    expect(judgeClock({ offsetMs: 3 * DAY, networkRttMs: 10 }, limits)).toEqual({ action: 'correct', adjustMs: -MAX_SET_CLOCK_MS });
  });

  const sample = fc.record({ offsetMs: fc.double({ min: -1e9, max: 1e9, noNaN: true }), networkRttMs: fc.double({ min: 0, max: 1e6, noNaN: true }) });
  const bounds = fc.record({ maxDiffMs: fc.integer({ min: 1, max: 3_600_000 }), maxRttMs: fc.integer({ min: 1, max: 600_000 }) });

  it('property: no sample with a round trip above the bound ever produces a correction', () => {
    fc.assert(
      fc.property(
        bounds.chain((l) => fc.tuple(fc.constant(l), fc.double({ min: l.maxRttMs, max: 1e7, noNaN: true, minExcluded: true }))),
        fc.double({ min: -1e9, max: 1e9, noNaN: true }),
        ([l, networkRttMs], offsetMs) => {
          expect(networkRttMs).toBeGreaterThan(l.maxRttMs);
          const v = judgeClock({ offsetMs, networkRttMs }, l);
          expect(v.action).not.toBe('correct');
          expect(v.action).toBe('uncertain');
        },
      ),
    );
  });

  it('property: a correction only follows a sample within the rtt bound whose offset exceeds maxDiff and half the round trip, and stays in the DTO range', () => {
    fc.assert(
      fc.property(bounds, sample, (l, e) => {
        const v = judgeClock(e, l);
        if (v.action !== 'correct') return;
        expect(e.networkRttMs).toBeLessThanOrEqual(l.maxRttMs);
        expect(Math.abs(e.offsetMs)).toBeGreaterThan(Math.max(l.maxDiffMs, e.networkRttMs / 2));
        expect(Math.abs(v.adjustMs)).toBeLessThanOrEqual(MAX_SET_CLOCK_MS);
        expect(Math.sign(v.adjustMs)).toBe(-Math.sign(e.offsetMs));
      }),
    );
  });

  it('property: a trusted sample beyond both limits is corrected', () => {
    fc.assert(
      fc.property(bounds, fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 1e8 }), fc.boolean(), (l, rttFraction, excess, ahead) => {
        const networkRttMs = l.maxRttMs * rttFraction;
        const magnitude = Math.max(l.maxDiffMs, networkRttMs / 2) + excess;
        expect(judgeClock({ offsetMs: ahead ? magnitude : -magnitude, networkRttMs }, l).action).toBe('correct');
      }),
    );
  });
});
