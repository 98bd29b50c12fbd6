import { TestFarm, notification } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(60_000);

describe('poison and malformed messages', () => {
  const farm = new TestFarm('badinput');

  beforeAll(async () => {
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
  });
  afterAll(() => farm.cleanup());

  it('dead-letters each kind with its reason, accepts none, and keeps the queue flowing', async () => {
    const bad: [string, Buffer | string][] = [
      ['bad JSON', '{"target": "mail", "available": fal'],
      ['not an object', '"just a string"'],
      ['wrong types', JSON.stringify({ target: 42, available: 'yes' })],
      ['unknown fields', JSON.stringify({ target: 'mail', available: false, sudo: true })],
      ['__proto__', '{"target":"mail","available":false,"__proto__":{"isAdmin":true}}'],
      ['constructor.prototype', '{"target":"mail","available":false,"constructor":{"prototype":{"x":1}}}'],
      ['10 MB body', Buffer.alloc(10 * 1024 * 1024, 'a')],
      ['bad priority', JSON.stringify({ target: 'mail', available: false, priority: 99 })],
      ['empty body', ''],
    ];
    for (const [, body] of bad) await farm.publishRaw(body);
    await farm.publish(notification(1, { target: 'after-poison' }));

    const snaps = await farm.converged(1);
    for (const s of snaps) expect(s.entries.map((e) => e.target)).toEqual(['after-poison']);
    const dead: { reason: string }[] = [];
    await waitFor('all refused messages dead-lettered', async () => {
      dead.push(...(await farm.deadLetters()));
      return dead.length >= bad.length;
    }, 10_000, 200).catch(() => undefined);
    expect(dead).toHaveLength(bad.length);
    for (const d of dead) expect(d.reason.length).toBeGreaterThan(0);
    const reasons = dead.map((d) => d.reason).join('\n');
    expect(reasons).toMatch(/malformed JSON/);
    expect(reasons).toMatch(/exceeds/);
    expect(reasons).toMatch(/sudo/);
    expect(reasons).toMatch(/__proto__/);
    // the processes stayed up
    for (const id of ['a', 'b']) expect((await fetch(`${farm.node(id).url}/v1/health`)).status).toBe(200);
  });

  it('refuses a re-broadcast without id or timestamp published straight to the fanout exchange', async () => {
    const ch = await farm.channel();
    ch.publish(farm.t.fanoutExchange, '', Buffer.from(JSON.stringify({ target: 'sneaky', available: false })), { persistent: true });
    await ch.waitForConfirms();
    const dead: { reason: string }[] = [];
    await waitFor('both nodes refused it', async () => {
      dead.push(...(await farm.deadLetters()));
      return dead.length >= 2;
    });
    expect(dead.every((d) => /id and timestamp/.test(d.reason))).toBe(true);
    expect((await farm.snapshot('a')).entries.map((e) => e.target)).not.toContain('sneaky');
  });
});
