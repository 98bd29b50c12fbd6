import { TestFarm, notification } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { freePort } from '../libs/common/src/testing/farm-process';

jest.setTimeout(60_000);

/**
 * The apps' logs as a log pipeline sees them: every line one JSON object with its level, app and
 * process id; the request or message id on the lines that concern one; no password anywhere.
 */
describe('JSON logs', () => {
  const farm = new TestFarm('logs');
  const PASSWORD = 'S3cret-redis-pw';

  beforeAll(async () => {
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
    await farm.startNotifier();
  });
  afterAll(() => farm.cleanup());

  it('writes every line of every app as one JSON object with level, time, app and the process id', async () => {
    await farm.publish(notification(1, { target: 'logged' }));
    await farm.converged(1);
    const { records, notJson } = farm.logRecords();
    expect(notJson).toEqual([]);
    expect(records.length).toBeGreaterThan(20);
    for (const r of records) {
      expect(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).toContain(r.level);
      expect(Number.isNaN(Date.parse(String(r.time)))).toBe(false);
      expect(typeof r.msg).toBe('string');
    }
    expect(new Set(records.filter((r) => r.app === 'repeater').map((r) => r.node))).toEqual(new Set(['a', 'b']));
    expect(records.some((r) => r.app === 'notifier')).toBe(true);
  });

  it('puts the request id on the lines logged while serving that request', async () => {
    const r = await fetch(`${farm.node('a').url}/v1/sync?peers=b`, { method: 'POST', headers: { 'x-request-id': 'logs-test-sync-1', ...farm.auth() } });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-request-id')).toBe('logs-test-sync-1');
    const line = await waitFor('the handshake line of that request', async () => farm.logRecords().records.find((l) => l.reqId === 'logs-test-sync-1'), 10_000, 100);
    expect(line).toMatchObject({ app: 'repeater', node: 'a', context: 'Sync' });
    expect(String(line.msg)).toMatch(/^handshake with b: learned \d+/);
  });

  it('puts the message id on the lines logged while handling that message', async () => {
    await farm.publishRaw('{"target": "mail", "available": fal', { messageId: 'logs-test-poison-1' });
    const line = await waitFor('the dead-letter line of that message', async () => farm.logRecords().records.find((l) => l.msgId === 'logs-test-poison-1'), 10_000, 100);
    expect(line).toMatchObject({ app: 'repeater', level: 'warn' });
    expect(String(line.msg)).toMatch(/^dead-lettered a message from .*ingress: malformed JSON/);
  });

  it('never writes a password, even of a URL it cannot reach', async () => {
    const port = await freePort();
    const c = await farm.startNode('c', { REDIS_URL: `redis://farm:${PASSWORD}@127.0.0.1:${port}` }, false);
    await waitFor('c said Redis is unreachable', async () => farm.logRecords().records.some((r) => r.node === 'c' && /127\.0\.0\.1:\d+/.test(String(r.msg)) && r.level !== 'info'), 20_000, 200);
    await c.stop();
    const all = farm.logLines(/./).join('\n');
    expect(all).toContain('farm:***@127.0.0.1');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toMatch(/guest:guest@/);
  });
});
