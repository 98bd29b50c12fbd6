import fc from 'fast-check';
import { RestartDecision, RestartState, decideRestart, freshRestarts } from './restart-limit';

const limit = { max: 3, windowMs: 60_000 };

function run(times: number[], l = limit): RestartDecision[] {
  let state: RestartState = freshRestarts();
  return times.map((t) => {
    const d = decideRestart(state, t, l, 'logging');
    state = d.state;
    return d;
  });
}

describe('restart limiter', () => {
  it('allows restarts spread wider than the window however many', () => {
    expect(run([0, 30_000, 60_000, 90_000, 120_000, 150_000]).map((d) => d.allowed)).toEqual([true, true, true, true, true, true]);
  });

  it('refuses the restart one beyond the limit within the window, says so once, and then stops trying even after the window', () => {
    const ds = run([0, 10_000, 20_000, 30_000, 40_000, 500_000]);
    expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false, false, false]);
    expect(ds[2].message).toBe('logging: restart 3 of at most 3 within 60000 ms');
    expect(ds[3]).toMatchObject({ announce: true, message: 'logging: restarted 3 times within 60000 ms; stopping restarts until an operator resets them' });
    expect(ds[4]).toMatchObject({ announce: false });
    expect(ds[5].message).toMatch(/^logging: not restarted; restarts stopped at 1970-01-01T00:00:30.000Z after 3 in 60000 ms$/);
  });

  it('stays stopped until an operator’s reset, then tries again', () => {
    const gaveUp = run([0, 1, 2, 3])[3];
    expect(gaveUp.allowed).toBe(false);
    expect(decideRestart(gaveUp.state, 600_000, limit, 'logging').allowed).toBe(false);
    expect(decideRestart(freshRestarts(), 600_000, limit, 'logging').allowed).toBe(true);
  });
});

describe('restart limiter properties', () => {
  it('property: allows a restart exactly while fewer than max fall within the last windowMs, never more than max in any window, and once it refuses it never allows again, saying so once', () => {
    const seen = { samples: 0, refused: 0, spread: 0 };
    const limitArb = fc.record({ max: fc.integer({ min: 1, max: 5 }), windowMs: fc.integer({ min: 10, max: 1000 }) });
    fc.assert(
      fc.property(limitArb, fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 40 }), (l, steps) => {
        let t = 0;
        const times = steps.map((s) => (t += s));
        const ds = run(times, l);
        const allowed = times.filter((_, i) => ds[i].allowed);
        for (const a of allowed) expect(allowed.filter((b) => b >= a && b < a + l.windowMs).length).toBeLessThanOrEqual(l.max);
        const firstRefusal = ds.findIndex((d) => !d.allowed);
        // Until it gives up, it refuses only when max restarts already fall within the last window.
        const until = firstRefusal < 0 ? ds.length : firstRefusal + 1;
        for (let i = 0; i < until; i++) {
          const inWindow = times.slice(0, i).filter((b, j) => ds[j].allowed && b > times[i] - l.windowMs).length;
          expect(ds[i].allowed).toBe(inWindow < l.max);
        }
        seen.samples++;
        if (firstRefusal >= 0) {
          seen.refused++;
          expect(ds.slice(firstRefusal).every((d) => !d.allowed)).toBe(true);
          expect(ds.filter((d) => !d.allowed && d.announce)).toHaveLength(1);
        } else if (allowed.length > l.max) seen.spread++;
      }),
      { numRuns: 500 },
    );
    expect(seen.refused / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.spread / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
