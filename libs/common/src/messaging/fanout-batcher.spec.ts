import fc from 'fast-check';
import { Notification } from '../domain/notification';
import { FanoutBatcher, MAX_BATCH, NO_LINGER, RATE_TAU_MS, decayed, decodeRebroadcast, lingerFor, rateOf } from './fanout-batcher';

const n = (i: number, priority = 0): Notification => ({ targetType: 'application', target: `app${i}`, available: false, reason: 'outage', source: 'operator', timestamp: '2026-11-28T00:00:00.000Z', id: `n${i}`, priority });

/** Records what a batcher sends, in order, with the moment (a label) it was sent. */
function recorder(): { sent: { ids: string[]; priority: number; count: number; at: string }[]; send: (body: Buffer, priority: number, count: number) => Promise<void>; now: { label: string } } {
  const now = { label: 'start' };
  const sent: { ids: string[]; priority: number; count: number; at: string }[] = [];
  return {
    sent,
    now,
    send: async (body, priority, count) => {
      sent.push({ ids: decodeRebroadcast(JSON.parse(body.toString())).map((v) => (v as Notification).id), priority, count, at: now.label });
    },
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('FanoutBatcher', () => {
  it('sends what it is handed in one turn as one message, at the end of the turn, with the highest priority of the batch', async () => {
    const r = recorder();
    const b = new FanoutBatcher(r.send);
    const done = Promise.all([b.add(n(1)), b.add(n(2, 3)), b.add(n(3, 1))]);
    await Promise.resolve();
    expect(r.sent).toEqual([]);
    await turn();
    await done;
    expect(r.sent).toEqual([{ ids: ['n1', 'n2', 'n3'], priority: 3, count: 3, at: 'start' }]);
  });

  it('in `soon` mode sends before the turn\'s immediates run (ahead of ordinary work queued for the turn), still batching one callback\'s notifications', async () => {
    const r = recorder();
    const b = new FanoutBatcher(r.send, { soon: true });
    // Ordinary work already queued for this turn (as a lane's next slice would be).
    setImmediate(() => (r.now.label = 'after the queued immediate'));
    const done = Promise.all([b.add(n(1, 9)), Promise.resolve().then(() => b.add(n(2, 9)))]);
    await done;
    expect(r.sent).toEqual([{ ids: ['n1', 'n2'], priority: 9, count: 2, at: 'start' }]);
    await turn();
    expect(r.now.label).toBe('after the queued immediate');
  });

  it('sends a full batch at once, and rejects every caller of a message that was not confirmed', async () => {
    let calls = 0;
    const b = new FanoutBatcher(async () => {
      calls++;
      throw new Error('nacked');
    });
    const adds = Array.from({ length: MAX_BATCH }, (_, i) => b.add(n(i)));
    expect(calls).toBe(1);
    const results = await Promise.allSettled(adds);
    expect(results.every((x) => x.status === 'rejected' && (x.reason as Error).message === 'nacked')).toBe(true);
  });

  describe('lingering, once the rate calls for it', () => {
    const policy = { maxMs: 40, minRate: 200 };
    const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

    /** A batcher on a clock the test moves; `arrive` hands it notifications `gapMs` apart. */
    function clocked(linger = policy): { r: ReturnType<typeof recorder>; b: FanoutBatcher; clock: { t: number }; arrive: (from: number, count: number, gapMs: number) => Promise<void>[] } {
      const r = recorder();
      const clock = { t: 1000 };
      const b = new FanoutBatcher(r.send, { linger, now: () => clock.t });
      const arrive = (from: number, count: number, gapMs: number): Promise<void>[] =>
        Array.from({ length: count }, (_, i) => {
          clock.t += gapMs;
          return b.add(n(from + i));
        });
      return { r, b, clock, arrive };
    }

    it('below the rate, each turn\'s notifications leave at the end of the turn', async () => {
      const { r, b, arrive } = clocked();
      for (let i = 0; i < 5; i++) {
        const p = arrive(i, 1, 20); // 50 per second
        await turn();
        await Promise.all(p);
      }
      expect(b.rate).toBeLessThan(policy.minRate);
      expect(r.sent.map((m) => m.count)).toEqual([1, 1, 1, 1, 1]);
    });

    it('from the rate on, a batch stays open maxMs and what arrives meanwhile shares its message', async () => {
      const { r, b, arrive } = clocked();
      // 60 notifications 1 ms apart: the rate estimate climbs past 200/s on the way.
      await Promise.all(arrive(0, 60, 1));
      expect(b.rate).toBeGreaterThanOrEqual(policy.minRate);
      const before = r.sent.length;
      const open = arrive(100, 1, 1);
      await turn();
      expect(r.sent.length).toBe(before); // still open after the turn
      const more = arrive(101, 3, 1);
      await sleep(policy.maxMs / 2);
      expect(r.sent.length).toBe(before);
      await Promise.all([...open, ...more]);
      expect(r.sent.slice(before)).toEqual([{ ids: ['n100', 'n101', 'n102', 'n103'], priority: 0, count: 4, at: 'start' }]);
    });

    it('sends a full batch at once even while lingering', async () => {
      const { r, b, arrive } = clocked({ maxMs: 60_000, minRate: 200 });
      await Promise.all(arrive(0, 60, 1));
      expect(b.rate).toBeGreaterThanOrEqual(200);
      const before = r.sent.length;
      // A batch opens for 60 s; the MAX_BATCH-th notification sends it there and then.
      const all = arrive(1000, MAX_BATCH, 0.01);
      expect(r.sent.slice(before).map((m) => m.count)).toEqual([MAX_BATCH]);
      await Promise.all(all);
    });

    it('stops lingering once the rate has fallen', async () => {
      const { r, b, clock, arrive } = clocked();
      await Promise.all(arrive(0, 60, 1));
      expect(b.rate).toBeGreaterThanOrEqual(policy.minRate);
      clock.t += 5 * RATE_TAU_MS;
      expect(b.rate).toBeLessThan(policy.minRate);
      const before = r.sent.length;
      const p = arrive(500, 1, 0);
      await turn();
      expect(r.sent.length).toBe(before + 1);
      await Promise.all(p);
    });

    it('never lingers in `soon` mode (urgent re-broadcasts), whatever the rate', async () => {
      const r = recorder();
      const clock = { t: 0 };
      const b = new FanoutBatcher(r.send, { soon: true, linger: { maxMs: 60_000, minRate: 1 }, now: () => clock.t });
      for (let i = 0; i < 20; i++) {
        clock.t += 1;
        await b.add(n(i, 9));
      }
      expect(r.sent).toHaveLength(20);
    });
  });

  describe('rate estimate (pure)', () => {
    it('decays the same whether the time passes at once or in two parts', () => {
      fc.assert(
        fc.property(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.double({ min: 0, max: 1e3, noNaN: true }), fc.double({ min: 0, max: 1e3, noNaN: true }), (score, a, b) => {
          const once = decayed(score, a + b, RATE_TAU_MS);
          const twice = decayed(decayed(score, a, RATE_TAU_MS), b, RATE_TAU_MS);
          expect(Math.abs(once - twice)).toBeLessThanOrEqual(1e-9 * Math.max(1, score));
          expect(once).toBeLessThanOrEqual(score);
        }),
      );
    });

    it('settles on a steady rate: arrivals every 1000 / r ms read as r per second, within 5 %', () => {
      fc.assert(
        fc.property(fc.integer({ min: 20, max: 20_000 }), (r) => {
          const gap = 1000 / r;
          let score = 0;
          const arrivals = Math.ceil((20 * RATE_TAU_MS) / gap) + 10;
          for (let i = 0; i < arrivals; i++) score = decayed(score, gap, RATE_TAU_MS) + 1;
          const read = rateOf(score, RATE_TAU_MS);
          // Just after an arrival the estimate sits at the top of its sawtooth: up to one arrival above.
          expect(read).toBeGreaterThan(0.95 * r);
          expect(read).toBeLessThan(1.05 * r + 1000 / RATE_TAU_MS);
        }),
      );
    });

    it('lingers exactly from minRate on, and never without a positive maxMs', () => {
      let lingered = 0;
      let atOnce = 0;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 5000 }), (rate, maxMs, minRate) => {
          const w = lingerFor(rate, { maxMs, minRate });
          if (w > 0) lingered++;
          else atOnce++;
          expect(w).toBe(maxMs > 0 && rate >= minRate ? maxMs : 0);
          expect(lingerFor(rate, NO_LINGER)).toBe(0);
        }),
        { numRuns: 500 },
      );
      expect(lingered).toBeGreaterThan(50);
      expect(atOnce).toBeGreaterThan(50);
    });
  });
});
