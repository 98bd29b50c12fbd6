import fc from 'fast-check';
import { InvalidNotificationError } from '../domain/errors';
import { LatestWriter, RateLimitedLog, backoffDelay, isPoison, retryTrouble } from './retry';

describe('poison or trouble', () => {
  it('only invalid input is poison', () => {
    expect(isPoison(new InvalidNotificationError('bad'))).toBe(true);
    expect(isPoison(new Error("OOM command not allowed when used memory > 'maxmemory'"))).toBe(false);
    expect(isPoison(undefined)).toBe(false);
  });

  it('backoff grows, stays within [ceiling/2, ceiling] and never passes the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelay(attempt, { baseMs: 50, capMs: 2000 }, () => r);
        const ceiling = Math.min(2000, 50 * 2 ** attempt);
        expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
        expect(d).toBeLessThanOrEqual(ceiling);
      }),
    );
    expect(backoffDelay(0, { baseMs: 50, capMs: 2000 }, () => 0)).toBe(25);
    expect(backoffDelay(40, { baseMs: 50, capMs: 2000 }, () => 0.999)).toBeLessThanOrEqual(2000);
  });

  it('retries trouble until the work succeeds, and rethrows poison at once', async () => {
    let calls = 0;
    const troubles: number[] = [];
    const v = await retryTrouble(
      async () => {
        if (++calls < 4) throw new Error('READONLY');
        return 'done';
      },
      { backoff: { baseMs: 1, capMs: 2 }, onTrouble: (_e, a) => troubles.push(a) },
    );
    expect(v).toBe('done');
    expect(troubles).toEqual([0, 1, 2]);
    let poisonCalls = 0;
    await expect(
      retryTrouble(async () => {
        poisonCalls++;
        throw new InvalidNotificationError('bad');
      }),
    ).rejects.toBeInstanceOf(InvalidNotificationError);
    expect(poisonCalls).toBe(1);
  });

  it('stops retrying when the work became moot', async () => {
    let calls = 0;
    await expect(
      retryTrouble(
        async () => {
          calls++;
          throw new Error('broker gone');
        },
        { backoff: { baseMs: 1, capMs: 1 }, keepGoing: () => calls < 3 },
      ),
    ).rejects.toThrow('broker gone');
    expect(calls).toBe(3);
  });

  it('a repeating complaint is logged once per period, with the count folded', () => {
    const l = new RateLimitedLog(1000);
    expect(l.next('x', 0)).toBe('x');
    expect(l.next('x', 10)).toBeUndefined();
    expect(l.next('x', 20)).toBeUndefined();
    expect(l.next('x', 1500)).toBe('x (and 2 more like it)');
  });

  it('a latest-value writer never lets an older value, retried late, overwrite a newer one', async () => {
    const stored: number[] = [];
    let failing = 2;
    const w = new LatestWriter<number>(
      async (v) => {
        await new Promise((r) => setTimeout(r, 1));
        if (failing-- > 0) throw new Error('OOM');
        stored.push(v);
      },
      { backoff: { baseMs: 1, capMs: 2 } },
    );
    const saves = [1, 2, 3, 4].map((v) => w.save(v));
    await Promise.all(saves);
    // the first write (1) fails twice and then goes through; 2 and 3 are superseded by 4
    expect(stored).toEqual([1, 4]);
    expect(stored[stored.length - 1]).toBe(4);
  });
});
