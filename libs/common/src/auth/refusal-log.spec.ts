import type Redis from 'ioredis';
import { RefusalLog, refusalEvents } from './refusal-log';

/** A stand-in for the one Redis call the log makes (a pure unit test: the real stream is tested in broker-users.int-spec). */
function fakeRedis(fail = false) {
  const added: string[][] = [];
  const redis = { xadd: (...args: string[]) => (added.push(args), fail ? Promise.reject(new Error('down')) : Promise.resolve('1-0')) };
  return { redis: redis as unknown as Redis, added };
}

const refusal = (i: number) => ({ receiver: 'n1', command: 'ring-probe', reason: 'forged', message: `bad ${i}`, claimedSender: 'mallory' });

describe('RefusalLog', () => {
  it('appends each refusal to the capped stream of the namespace', () => {
    const { redis, added } = fakeRedis();
    new RefusalLog(redis, 'farm', 20, () => Date.UTC(2026, 0, 1)).record(refusal(1));
    expect(added).toHaveLength(1);
    expect(added[0].slice(0, 5)).toEqual(['farm:refusals', 'MAXLEN', '~', '1000', '*']);
    expect(JSON.parse(added[0][6])).toEqual({ at: '2026-01-01T00:00:00.000Z', ...refusal(1) });
  });

  it('cuts a flood to its rate and says how many it left out', () => {
    const { redis, added } = fakeRedis();
    let now = 0;
    const log = new RefusalLog(redis, 'farm', 3, () => now);
    for (let i = 0; i < 10; i++) log.record(refusal(i));
    expect(added).toHaveLength(3);
    now = 1000;
    log.record(refusal(10));
    expect(added).toHaveLength(4);
    expect((JSON.parse(added[3][6]) as { message: string }).message).toBe('bad 10 (and 7 more refusals not listed)');
  });

  it('never throws when Redis fails', async () => {
    const { redis, added } = fakeRedis(true);
    expect(() => new RefusalLog(redis, 'farm').record(refusal(1))).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(added).toHaveLength(1);
  });

  it('reads back events with their ids and skips entries that are not its own', () => {
    const e = { at: 'x', ...refusal(1) };
    expect(refusalEvents([['5-0', ['event', JSON.stringify(e)]], ['6-0', ['other', '1']], ['7-0', ['event', '{not json']], ['8-0', ['event', '{"a":1}']]])).toEqual([{ ...e, id: '5-0' }]);
  });
});
