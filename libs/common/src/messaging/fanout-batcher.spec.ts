import { Notification } from '../domain/notification';
import { FanoutBatcher, MAX_BATCH, decodeRebroadcast } from './fanout-batcher';

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
    const b = new FanoutBatcher(r.send, true);
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
});
