import Redis from 'ioredis';
import { CommandSigner, CommandVerifier, Keyring, RedisNonceCache } from '../libs/common/src/auth';
import { nonceKey } from '../libs/common/src/contracts/topology';
import { createRedis } from '../libs/common/src/redis/redis-connection';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { TestRedis } from './support/redis-server';
import { REDIS_URL } from './support/test-farm';

jest.setTimeout(60_000);

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 3), active: true }]);

/** The replay guard of signed commands on a real Redis: one memory of nonces for every process. */
describe('signed commands: the nonce cache in Redis', () => {
  const ns = uniqueNamespace('signed');
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL());
  });
  afterAll(async () => {
    const keys = await redis.keys(`${ns}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('accepts a command once across processes sharing Redis, and refuses the replay at the second', async () => {
    const signer = new CommandSigner('poller-1', ring, Date.now);
    const header = signer.sign('web-3', 'set-clock', { offsetMs: 5 });
    // Two receivers with the same id (e.g. an attendant and its restarted self) share the nonces.
    const first = new CommandVerifier({ receiver: 'web-3', keyring: ring, nonces: new RedisNonceCache(redis, ns), now: Date.now });
    const other = new Redis(REDIS_URL());
    const second = new CommandVerifier({ receiver: 'web-3', keyring: ring, nonces: new RedisNonceCache(other, ns), now: Date.now });
    expect(await first.verify(header, 'set-clock', { offsetMs: 5 })).toMatchObject({ ok: true });
    expect(await second.verify(header, 'set-clock', { offsetMs: 5 })).toMatchObject({ ok: false, reason: 'replayed' });
    other.disconnect();
    const nonce = /nonce=(\S+)/.exec(header)![1];
    const ttl = await redis.pttl(nonceKey(ns, 'web-3', 'poller-1', nonce));
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(61_000);
  });

  it('waits for a Redis that is away, then answers: an outage is trouble, never a refusal or an acceptance', async () => {
    const own = await new TestRedis(false).start();
    const client = createRedis(own.url, quiet, `${ns}.verifier`);
    const verifier = new CommandVerifier({ receiver: 'web-3', keyring: ring, nonces: new RedisNonceCache(client, ns), now: Date.now });
    const signer = new CommandSigner('poller-1', ring, Date.now);
    try {
      await client.connect();
      await own.stop(true);
      const header = signer.sign('web-3', 'set-clock', { offsetMs: 9 });
      let settled = false;
      const pending = verifier.verify(header, 'set-clock', { offsetMs: 9 }).finally(() => (settled = true));
      await new Promise((r) => setTimeout(r, 1000));
      expect(settled).toBe(false);
      await own.start();
      expect(await pending).toMatchObject({ ok: true });
      expect(await verifier.verify(header, 'set-clock', { offsetMs: 9 })).toMatchObject({ ok: false, reason: 'replayed' });
    } finally {
      client.disconnect();
      await own.destroy();
    }
  });
});
