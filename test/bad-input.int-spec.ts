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
    // Naming an origin, as a node does (this farm's processes share one broker user), so what is refused is the body;
    // a third node's, since a node acks its own re-broadcasts unread.
    ch.publish(farm.t.fanoutExchange, '', Buffer.from(JSON.stringify({ target: 'sneaky', available: false })), { persistent: true, headers: { 'x-origin-node': 'z' } });
    await ch.waitForConfirms();
    const dead: { reason: string }[] = [];
    await waitFor('both nodes refused it', async () => {
      dead.push(...(await farm.deadLetters()));
      return dead.length >= 2;
    });
    expect(dead.every((d) => /id and timestamp/.test(d.reason))).toBe(true);
    expect((await farm.snapshot('a')).entries.map((e) => e.target)).not.toContain('sneaky');
  });

  it('refuses, on AMQP, times far in the future (body and timestamp property), out-of-range properties and deep nesting, with reasons', async () => {
    const before = (await farm.snapshot('a')).count;
    await farm.publish({ target: '*', available: true, timestamp: '9999-12-31T23:59:59.999Z' });
    await farm.publish({ target: 'future-prop', available: true, id: 'future-prop' });
    await farm.publishRaw(JSON.stringify({ target: 'future-prop2', available: false }), { timestamp: Math.floor(Date.now() / 1000) + 3600 });
    await farm.publishRaw(JSON.stringify({ target: 'huge-prop', available: false }), { timestamp: 1e13 });
    await farm.publishRaw(`{"target":"deep","available":false,"message":${'['.repeat(10_000)}${']'.repeat(10_000)}}`);
    await farm.publish({ target: 'nozone', available: false, timestamp: '2026-11-27T10:00:00' });
    await farm.publishRaw(Buffer.concat([Buffer.from('{"target":"latin1","available":false,"message":"'), Buffer.from([0xe9]), Buffer.from('"}')]));
    await farm.publish(notification(2, { target: 'after-harm' }));
    await farm.converged(before + 2);
    const dead: { reason: string }[] = [];
    await waitFor('six refusals dead-lettered', async () => {
      dead.push(...(await farm.deadLetters()));
      return dead.length >= 6;
    }, 15_000, 200);
    const reasons = dead.map((d) => d.reason);
    expect(reasons.filter((r) => /ahead of this receiver's clock/.test(r))).toHaveLength(2);
    expect(reasons.some((r) => /AMQP timestamp property/.test(r))).toBe(true);
    expect(reasons.some((r) => /nested deeper than/.test(r))).toBe(true);
    expect(reasons.some((r) => /zone/.test(r))).toBe(true);
    expect(reasons.some((r) => /UTF-8/.test(r))).toBe(true);
    const targets = (await farm.snapshot('b')).entries.map((e) => e.target);
    expect(targets).toEqual(expect.arrayContaining(['after-harm', 'future-prop']));
    expect(targets).not.toContain('*');
    expect(farm.logLines(/unknown delivery tag|PRECONDITION_FAILED|RangeError|Maximum call stack/)).toEqual([]);
    for (const id of ['a', 'b']) expect((await fetch(`${farm.node(id).url}/v1/health`)).status).toBe(200);
  });

  it('refuses, on HTTP, future and zoneless times (400), deep nesting (400, not 500), non-JSON content types (415)', async () => {
    const notifier = await farm.startNotifier();
    const post = (body: string, type = 'application/json'): Promise<Response> => fetch(`${notifier.url}/v1/notifications`, { method: 'POST', headers: { 'content-type': type, ...farm.auth() }, body });
    const future = await post(JSON.stringify({ target: '*', available: true, timestamp: '9999-12-31T23:59:59.999Z' }));
    expect(future.status).toBe(400);
    expect(JSON.stringify(await future.json())).toMatch(/future/);
    expect((await post(JSON.stringify({ target: 'mail', available: true, timestamp: '2026-11-27T10:00:00' }))).status).toBe(400);
    const deep = await post(`${'['.repeat(5000)}${']'.repeat(5000)}`);
    expect(deep.status).toBe(400);
    const deepObj = await post(`{"target":"mail","available":true,"message":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    expect(deepObj.status).toBe(400);
    expect(JSON.stringify(await deepObj.json())).toMatch(/nested deeper/);
    expect((await post(JSON.stringify({ target: 'mail', available: true }), 'text/plain')).status).toBe(415);
    expect((await post('target=mail', 'application/x-www-form-urlencoded')).status).toBe(415);
    const ok = await post(JSON.stringify({ target: 'http-ok', available: true }));
    expect(ok.status).toBe(202);
    expect(farm.logLines(/RangeError|Maximum call stack|unhandled error/)).toEqual([]);
  });
});
