import { failoverKeys } from '../libs/common/src/contracts/topology';
import { FailoverClient } from '../libs/common/src/failover/failover-client';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { FakeApp } from '../libs/common/src/testing/fake-app';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { failoverAttendantConfig, startFailoverClients, stopFailoverSuite } from './support/failover-farm';
import { TestRedis } from './support/redis-server';
import { TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

const IDS = ['r1', 'r2', 'r3'];

/**
 * Load-aware failover when Redis refuses the attendant's writes at the wrong moment (issue 12):
 * the farm runs on a redis-server of the suite's own, where the attendant of server a logs in as
 * a user the test can forbid HSET. a tells its clients to move and takes them off its list (HDEL
 * allowed) while storing them as deferred (HSET) is refused: it must still know them as
 * deferred, store them once Redis allows it, and, restarted from what it stored, invite them back.
 */
describe('load-aware failover: a Redis that refuses the deferred list loses no deferred client', () => {
  let store: TestRedis;
  let farm: TestFarm;
  const loads = { a: new FakeApp(), b: new FakeApp() };
  let a: AppProcess;
  let amqp: AmqpClient;
  let clients: FailoverClient[] = [];

  const deferredInMemory = async (): Promise<string[] | undefined> => (await farm.attendants.get('a')!.get<{ deferred?: string[] }>('/v1/load')).deferred;
  const deferredInRedis = async (): Promise<string[]> => Object.keys(await store.client().hgetall(failoverKeys(farm.ns).deferred('a'))).sort();
  const forbidHset = (forbid: boolean) => store.client().acl('SETUSER', 'att', forbid ? '-hset' : '+hset');

  beforeAll(async () => {
    store = await new TestRedis(false).start();
    await store.client().acl('SETUSER', 'att', 'on', '>att-pw', '~*', '&*', '+@all');
    farm = new TestFarm('failover-redis', { REDIS_URL: store.url });
    await Promise.all([loads.a.start(), loads.b.start()]);
    let b: AppProcess;
    [a, b] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    const config = (node: AppProcess, load: FakeApp) => failoverAttendantConfig(node, load, { setSize: 2, intervalMs: 300 });
    const asAtt = store.url.replace('redis://', 'redis://att:att-pw@');
    await Promise.all([farm.startAttendant('a', config(a, loads.a), { LOAD_INTERVAL_MS: '100', REDIS_URL: asAtt }), farm.startAttendant('b', config(b, loads.b), { LOAD_INTERVAL_MS: '100' })]);
    ({ amqp, clients } = await startFailoverClients(farm, a, 'a', IDS));
  }, 90_000);

  afterAll(async () => {
    await stopFailoverSuite({ clients, amqp, farm, loads: [loads.a, loads.b] });
    await store?.destroy();
  });

  it('keeps the clients it moved as deferred while HSET is refused, stores them once it is allowed, and invites them back after a restart', async () => {
    await waitFor('the clients registered at a', async () => (await store.client().hlen(failoverKeys(farm.ns).clients('a'))) === IDS.length, 15_000, 50);
    await waitFor('b publishes a load in accept', async () => (JSON.parse((await store.client().hget(`${farm.ns}:load`, 'b')) ?? '{}') as { zone?: string }).zone === 'accept', 15_000, 50);
    await forbidHset(true);
    loads.a.inFlight = 90;
    await waitFor('every client moved to b', () => clients.every((c) => c.current.id === 'b'), 15_000, 50);
    // Off a's list (HDEL is allowed), not yet stored as deferred (HSET is not), but known as deferred.
    await waitFor('a lists them as deferred', async () => JSON.stringify(await deferredInMemory()) === JSON.stringify(IDS), 5_000, 50);
    expect(await store.client().hlen(failoverKeys(farm.ns).clients('a'))).toBe(0);
    expect(await deferredInRedis()).toEqual([]);
    await new Promise((r) => setTimeout(r, 500)); // several samples: nobody is told twice
    expect(clients.map((c) => c.accepted.failover)).toEqual([1, 1, 1]);
    await forbidHset(false);
    await waitFor('the deferred list stored once Redis takes HSET', async () => JSON.stringify(await deferredInRedis()) === JSON.stringify(IDS), 15_000, 50);
    // A restarted attendant knows them from Redis alone, and invites them back.
    await farm.attendants.get('a')!.stop();
    await farm.startAttendant('a');
    await waitFor('the restarted attendant restored the deferred list', async () => JSON.stringify(await deferredInMemory()) === JSON.stringify(IDS), 10_000, 50);
    loads.a.inFlight = 10;
    await waitFor('every client invited back to a', () => clients.every((c) => c.current.id === 'a'), 20_000, 50);
    expect(clients.map((c) => c.accepted.invitation)).toEqual([1, 1, 1]);
    await waitFor('the deferred list emptied in Redis', async () => (await deferredInRedis()).length === 0, 10_000, 50);
  });
});
