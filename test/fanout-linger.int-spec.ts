import { decodeRebroadcast } from '../libs/common/src/messaging/fanout-batcher';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { TestFarm, notification } from './support/test-farm';

jest.setTimeout(90_000);

/** Far above any delivery time here, so whether a node lingered shows plainly. */
const LINGER_MS = 400;

/**
 * Rate-adaptive re-broadcast batching (FANOUT_LINGER_MS, FANOUT_LINGER_MIN_RATE) against the
 * real broker: an idle witness queue on `<ns>.fanout` sees every re-broadcast message the nodes
 * send, and when.
 */
describe('re-broadcasts linger for company only while the rate is high', () => {
  const farm = new TestFarm('fanout-linger', { FANOUT_LINGER_MS: String(LINGER_MS), FANOUT_LINGER_MIN_RATE: '100' });
  /** Per re-broadcast message: when the witness got it and the ids it carried. */
  const seen: { at: number; ids: string[] }[] = [];

  beforeAll(async () => {
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
    const ch = await farm.channel();
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await ch.bindQueue(q.queue, farm.t.fanoutExchange, '');
    await ch.consume(
      q.queue,
      (m) => {
        if (!m) return;
        const ids = decodeRebroadcast(JSON.parse(m.content.toString())).map((n) => (n as { id: string }).id);
        seen.push({ at: Date.now(), ids });
      },
      { noAck: true },
    );
  });
  afterAll(() => farm.cleanup());

  const carrying = (prefix: string): { at: number; ids: string[] }[] => seen.filter((m) => m.ids.some((id) => id.startsWith(prefix)));

  it('at a low rate each notification leaves at once, in a message of its own', async () => {
    const sentAt = new Map<string, number>();
    for (let i = 0; i < 15; i++) {
      const n = notification(i, { id: `low-${i}`, target: `low${i}` });
      sentAt.set(n.id as string, Date.now());
      await farm.publish(n);
      await new Promise((r) => setTimeout(r, 100));
    }
    await waitFor('15 re-broadcasts seen', async () => carrying('low-').flatMap((m) => m.ids).length >= 15, 10_000);
    const msgs = carrying('low-');
    expect(msgs.every((m) => m.ids.length === 1)).toBe(true);
    const delays = msgs.map((m) => m.at - (sentAt.get(m.ids[0]) ?? NaN)).sort((x, y) => x - y);
    // A lingering node would hold each one LINGER_MS; these went at once.
    expect(delays[Math.floor(delays.length / 2)]).toBeLessThan(LINGER_MS / 2);
  });

  it('at a high rate notifications share messages, and every one still reaches both nodes', async () => {
    const ch = await farm.channel();
    const count = 3000;
    const before = (await farm.snapshot('a')).count;
    for (let i = 0; i < count; i++) {
      const n = notification(10_000 + i, { id: `high-${i}`, target: `high${i}` });
      if (!ch.publish(farm.t.ingressExchange, 'notification', Buffer.from(JSON.stringify(n)), { persistent: true })) await new Promise((r) => ch.once('drain', r));
    }
    await ch.waitForConfirms();
    await farm.converged(before + count, undefined, 60_000);
    await waitFor('every high-rate re-broadcast seen', async () => new Set(carrying('high-').flatMap((m) => m.ids)).size >= count, 10_000);
    const msgs = carrying('high-');
    // Without lingering a node sends one message per event-loop turn, about 31 notifications
    // each here (its lanes start 16 deliveries a turn); lingering, a batch stays open LINGER_MS
    // once the rate passes 100/s and fills up to what the node holds (PREFETCH 200): about 100.
    expect(count / msgs.length).toBeGreaterThanOrEqual(60);
  });
});
